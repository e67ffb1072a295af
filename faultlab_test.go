//go:build unix

package loom_test

// The fault lab: one Group run over ~200 hosts, most of them healthy and the
// rest broken in every way a network or a host can be broken, to check that
// each host ends up with the right reason, that the healthy ones lose
// nothing, that the run ends within its timeouts, that one host printing a
// gigabyte does not cost a gigabyte of memory, and that nothing is left
// running afterwards.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/loomtest"
)

// raiseNoFile raises the soft limit on open files to at least n (as far as
// the hard limit allows): hundreds of hosts need a few descriptors each.
func raiseNoFile(t testing.TB, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Logf("getrlimit: %v", err)
		return
	}
	if rl.Cur >= n {
		return
	}
	want := rl
	want.Cur = min(n, rl.Max)
	if rl.Max < n && os.Geteuid() == 0 {
		want.Cur, want.Max = n, n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		t.Logf("setrlimit %d: %v", n, err)
	}
}

// haveSSHD reports whether OpenSSH's sshd is installed (sshdtest.Start
// would skip the whole test otherwise).
func haveSSHD() bool {
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return true
	}
	_, err := exec.LookPath("sshd")
	return err == nil
}

// droppingListener closes accepted connections at once, like sshd's
// MaxStartups: the first n of them, or all of them when n < 0.
type droppingListener struct {
	net.Listener
	left    atomic.Int64
	all     bool
	dropped atomic.Int64
}

func (l *droppingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.all || l.left.Add(-1) >= 0 {
			l.dropped.Add(1)
			c.Close()
			continue
		}
		return c, nil
	}
}

