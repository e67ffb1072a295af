//go:build unix

package holder

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/testkit"
)

// BenchmarkWarmCommand runs a command through the holder on a held
// connection, through a delay line of 20 ms each way: the cost of a warm
// command in round trips (rtt/op), with the session channel opened in
// advance, against the holder's cold first command (dial included).
func BenchmarkWarmCommand(b *testing.B) {
	const oneWay = 20 * time.Millisecond
	l := newLab(b)
	addr := testkit.DelayProxy(b, l.srv.Addr(), oneWay)
	_, port, _ := net.SplitHostPort(addr)
	h := *l.target.Host
	h.HostKeyAlias = "benchhost"
	kh := filepath.Join(b.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{"benchhost"}, l.srv.HostKey())+"\n"), 0o600)
	h.UserKnownHostsFiles = []string{kh}
	h.Port, _ = strconv.Atoi(port)
	tg := Target{Host: &h}
	ln, lock, _, err := Listen(l.dir)
	if err != nil {
		b.Fatal(err)
	}
	defer lock.Close()
	s := &Server{Linger: time.Hour}
	go s.Serve(ln)
	defer s.Stop()
	c, err := Connect(context.Background(), Options{Dir: l.dir})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	once := func() time.Duration {
		t0 := time.Now()
		p, err := c.Start(context.Background(), tg, "true", nil, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		p.Stdin().Close()
		if e := p.Wait(); e.Code != 0 || e.Lost != "" {
			b.Fatalf("%+v", e)
		}
		return time.Since(t0)
	}
	cold := once()
	b.Logf("cold (dial + command): %v = %.1f rtt", cold, float64(cold)/float64(2*oneWay))
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		time.Sleep(5 * oneWay) // let the spare channel be replenished, as between runs
		total += once()
	}
	b.ReportMetric(float64(total)/float64(2*oneWay)/float64(b.N), "rtt/op")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/op")
}
