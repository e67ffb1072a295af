package loom_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// BenchmarkPut uploads a 32 MB file to a real sshd on loopback:
//
//	go test -run '^$' -bench BenchmarkPut -benchtime 10x .
func BenchmarkPut(b *testing.B) {
	s, c, _ := sshdConn(b)
	src := bigFile(b, 32<<20)
	dst := filepath.Join(s.Home, "loom-bench-put")
	defer os.Remove(dst)
	b.SetBytes(32 << 20)
	b.ResetTimer()
	for b.Loop() {
		if tr := c.Put(src, dst); tr.Err != nil {
			b.Fatal(tr.Err)
		}
	}
}

// BenchmarkGet downloads a 32 MB file from a real sshd on loopback.
func BenchmarkGet(b *testing.B) {
	s, c, _ := sshdConn(b)
	src := bigFile(b, 32<<20)
	remote := filepath.Join(s.Home, "loom-bench-get")
	if tr := c.Put(src, remote); tr.Err != nil {
		b.Fatal(tr.Err)
	}
	defer os.Remove(remote)
	dst := filepath.Join(b.TempDir(), "got")
	b.SetBytes(32 << 20)
	b.ResetTimer()
	for b.Loop() {
		if tr := c.Get(remote, dst); tr.Err != nil {
			b.Fatal(tr.Err)
		}
	}
}

// sshdConn starts a real sshd and returns it, a connection to it (closed
// when the test ends) and the ssh_config naming it "target".
func sshdConn(tb testing.TB) (*sshdtest.Server, *loom.Conn, string) {
	tb.Helper()
	s := sshdtest.Start(tb, sshdtest.Options{})
	cfg := filepath.Join(tb.TempDir(), "ssh_config")
	s.WriteSSHConfig(cfg, "target")
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	tb.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), "target")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return s, c, cfg
}

func bigFile(tb testing.TB, n int) string {
	tb.Helper()
	buf := make([]byte, n)
	rand.Read(buf)
	name := filepath.Join(tb.TempDir(), "big")
	if err := os.WriteFile(name, buf, 0o644); err != nil {
		tb.Fatal(err)
	}
	return name
}

// TestPutSpeedVsScp puts (and gets) 100 MB with Loom and with OpenSSH's scp (which
// speaks SFTP since OpenSSH 9) to the same sshd and logs both times. It
// asserts nothing about them: timings on a shared machine are not a test.
//
//	LOOM_SPEED=1 go test -run TestPutSpeedVsScp -v .
func TestPutSpeedVsScp(t *testing.T) {
	if os.Getenv("LOOM_SPEED") == "" {
		t.Skip("set LOOM_SPEED=1 to compare Put with scp")
	}
	scp, err := exec.LookPath("scp")
	if err != nil {
		t.Skip("scp not installed")
	}
	s, c, cfg := sshdConn(t)
	src := bigFile(t, 100<<20)
	dst := filepath.Join(s.Home, "loom-speed")
	defer os.Remove(dst)
	c.Run("true") // the connection is up; time the transfer only
	var loomBest, scpBest time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		if tr := c.Put(src, dst); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		loomBest = minNonZero(loomBest, time.Since(start))
		start = time.Now()
		// scp includes its own connection setup
		if out, err := exec.Command(scp, "-q", "-F", cfg, src, "target:"+dst).CombinedOutput(); err != nil {
			t.Fatalf("scp: %v: %s", err, out)
		}
		scpBest = minNonZero(scpBest, time.Since(start))
	}
	back := filepath.Join(t.TempDir(), "back")
	var getBest, scpGetBest time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		if tr := c.Get(dst, back); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		getBest = minNonZero(getBest, time.Since(start))
		start = time.Now()
		if out, err := exec.Command(scp, "-q", "-F", cfg, "target:"+dst, back).CombinedOutput(); err != nil {
			t.Fatalf("scp: %v: %s", err, out)
		}
		scpGetBest = minNonZero(scpGetBest, time.Since(start))
	}
	// 1,000 small files in 60 directories
	treeSrc := filepath.Join(t.TempDir(), "tree")
	for i := 0; i < 1000; i++ {
		p := filepath.Join(treeSrc, fmt.Sprintf("d%02d/sub%d/f%04d.txt", i%20, i%3, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(fmt.Sprintf("file %d\n", i)), 0o644)
	}
	var treeBest, scpTreeBest time.Duration
	for i := 0; i < 3; i++ {
		os.RemoveAll(filepath.Join(s.Home, "loom-speed-tree"))
		start := time.Now()
		if tr := c.Put(treeSrc, filepath.Join(s.Home, "loom-speed-tree")); tr.Err != nil {
			t.Fatal(tr.Err)
		}
		treeBest = minNonZero(treeBest, time.Since(start))
		os.RemoveAll(filepath.Join(s.Home, "loom-speed-tree"))
		start = time.Now()
		if out, err := exec.Command(scp, "-q", "-r", "-F", cfg, treeSrc, "target:"+filepath.Join(s.Home, "loom-speed-tree")).CombinedOutput(); err != nil {
			t.Fatalf("scp -r: %v: %s", err, out)
		}
		scpTreeBest = minNonZero(scpTreeBest, time.Since(start))
	}
	os.RemoveAll(filepath.Join(s.Home, "loom-speed-tree"))
	t.Logf("1,000 files, best of 3: loom Put %v, scp -r %v, ratio %.2f",
		treeBest.Round(time.Millisecond), scpTreeBest.Round(time.Millisecond), treeBest.Seconds()/scpTreeBest.Seconds())
	mbps := func(d time.Duration) float64 { return 100 * 1.048576 / d.Seconds() }
	t.Logf("100 MB, best of 3: loom Get %v (%.0f MB/s), scp %v (%.0f MB/s), ratio %.2f",
		getBest.Round(time.Millisecond), mbps(getBest), scpGetBest.Round(time.Millisecond), mbps(scpGetBest), getBest.Seconds()/scpGetBest.Seconds())
	t.Logf("100 MB, best of 3: loom Put %v (%.0f MB/s), scp %v (%.0f MB/s), ratio %.2f",
		loomBest.Round(time.Millisecond), mbps(loomBest), scpBest.Round(time.Millisecond), mbps(scpBest), loomBest.Seconds()/scpBest.Seconds())
}

func minNonZero(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}
