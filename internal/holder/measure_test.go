//go:build linux

package holder

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
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

// init makes the test binary, run as a holder by TestMeasureHolder with
// LOOM_MEASURE_PROFILE=DIR, write its memory profile to DIR on each
// SIGUSR1 (profile). LOOM_MEASURE_PROFILE_RATE=1 records every allocation
// in the heap profile rather than one per 512 KB (the profile's own memory
// then counts in the RSS: not for the RSS numbers).
func init() {
	dir := os.Getenv("LOOM_MEASURE_PROFILE")
	if dir == "" || len(os.Args) < 2 || os.Args[1] != ServeArg {
		return
	}
	if r, err := strconv.Atoi(os.Getenv("LOOM_MEASURE_PROFILE_RATE")); err == nil && r > 0 {
		runtime.MemProfileRate = r
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	go func() {
		for i := 0; ; i++ {
			<-sigs
			writeProfile(filepath.Join(dir, strconv.Itoa(i)))
		}
	}()
}

// memProfile is the holder's memory, as profile reads it.
type memProfile struct {
	Goroutines                      int
	HeapInuse, StackInuse, Sys, RSS uint64 // bytes
	OtherSys                        uint64 // MSpan, MCache, buckets, GC metadata, other
	HeapFree                        uint64 // freed heap kept, not returned to the system
	StackStart                      uint64 // a new goroutine's stack (the runtime's average)
}

// writeProfile writes, after a GC, the process's heap profile (heap.pprof),
// its goroutines by stack (goroutines.txt) and its memProfile
// (mem.json) to files named prefix.*, mem.json last.
func writeProfile(prefix string) {
	gcs, _ := strconv.Atoi(os.Getenv("LOOM_MEASURE_GCS"))
	for range max(gcs, 1) {
		runtime.GC()
	}
	if f, err := os.Create(prefix + ".heap.pprof"); err == nil {
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	if f, err := os.Create(prefix + ".goroutines.txt"); err == nil {
		pprof.Lookup("goroutine").WriteTo(f, 1)
		f.Close()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := memProfile{
		Goroutines: runtime.NumGoroutine(),
		HeapInuse:  ms.HeapInuse, StackInuse: ms.StackInuse, Sys: ms.Sys,
		OtherSys: ms.MSpanInuse + ms.MCacheInuse + ms.BuckHashSys + ms.GCSys + ms.OtherSys,
		HeapFree: ms.HeapIdle - ms.HeapReleased,
	}
	m := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	if metrics.Read(m); m[0].Value.Kind() == metrics.KindUint64 {
		p.StackStart = m[0].Value.Uint64()
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		p.RSS = uint64(statusKB(string(b), "VmRSS:")) << 10
	}
	os.WriteFile(prefix+".tmp", mustJSON(p), 0o600)
	os.Rename(prefix+".tmp", prefix+".mem.json")
}

// profile has the holder write its memProfile (writeProfile) and returns
// it: the i-th call of a test (0, 1, ...).
func profile(t *testing.T, pid int, dir string, i int) memProfile {
	syscall.Kill(pid, syscall.SIGUSR1)
	name := filepath.Join(dir, strconv.Itoa(i)+".mem.json")
	for deadline := time.Now().Add(2 * time.Minute); ; {
		b, err := os.ReadFile(name)
		if err == nil {
			var p memProfile
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder wrote no profile %s", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

// TestMeasureFloorChild is the x/crypto floor of TestMeasureHolder, in a
// process of its own: LOOM_MEASURE_FLOOR="PORT KEYFILE N" dials N bare
// x/crypto client connections to the server on PORT (no Loom code), then
// opens a session channel on each (as the holder's spare), and prints
// the memory per connection of each step, after GCs.
func TestMeasureFloorChild(t *testing.T) {
	f := strings.Fields(os.Getenv("LOOM_MEASURE_FLOOR"))
	if len(f) != 3 {
		t.Skip("a child of TestMeasureHolder")
	}
	pemBytes, _ := os.ReadFile(f[1])
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(f[2])
	snap := func() memProfile {
		debug.FreeOSMemory() // as the idle holder does: RSS is what is in use
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b, _ := os.ReadFile("/proc/self/status")
		return memProfile{Goroutines: runtime.NumGoroutine(), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, RSS: uint64(statusKB(string(b), "VmRSS:")) << 10}
	}
	cfg := &ssh.ClientConfig{User: "loom", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	p0 := snap()
	clients := make([]*ssh.Client, n)
	for i := range clients {
		if clients[i], err = ssh.Dial("tcp", "127.0.0.1:"+f[0], cfg); err != nil {
			t.Fatal(err)
		}
	}
	p1 := snap()
	sessions := make([]*ssh.Session, n)
	for i, c := range clients {
		if sessions[i], err = c.NewSession(); err != nil {
			t.Fatal(err)
		}
	}
	p2 := snap()
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / 1024 / float64(n) }
	line := func(what string, a, b memProfile) string {
		return fmt.Sprintf("%s: RSS %.1f KB = Go heap in use %.1f KB + goroutine stacks %.1f KB + the rest; %.2f goroutines",
			what, per(a.RSS, b.RSS), per(a.HeapInuse, b.HeapInuse), per(a.StackInuse, b.StackInuse), float64(b.Goroutines-a.Goroutines)/float64(n))
	}
	fmt.Printf("%s\n%s\n", line("bare x/crypto connection", p0, p1), line("+ its session channel", p1, p2))
	runtime.KeepAlive(sessions)
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

	// The floor: what x/crypto alone takes for a held connection and its
	// spare, in a process that ends before the holder dials.
	floor := exec.Command(os.Args[0], "-test.run=^TestMeasureFloorChild$", "-test.timeout=2h")
	floor.Env = append(os.Environ(), fmt.Sprintf("LOOM_MEASURE_FLOOR=%d %s %d", port, key, n))
	floor.Stderr = os.Stderr
	out, err := floor.Output()
	if err != nil {
		t.Fatalf("floor: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "KB") {
			t.Log("floor, " + l)
		}
	}
	cfg, _ := sshconfig.Load("")
	base, err := cfg.Resolve("127.0.0.1", sshconfig.Options{IdentityFiles: []string{key}, Set: []string{"UserKnownHostsFile=" + kh, "IdentitiesOnly=yes", "IdentityAgent=none", "BatchMode=yes", "HostKeyAlias=measurehost", "Port=" + f[0]}})
	if err != nil {
		t.Fatal(err)
	}
	targets := make([]Target, n)
	for i := range targets {
		h := *base
		h.Alias = fmt.Sprintf("m%d", i) // a connection of its own each
		targets[i] = Target{Host: &h, Persist: time.Hour, Settings: Settings{MaxSessions: 8}}
	}

	dir := filepath.Join(tmp, "holder")
	PrepareDir(dir)
	hold := exec.Command(os.Args[0], ServeArg, dir)
	profDir := os.Getenv("LOOM_MEASURE_PROFILE_DIR") // kept, for go tool pprof
	if profDir == "" {
		profDir = t.TempDir()
	}
	hold.Env = append(os.Environ(), "LOOM_MEASURE_PROFILE="+profDir)
	logName := filepath.Join(tmp, "holder.log")
	logf, _ := os.Create(logName)
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
	p0 := profile(t, pid, profDir, 0)

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
	t.Logf("%d held connections: holder RSS %d KB -> %d KB: %.1f KB per idle held connection (with its spare session channel), %v after the last command; cold run %v", n, rss0, rss1, float64(rss1-rss0)/float64(n), 3*time.Second, cold)
	// The holder gives its free memory back once idle for releaseAfter.
	for deadline := time.Now().Add(releaseAfter + 2*time.Minute); ; {
		b, _ := os.ReadFile(logName)
		if i := strings.Index(string(b), "idle for "); i >= 0 && strings.Contains(string(b[i:]), "returned to the system") {
			t.Log("holder: " + strings.SplitN(string(b[i:]), "\n", 2)[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder did not return its free memory: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss2 := rssKB(t, pid)
	t.Logf("idle for %v: holder RSS %d KB: %.1f KB per idle held connection", releaseAfter, rss2, float64(rss2-rss0)/float64(n))
	p1 := profile(t, pid, profDir, 1)
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / 1024 / float64(n) }
	t.Logf("per idle held connection, after a GC: RSS %.1f KB = Go heap in use %.1f KB + goroutine stacks %.1f KB + runtime metadata %.1f KB + free heap kept %.1f KB + the rest %.1f KB; %.2f goroutines",
		per(p0.RSS, p1.RSS), per(p0.HeapInuse, p1.HeapInuse), per(p0.StackInuse, p1.StackInuse), per(p0.OtherSys, p1.OtherSys), per(p0.HeapFree, p1.HeapFree),
		per(p0.RSS, p1.RSS)-per(p0.HeapInuse, p1.HeapInuse)-per(p0.StackInuse, p1.StackInuse)-per(p0.OtherSys, p1.OtherSys)-per(p0.HeapFree, p1.HeapFree),
		float64(p1.Goroutines-p0.Goroutines)/float64(n))
	t.Logf("a new goroutine's stack: %d bytes", p1.StackStart)

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
	return statusKB(string(b), "VmRSS:")
}

// statusKB reads a field of /proc/PID/status, in KB.
func statusKB(status, field string) int {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, field) {
			v, _ := strconv.Atoi(strings.Fields(l)[1])
			return v
		}
	}
	return 0
}