// countingWriter counts bytes, safely from any goroutine.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// waitGoroutines waits until at most limit goroutines run, and returns how
// many there are.
func waitGoroutines(limit int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seqOutput is what `seq 1 n` prints.
func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// lab is what the fault lab's kinds share while they set up, work and are
// checked.
type lab struct {
	t       *testing.T
	signer  ssh.Signer
	servers []*loomtest.Server
	kh      strings.Builder

	droppers    []*droppingListener
	sshdSigners []ssh.Signer
	huge        countingWriter
	hugeResult  *loom.Result

	mu      sync.Mutex
	outputs map[string][]string // what each host printed, command by command
}

// server starts an in-process host with o and the lab's client key.
func (l *lab) server(o loomtest.Options) *loomtest.Server {
	o.AuthorizedKeys = []ssh.PublicKey{l.signer.PublicKey()}
	s, err := loomtest.Start(o)
	if err != nil {
		l.t.Fatal(err)
	}
	l.servers = append(l.servers, s)
	return s
}

// trust writes addr's key into the lab's known_hosts.
func (l *lab) trust(addr string, key ssh.PublicKey) {
	l.kh.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n")
}

// trusted starts a trusted in-process host with o and returns its address.
func (l *lab) trusted(o loomtest.Options) string {
	s := l.server(o)
	l.trust(s.Addr(), s.HostKey())
	return s.Addr()
}

// keep records what a host's command printed.
func (l *lab) keep(c *loom.Conn, out string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outputs[c.Host()] = append(l.outputs[c.Host()], out)
}

// Fault lab timings.
const (
	labConnectTimeout = 2 * time.Second
	labHSTimeout      = 2 * labConnectTimeout // Dialer: the handshake gets twice as long
	labAnswerTimeout  = 20 * time.Second      // ssh_config ConnectTimeout of the hosts that answer
	labSlowTimeout    = 2 * time.Second       // command timeout of the SlowOutput hosts
	labCmdTimeout     = 20 * time.Second      // every other command
	labHugeTimeout    = 300 * time.Second     // the gigabyte host (~10s unloaded, under -race; 593 MB in 2 min at load 49)
	labStopGrace      = 2 * time.Second       // from the signal to giving the command up
	labHugeSize       = 1 << 30
	labHealthyLines   = 5000
)

// labKind is one kind of host in the fault lab: how many, how each is set
// up, what it runs, what reason it must end with, and what else is checked.
type labKind struct {
	name string
	n    int
	want string // the HostResult.Reason expected
	// hangs marks hosts that never answer: they keep the Dialer's short
	// connect timeout, where the others get labAnswerTimeout (so that a
	// loaded machine never makes a healthy host look hung).
	hangs bool
	// bound, if set, is how long a host of the kind may take at most,
	// from its timeouts (slack is added).
	bound time.Duration
	// setup starts one host and returns its name (user@addr or addr);
	// nil: a trusted in-process host.
	setup func(l *lab) string
	// work is what the host runs; nil: seq and a line on stderr, kept.
	work func(l *lab, c *loom.Conn)
	// check, if set, checks the host's result beyond its reason.
	check func(t *testing.T, l *lab, r *loom.HostResult)
}

// labKinds are the hosts of the fault lab.
func labKinds() []labKind {
	fault := func(f loomtest.Fault) func(*lab) string {
		return func(l *lab) string { return l.trusted(loomtest.Options{Fault: f}) }
	}
	dropping := func(all bool) func(*lab) string {
		return func(l *lab) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				l.t.Fatal(err)
			}
			dl := &droppingListener{Listener: ln, all: all}
			dl.left.Store(2)
			l.droppers = append(l.droppers, dl)
			return l.trusted(loomtest.Options{Listener: dl})
		}
	}
	healthyOutput := func(t *testing.T, l *lab, r *loom.HostResult) {
		want := seqOutput(labHealthyLines)
		if got := l.outputs[r.Host]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: output lost: got %d outputs, first %d bytes, want %d bytes", r.Host, len(got), len(strings.Join(got, "")), len(want))
		}
		if r.Result == nil || r.Result.Stderr != "done\n" || r.Result.Truncated {
			t.Errorf("%s: result %+v", r.Host, r.Result)
		}
	}
	kinds := []labKind{
		{name: "healthy", n: 150, want: "ok", check: healthyOutput},
		{name: "refused", n: 5, want: "unreachable", bound: labConnectTimeout,
			setup: func(l *lab) string { return refusedAddr(l.t) }},
		{name: "no banner", n: 4, want: "connect timeout", hangs: true, bound: labHSTimeout, setup: fault(loomtest.HangBeforeBanner)},
		{name: "stalled handshake", n: 4, want: "connect timeout", hangs: true, bound: labHSTimeout, setup: fault(loomtest.HangInHandshake)},
		{name: "auth rejected", n: 4, want: "authentication", setup: fault(loomtest.RejectAuth)},
		{name: "host key changed", n: 4, want: "host key", setup: func(l *lab) string {
			s := l.server(loomtest.Options{})
			other, _ := ssh.NewSignerFromKey(mustEd25519(l.t))
			l.trust(s.Addr(), other.PublicKey())
			return s.Addr()
		}},
		{name: "dropped mid-command", n: 4, want: "connection lost", setup: fault(loomtest.DropMidCommand),
			work: func(_ *lab, c *loom.Conn) { c.Shell("echo first; sleep 30; echo never") }},
		{name: "a byte a second", n: 4, want: "command timeout", setup: fault(loomtest.SlowOutput),
			bound: labAnswerTimeout + labSlowTimeout + labStopGrace,
			work:  func(_ *lab, c *loom.Conn) { c.Timeout(labSlowTimeout).Run("seq", "1", "100") }},
		{name: "no exit status", n: 4, want: "no exit status", setup: fault(loomtest.NoExitStatus),
			work: func(_ *lab, c *loom.Conn) { c.Run("echo", "hi") }},
		{name: "MaxSessions 1, short commands", n: 4, want: "ok",
			setup: func(l *lab) string { return l.trusted(loomtest.Options{MaxSessions: 1}) },
			work: func(l *lab, c *loom.Conn) {
				var wg sync.WaitGroup
				for i := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l.keep(c, c.Shell(fmt.Sprintf("sleep 0.1; echo %d", i)).Stdout)
					}()
				}
				wg.Wait()
			},
			check: func(t *testing.T, l *lab, r *loom.HostResult) {
				got := append([]string(nil), l.outputs[r.Host]...)
				sort.Strings(got)
				if strings.Join(got, "") != "0\n1\n2\n3\n" {
					t.Errorf("%s: outputs %q, want the four commands' output", r.Host, got)
				}
			}},
		{name: "MaxSessions 1, session held", n: 2, want: "session refused",
			setup: func(l *lab) string { return l.trusted(loomtest.Options{MaxSessions: 1}) },
			work: func(_ *lab, c *loom.Conn) {
				// One command holds the only session until a second one has
				// given up on getting another (Loom retries ~5s).
				ctx, cancel := context.WithCancel(context.Background())
				held := make(chan struct{})
				started := &signalWriter{ch: make(chan struct{})}
				go func() {
					defer close(held)
					c.WithContext(ctx).Stream(started, nil).Shell("echo holding; exec sleep 60")
				}()
				select { // the session is taken: its command has printed
				case <-started.ch:
				case <-held:
				}
				c.Run("echo", "starved")
				cancel()
				<-held
			}},
		{name: "gigabyte", n: 1, want: "ok", bound: labAnswerTimeout + labHugeTimeout + labStopGrace,
			work: func(l *lab, c *loom.Conn) {
				l.hugeResult = c.Timeout(labHugeTimeout).Shell("head -c " + strconv.Itoa(labHugeSize) + " /dev/zero")
			},
			check: func(t *testing.T, l *lab, r *loom.HostResult) {
				// Streamed whole, kept up to MaxOutput.
				res := l.hugeResult
				if res == nil || len(res.Stdout) != loom.DefaultMaxOutput || !res.Truncated || l.huge.n.Load() != labHugeSize {
					var kept int
					if res != nil {
						kept = len(res.Stdout)
					}
					t.Errorf("gigabyte: kept %d bytes, streamed %d; want %d kept, %d streamed", kept, l.huge.n.Load(), loom.DefaultMaxOutput, labHugeSize)
				}
			}},
		{name: "first handshakes dropped", n: 3, want: "ok", setup: dropping(false), check: healthyOutput},
		{name: "every handshake dropped", n: 2, want: "ssh handshake", setup: dropping(true)},
	}
	if haveSSHD() {
		kinds = append(kinds, labKind{name: "real sshd", n: 2, want: "ok", check: healthyOutput,
			setup: func(l *lab) string {
				s := sshdtest.Start(l.t, sshdtest.Options{})
				l.trust(s.Addr, s.HostKey)
				l.sshdSigners = append(l.sshdSigners, s.ClientSigner)
				return s.User + "@" + s.Addr
			}})
	}
	return kinds
}

