//go:build linux

package holder

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/transport"
	"github.com/loomssh/loom/loomtest"
)

// TestMeasureServeChild is the SSH server of TestMeasureHolder, in a
// process of its own so that its CPU is not the client's.
func TestMeasureServeChild(t *testing.T) {
	keyFile := os.Getenv("LOOM_MEASURE_CHILD")
	if keyFile == "" {
		t.Skip("a child of TestMeasureHolder")
	}
	pemBytes, _ := os.ReadFile(keyFile)
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	srv := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, Logf: func(string, ...any) {}})
	fmt.Printf("%d %s\n", srv.Port(), ssh.MarshalAuthorizedKey(srv.HostKey()))
	io.Copy(io.Discard, os.Stdin) // until the parent ends
}

// TestMeasureHolder measures, with LOOM_MEASURE_HOSTS=N (say 1000): the
// holder process's memory per idle held connection (its RSS), and the
// client CPU per host of a command through the holder against a direct
// connection (BENCHMARKS.md). The server is another process.
func TestMeasureHolder(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LOOM_MEASURE_HOSTS"))
	if n == 0 {
		t.Skip("LOOM_MEASURE_HOSTS=N measures the holder on N held connections")
	}
	tmp := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(tmp, "id")
	os.WriteFile(key, pemEncode(block), 0o600)

	srvCmd := exec.Command(os.Args[0], "-test.run=^TestMeasureServeChild$", "-test.timeout=2h")
	srvCmd.Env = append(os.Environ(), "LOOM_MEASURE_CHILD="+key)
	srvIn, _ := srvCmd.StdinPipe()
	srvOut, _ := srvCmd.StdoutPipe()
	srvCmd.Stderr = os.Stderr
	if err := srvCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvIn.Close(); srvCmd.Wait() })
	line, err := bufio.NewReader(srvOut).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line)
	port, _ := strconv.Atoi(f[0])
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(f[1:], " ")))
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(tmp, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{"measurehost"}, hk)+"\n"), 0o600)
	cfg, _ := sshconfig.Load("")
	base, err := cfg.Resolve("127.0.0.1", sshconfig.Options{IdentityFiles: []string{key}, Set: []string{"UserKnownHostsFile=" + kh, "IdentitiesOnly=yes", "IdentityAgent=none", "BatchMode=yes", "HostKeyAlias=measurehost", "Port=" + f[0]}})
	if err != nil {
		t.Fatal(err)
	}
	_ = port
	targets := make([]Target, n)
	for i := range targets {
		h := *base
		h.Alias = fmt.Sprintf("m%d", i) // a connection of its own each
		targets[i] = Target{Host: &h, Persist: time.Hour, Settings: Settings{MaxSessions: 8}}
	}

	dir := filepath.Join(tmp, "holder")
	PrepareDir(dir)
	hold := exec.Command(os.Args[0], ServeArg, dir)
	logf, _ := os.Create(filepath.Join(tmp, "holder.log"))
	hold.Stdout, hold.Stderr = logf, logf
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Process.Kill(); hold.Wait() })
	var c *Client
	for deadline := time.Now().Add(time.Minute); ; {
		if c, err = Connect(context.Background(), Options{Dir: dir}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	pid := hold.Process.Pid
	settle := func() { time.Sleep(3 * time.Second) } // spares replenished, GC run: a measurement, not a test
	settle()
	rss0 := rssKB(t, pid)

	parallel := func(f func(i int)) time.Duration {
		t0 := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 100)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() { defer wg.Done(); defer func() { <-sem }(); f(i) }()
		}
		wg.Wait()
		return time.Since(t0)
	}
	held := func(i int) {
		p, err := c.Start(context.Background(), targets[i], "true", nil, io.Discard, io.Discard)
		if err != nil {
			t.Errorf("%d: %v", i, err)
			return
		}
		p.Stdin().Close()
		if e := p.Wait(); e.Code != 0 || e.Lost != "" {
			t.Errorf("%d: %+v", i, e)
		}
	}
	cold := parallel(held)
	settle()
	rss1 := rssKB(t, pid)
	t.Logf("%d held connections: holder RSS %d KB -> %d KB: %.1f KB per idle held connection (with its spare session channel); cold run %v", n, rss0, rss1, float64(rss1-rss0)/float64(n), cold)

	u0, h0 := selfCPU(), procCPU(t, pid)
	wall := parallel(held)
	u1, h1 := selfCPU(), procCPU(t, pid)
	t.Logf("warm through the holder: %v wall; client CPU %.3f ms/host, holder CPU %.3f ms/host", wall, ms(u1-u0)/float64(n), ms(h1-h0)/float64(n))

	d := &transport.Dialer{MaxSessions: 8}
	defer d.Close()
	clients := make([]*transport.Client, n)
	u0 = selfCPU()
	wall = parallel(func(i int) {
		tc, err := d.Dial(context.Background(), targets[i].Host)
		if err != nil {
			t.Errorf("%d: %v", i, err)
			return
		}
		clients[i] = tc
		directRun(t, tc)
	})
	u1 = selfCPU()
	t.Logf("direct (login + command): %v wall; client CPU %.3f ms/host", wall, ms(u1-u0)/float64(n))
	u0 = selfCPU()
	wall = parallel(func(i int) {
		if clients[i] != nil {
			directRun(t, clients[i])
		}
	})
	u1 = selfCPU()
	t.Logf("direct, command only on an open connection: %v wall; client CPU %.3f ms/host", wall, ms(u1-u0)/float64(n))
	for _, tc := range clients {
		if tc != nil {
			tc.Close()
		}
	}
}

func directRun(t *testing.T, tc *transport.Client) {
	s, release, err := tc.NewSession(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	defer release()
	defer s.Close()
	if err := s.Run("true"); err != nil {
		t.Error(err)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is pid's user+system CPU, from /proc.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

func rssKB(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.Atoi(strings.Fields(l)[1])
			return v
		}
	}
	return 0
}
