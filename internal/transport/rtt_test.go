package transport

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// rawExec runs cmd on a session channel opened by hand, sending exec with
// or without want-reply, and returns the exit status once the channel
// has closed.
func rawExec(ch ssh.Channel, reqs <-chan *ssh.Request, cmd string, wantReply bool) (int, error) {
	ok, err := ch.SendRequest("exec", wantReply, ssh.Marshal(struct{ Command string }{cmd}))
	if err != nil {
		return -1, err
	}
	if wantReply && !ok {
		return -1, fmt.Errorf("exec refused")
	}
	go io.Copy(io.Discard, ch)
	go io.Copy(io.Discard, ch.Stderr())
	code := -1
	for r := range reqs {
		if r.Type == "exit-status" && len(r.Payload) >= 4 {
			code = int(binary.BigEndian.Uint32(r.Payload))
		}
		if r.WantReply {
			r.Reply(false, nil)
		}
		if r.Type == "exit-status" || r.Type == "exit-signal" {
			ch.Close()
		}
	}
	return code, nil
}

// BenchmarkRoundTrips measures, against a real sshd through a delay line
// of 20 ms each way, how many round trips a command costs on an open
// connection: with x/crypto's Session (exec with want-reply, after the
// channel open), with exec sent without want-reply, and on a session
// channel opened in advance. rtt/op is the time over the round trip.
func BenchmarkRoundTrips(b *testing.B) {
	const oneWay = 20 * time.Millisecond
	rtt := 2 * oneWay
	s := sshdtest.Start(b, sshdtest.Options{})
	addr := testkit.DelayProxy(b, s.Addr, oneWay)
	cfg := s.ClientConfig()
	cfg.HostKeyCallback = func(string, net.Addr, ssh.PublicKey) error { return nil } // the proxy's address is not in known_hosts
	cl, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	report := func(b *testing.B, d time.Duration) {
		b.ReportMetric(float64(d)/float64(rtt)/float64(b.N), "rtt/op")
		b.ReportMetric(float64(d.Milliseconds())/float64(b.N), "ms/op")
	}
	b.Run("dial", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			t0 := time.Now()
			c, err := ssh.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(t0)
			c.Close()
		}
		report(b, total)
	})
	b.Run("session", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			t0 := time.Now()
			se, err := cl.NewSession()
			if err != nil {
				b.Fatal(err)
			}
			if err := se.Run("true"); err != nil {
				b.Fatal(err)
			}
			total += time.Since(t0)
			se.Close()
		}
		report(b, total)
	})
	for _, wantReply := range []bool{true, false} {
		b.Run(fmt.Sprintf("open+exec/want-reply=%v", wantReply), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				t0 := time.Now()
				ch, reqs, err := cl.OpenChannel("session", nil)
				if err != nil {
					b.Fatal(err)
				}
				if code, err := rawExec(ch, reqs, "true", wantReply); err != nil || code != 0 {
					b.Fatalf("exit %d, %v", code, err)
				}
				total += time.Since(t0)
			}
			report(b, total)
		})
		b.Run(fmt.Sprintf("preopened/want-reply=%v", wantReply), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				ch, reqs, err := cl.OpenChannel("session", nil)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if code, err := rawExec(ch, reqs, "true", wantReply); err != nil || code != 0 {
					b.Fatalf("exit %d, %v", code, err)
				}
				total += time.Since(t0)
			}
			report(b, total)
		})
	}
}
