package loom_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/loomtest"
)

// fleet starts n in-process hosts (with fault f for those in faulty) and
// returns them as Hosts named by address, and a Dialer that trusts them.
func fleet(t testing.TB, n int, faulty map[int]loomtest.Fault) ([]loom.Host, *loom.Dialer) {
	t.Helper()
	signer, _ := ssh.NewSignerFromKey(mustEd25519(t))
	var kh strings.Builder
	hosts := make([]loom.Host, n)
	for i := range n {
		s, err := loomtest.Start(loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, Fault: faulty[i]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		hosts[i] = loom.Host{Name: s.Addr(), Vars: map[string]string{"i": fmt.Sprint(i)}}
		kh.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(path, []byte(kh.String()), 0o600)
	d := &loom.Dialer{ConfigFile: "none", Options: []string{"UserKnownHostsFile=" + path}, Signers: []ssh.Signer{signer}, AgentSocket: "/nonexistent", ConnectTimeout: time.Second}
	t.Cleanup(func() { d.Close() })
	return hosts, d
}

// tracker records how many hosts run at once and in which order they end.
type tracker struct {
	running int
	peak    int
	started []string
	done    []string
	events  []string // "start HOST" and "done HOST" in order
}

func (tr *tracker) hook(g *loom.Group) {
	g.OnStart = func(h loom.Host) {
		tr.running++
		tr.peak = max(tr.peak, tr.running)
		tr.started = append(tr.started, h.Name)
		tr.events = append(tr.events, "start "+h.Name)
	}
	g.OnDone = func(r *loom.HostResult) {
		tr.running--
		tr.done = append(tr.done, r.Host)
		tr.events = append(tr.events, "done "+r.Host)
	}
}

func TestGroupParallelBound(t *testing.T) {
	hosts, d := fleet(t, 12, nil)
	var tr tracker
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 3}
	tr.hook(g)
	rs := g.Run(context.Background(), "sleep", "0.2")
	if err := rs.Err(); err != nil || len(rs.OK()) != 12 {
		t.Fatalf("err %v, %d ok", err, len(rs.OK()))
	}
	if tr.peak != 3 {
		t.Fatalf("peak %d hosts at once, want 3", tr.peak)
	}
	for i, r := range rs.Hosts {
		if r.Host != hosts[i].Name || r.Result == nil || r.Result.ExitCode != 0 {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
}

func TestGroupBatches(t *testing.T) {
	hosts, d := fleet(t, 9, nil)
	var tr tracker
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 10, Batch: loom.Count(4)}
	tr.hook(g)
	g.Shell(context.Background(), "sleep 0.1")
	// A batch ends before the next starts: every host of batch k starts
	// after every host of batch k-1 is done.
	at := map[string]int{}
	for i, e := range tr.events {
		at[e] = i
	}
	for i := 4; i < 9; i++ {
		for j := 4 * (i/4 - 1); j < 4*(i/4); j++ {
			if at["start "+hosts[i].Name] < at["done "+hosts[j].Name] {
				t.Fatalf("host %d started before host %d (previous batch) was done: %v", i, j, tr.events)
			}
		}
	}
	if tr.peak != 4 {
		t.Fatalf("peak %d, want 4 (batch size)", tr.peak)
	}
}

func TestGroupMaxFailAndFailFast(t *testing.T) {
	hosts, d := fleet(t, 10, nil)
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 1, MaxFail: loom.Count(1)}
	// Hosts 0 and 1 fail: more than 1 failed, so host 2 on never starts.
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		if c.Var("i") == "0" || c.Var("i") == "1" {
			c.Run("false")
		}
		return nil
	})
	if len(rs.Failed()) != 2 || len(rs.NotStarted()) != 8 || len(rs.OK()) != 0 {
		t.Fatalf("failed %d, not started %d, ok %d", len(rs.Failed()), len(rs.NotStarted()), len(rs.OK()))
	}
	if r := rs.NotStarted()[0]; r.Reason() != "not started" || !strings.Contains(r.Err.Error(), "more than 1") {
		t.Fatalf("not started: %v", r.Err)
	}

	// 20%% of 10 hosts is 2: three failures are needed to stop.
	g.MaxFail = loom.Percent(20)
	rs = g.Each(context.Background(), func(c *loom.Conn) error {
		if c.Var("i") < "3" {
			return errors.New("boom")
		}
		return nil
	})
	if len(rs.Failed()) != 3 || len(rs.NotStarted()) != 7 {
		t.Fatalf("20%%: failed %d, not started %d", len(rs.Failed()), len(rs.NotStarted()))
	}

	// FailFast interrupts the hosts still running.
	g = &loom.Group{Dialer: d, Hosts: hosts, Parallel: 10, FailFast: true}
	start := time.Now()
	rs = g.Each(context.Background(), func(c *loom.Conn) error {
		if c.Var("i") == "0" {
			return c.Run("false").Err
		}
		return c.Run("sleep", "30").Err
	})
	if len(rs.Failed()) != 1 || len(rs.Interrupted()) != 9 || time.Since(start) > 10*time.Second {
		t.Fatalf("fail-fast: failed %d interrupted %d after %v", len(rs.Failed()), len(rs.Interrupted()), time.Since(start))
	}
}