func TestFaultLab(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault lab runs ~200 hosts and a gigabyte of output")
	}
	raiseNoFile(t, 8192)
	goroutinesBefore := runtime.NumGoroutine()
	signer, _ := ssh.NewSignerFromKey(mustEd25519(t))
	l := &lab{t: t, signer: signer, outputs: map[string][]string{}}
	t.Cleanup(func() {
		for _, s := range l.servers {
			s.Close()
		}
	})
	kinds := labKinds()
	if !haveSSHD() {
		t.Log("no sshd installed: the fault lab runs without real sshd hosts")
	}

	// Set up every host, with an ssh_config alias each.
	var hosts []loom.Host
	var cfg strings.Builder
	kindOf := map[string]*labKind{}
	for ki := range kinds {
		k := &kinds[ki]
		for range k.n {
			var name string
			if k.setup != nil {
				name = k.setup(l)
			} else {
				name = l.trusted(loomtest.Options{})
			}
			user, addr, _ := strings.Cut(name, "@")
			if addr == "" {
				user, addr = "", name
			}
			host, port, _ := net.SplitHostPort(addr)
			alias := fmt.Sprintf("%s-%03d", strings.NewReplacer(" ", "-", ",", "").Replace(k.name), len(hosts))
			fmt.Fprintf(&cfg, "Host %s\n  HostName %s\n  Port %s\n", alias, host, port)
			if user != "" {
				fmt.Fprintf(&cfg, "  User %s\n", user)
			}
			if !k.hangs {
				fmt.Fprintf(&cfg, "  ConnectTimeout %d\n", int(labAnswerTimeout/time.Second))
			}
			hosts = append(hosts, loom.Host{Name: alias})
			kindOf[alias] = k
		}
	}
	dir := t.TempDir()
	khPath := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(khPath, []byte(l.kh.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "ssh_config")
	fmt.Fprintf(&cfg, "Host *\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n", khPath)
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var warnings strings.Builder
	d := &loom.Dialer{
		ConfigFile:     cfgPath,
		Signers:        append([]ssh.Signer{signer}, l.sshdSigners...),
		AgentSocket:    "/nonexistent",
		ConnectTimeout: labConnectTimeout,
		Stderr:         &warnings,
	}
	g := &loom.Group{
		Dialer:   d,
		Hosts:    hosts,
		Parallel: len(hosts),
		Output: func(h loom.Host) (io.Writer, io.Writer) {
			if kindOf[h.Name].name == "gigabyte" {
				return &l.huge, nil
			}
			return nil, nil
		},
	}
	work := func(c *loom.Conn) error {
		c = c.Timeout(labCmdTimeout)
		if w := kindOf[c.Host()].work; w != nil {
			w(l, c)
		} else {
			l.keep(c, c.Shell(fmt.Sprintf("seq 1 %d; echo done >&2", labHealthyLines)).Stdout)
		}
		return c.Err()
	}

	heapBefore, heapPeak, stopSampling := sampleHeap()
	began := time.Now()
	rs := g.Each(context.Background(), work)
	elapsed := time.Since(began)
	stopSampling()

	// The bound, from the configured timeouts. Every host runs at once
	// (Parallel = hosts), so the run takes as long as its slowest host:
	//   connect: at worst a whole handshake timeout, or, for handshakes
	//     the server drops, 6 attempts and 5 backoffs of at most 1.5x
	//     100ms, 200ms, 400ms, 800ms, 1.6s (the hosts that answer have
	//     labAnswerTimeout for their handshake, the hanging ones
	//     labHSTimeout);
	//   command: its timeout, then the stop.
	// slack covers a loaded 2-core machine under -race.
	const slack = 15 * time.Second
	dropBackoff := time.Duration(1.5 * float64(100+200+400+800+1600) * float64(time.Millisecond))
	connectBound := max(labAnswerTimeout, dropBackoff+6*labAnswerTimeout/4)
	runBound := connectBound + labHugeTimeout + labStopGrace + slack
	t.Logf("%d hosts in %v (bound %v); peak heap in use %d MiB above the %d MiB before",
		len(hosts), elapsed.Round(time.Millisecond), runBound, (heapPeak()-heapBefore)>>20, heapBefore>>20)
	if elapsed > runBound {
		t.Errorf("the run took %v, more than its bound %v", elapsed, runBound)
	}

	// Every host: its reason, its time, and its kind's own checks.
	byKind := map[string]map[string]int{}
	slowest := map[string]time.Duration{}
	for _, r := range rs.Hosts {
		k := kindOf[r.Host]
		slowest[k.name] = max(slowest[k.name], r.Duration)
		reason := r.Reason()
		if byKind[k.name] == nil {
			byKind[k.name] = map[string]int{}
		}
		byKind[k.name][reason]++
		if reason != k.want {
			t.Errorf("%s (%s): reason %q, want %q; err: %v", r.Host, k.name, reason, k.want, r.Err)
		}
		if k.bound > 0 && r.Duration > k.bound+slack {
			t.Errorf("%s (%s): took %v, more than its timeouts allow (%v)", r.Host, k.name, r.Duration, k.bound)
		}
		if k.check != nil {
			k.check(t, l, r)
		}
	}
	for _, k := range kinds {
		t.Logf("%-30s %3d hosts, slowest %6.2fs: %v", k.name, k.n, slowest[k.name].Seconds(), byKind[k.name])
	}
	for _, dl := range l.droppers {
		if dl.dropped.Load() < 2 {
			t.Errorf("a dropping listener dropped only %d connections", dl.dropped.Load())
		}
	}
	// A gigabyte was printed: memory grew by the capture's cap, not by it.
	if grew := heapPeak() - heapBefore; grew > 200<<20 {
		t.Errorf("heap in use grew by %d MiB during the run (a gigabyte was printed; the cap is %d MiB per stream)", grew>>20, loom.DefaultMaxOutput>>20)
	}
	l.hugeResult = nil

	// Nothing left behind once the Dialer and the servers are closed.
	d.Close()
	for _, s := range l.servers {
		if err := s.Close(); err != nil {
			t.Errorf("closing %s: %v", s.Addr(), err)
		}
	}
	// sshdtest servers run until cleanup: their accept loops (one each)
	// and the thread that starts sshd processes are allowed for.
	limit := goroutinesBefore + len(l.sshdSigners) + 3
	n := waitGoroutines(limit, 15*time.Second)
	t.Logf("goroutines: %d before the servers started, %d after everything was closed (limit %d)", goroutinesBefore, n, limit)
	if n > limit {
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("%d goroutines left after Close, %d before the run:\n%s", n, goroutinesBefore, b.String())
	}
}

// sampleHeap samples the heap in use until stop is called: it returns the
// heap before, a function giving the peak so far, and stop.
func sampleHeap() (before uint64, peak func() uint64, stop func()) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var p atomic.Uint64
	p.Store(ms.HeapInuse)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > p.Load() {
					p.Store(ms.HeapInuse)
				}
			}
		}
	}()
	return ms.HeapInuse, p.Load, func() { close(quit); <-done }
}

// signalWriter closes ch at its first write: the event that a command has
// started (and holds its session).
type signalWriter struct {
	once sync.Once
	ch   chan struct{}
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(b), nil
}
