package testkit

import (
	"net"
	"testing"
	"time"
)

// DelayProxy listens on loopback and forwards every connection to target,
// holding each chunk of bytes for oneWay in each direction (a round trip
// costs 2×oneWay), as bench/delayproxy does: a delay line, not a
// stop-and-wait. It returns the address to connect to; the listener closes
// with the test.
func DelayProxy(t testing.TB, target string, oneWay time.Duration) string {
	t.Helper()
	return Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() { delayCopy(up, c, oneWay); close(done) }()
		delayCopy(c, up, oneWay)
		<-done
	})
}

type chunk struct {
	b  []byte
	at time.Time
}

// delayCopy copies src to dst, each chunk oneWay after it was read, and
// half-closes dst when src ends (or dst fails).
func delayCopy(dst, src net.Conn, oneWay time.Duration) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range q {
		if failed {
			continue // drain, so the reader ends
		}
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			src.Close()
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