func TestGroupBadHostsDoNotHoldUpOthers(t *testing.T) {
	hosts, d := fleet(t, 8, map[int]loomtest.Fault{1: loomtest.HangBeforeBanner, 2: loomtest.HangCommand, 3: loomtest.RejectAuth})
	refused := refusedAddr(t)
	hosts = append(hosts, loom.Host{Name: refused})
	d.Options = append(d.Options, "StrictHostKeyChecking=no") // the refused host has no key
	d.Stderr = &strings.Builder{}
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 4, HostTimeout: 3 * time.Second}
	start := time.Now()
	rs := g.Run(context.Background(), "echo", "hi")
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("run took %v", el)
	}
	want := map[int]string{0: "ok", 1: "connect timeout", 2: "host timeout", 3: "authentication", 4: "ok", 5: "ok", 6: "ok", 7: "ok", 8: "unreachable"}
	for i, r := range rs.Hosts {
		if r.Reason() != want[i] {
			t.Errorf("host %d (%s): reason %q (err %v), want %q", i, r.Host, r.Reason(), r.Err, want[i])
		}
		if want[i] != "ok" && (r.Err == nil || !strings.HasPrefix(r.Err.Error(), r.Host+": ")) {
			t.Errorf("host %d: error does not start with the host as named: %v", i, r.Err)
		}
		if want[i] == "ok" && r.Result.Stdout != "hi\n" {
			t.Errorf("host %d: stdout %q", i, r.Result.Stdout)
		}
	}
}

func TestGroupPanicFailsOneHost(t *testing.T) {
	hosts, d := fleet(t, 3, nil)
	g := &loom.Group{Dialer: d, Hosts: hosts}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		if c.Var("i") == "1" {
			panic("a bug in one host's task")
		}
		return nil
	})
	if len(rs.OK()) != 2 || len(rs.Failed()) != 1 || !strings.Contains(rs.Failed()[0].Err.Error(), "panic") {
		t.Fatalf("ok %d failed %d: %v", len(rs.OK()), len(rs.Failed()), rs.Err())
	}
}

func TestGroupCancelled(t *testing.T) {
	hosts, d := fleet(t, 6, nil)
	ctx, cancel := context.WithCancel(context.Background())
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 2}
	time.AfterFunc(300*time.Millisecond, cancel)
	rs := g.Run(ctx, "sleep", "30")
	if len(rs.Interrupted()) != 2 || len(rs.NotStarted()) != 4 {
		t.Fatalf("interrupted %d not started %d", len(rs.Interrupted()), len(rs.NotStarted()))
	}
}

// Quiet keeps a command's output out of the group's live output, and in
// its Result.
func TestQuietKeepsOutputOutOfTheLiveView(t *testing.T) {
	hosts, d := fleet(t, 1, nil)
	var live bytes.Buffer
	var mu sync.Mutex
	g := &loom.Group{Dialer: d, Hosts: hosts, Output: func(loom.Host) (io.Writer, io.Writer) {
		w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return live.Write(b) })
		return w, w
	}}
	var looked string
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		looked = c.Quiet().Run("echo", "looked up").Stdout
		c.Run("echo", "shown")
		return c.Err()
	})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if looked != "looked up\n" || live.String() != "shown\n" {
		t.Fatalf("quiet result %q, live output %q", looked, live.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestLocalStepFailureIsLocal: a failing loom.Local() step inside a host's
// work is reported as local, with its command, not as the host's exit.
func TestLocalStepFailureIsLocal(t *testing.T) {
	hosts, d := fleet(t, 2, nil)
	g := &loom.Group{Dialer: d, Hosts: hosts}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		c.Run("true")
		return loom.Local().Shell("echo built >&2; exit 2").Err
	})
	for _, hr := range rs.Hosts {
		if got := hr.Reason(); got != "local exit 2" {
			t.Errorf("%s: reason %q, want %q", hr.Host, got, "local exit 2")
		}
		if hr.Err == nil || !strings.HasPrefix(hr.Err.Error(), "local: ") || !strings.Contains(hr.Err.Error(), "exit 2") {
			t.Errorf("%s: error %v does not name the local command", hr.Host, hr.Err)
		}
	}
}

// TestConnLocalSharesTheHostsFailure: c.Local() fails the host like a
// remote step, and is skipped after the host failed.
func TestConnLocalSharesTheHostsFailure(t *testing.T) {
	hosts, d := fleet(t, 1, nil)
	marker := filepath.Join(t.TempDir(), "touched")
	g := &loom.Group{Dialer: d, Hosts: hosts}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		c.Local().Shell("exit 3")
		c.Run("echo", "never")
		return c.Err()
	})
	hr := rs.Hosts[0]
	if hr.Status != loom.StatusFailed || hr.Reason() != "local exit 3" || hr.Result != nil && strings.Contains(hr.Result.Stdout, "never") {
		t.Fatalf("a failing local step: %v %q", hr.Err, hr.Reason())
	}
	rs = g.Each(context.Background(), func(c *loom.Conn) error {
		c.Run("false")
		c.Local().Run("touch", marker)
		return c.Err()
	})
	if _, err := os.Stat(marker); err == nil || rs.Hosts[0].Status != loom.StatusFailed {
		t.Fatalf("a local step ran after the host failed (%v)", rs.Hosts[0].Err)
	}
}
