package agentfwd

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

func TestNewUpstreamDefaults(t *testing.T) {
	u := NewUpstream("/nonexistent", 0)
	if u.Max() != DefaultMaxConns || u.Timeout() != DefaultTimeout {
		t.Errorf("Max %d, Timeout %v; want %d, %v", u.Max(), u.Timeout(), DefaultMaxConns, DefaultTimeout)
	}
	if NewUpstream("x", -3).Max() != DefaultMaxConns {
		t.Error("negative max not defaulted")
	}
	u.SetTimeout(time.Second)
	if u.Timeout() != time.Second {
		t.Error("SetTimeout ignored")
	}
	u.SetTimeout(-1)
	if u.Timeout() != DefaultTimeout {
		t.Error("SetTimeout(-1) did not restore the default")
	}
}

// TestPoolCap has 200 goroutines sign at once through a slow agent: the
// upstream never sees more than Max connections and dials far fewer than 200.
func TestPoolCap(t *testing.T) {
	const max, callers = 8, 200
	key := newKey(t, "deploy")
	f := startFakeAgent(t, slowAgent{keyring(t, key), 3 * time.Millisecond})
	up := NewUpstream(f.path, max)
	defer up.Close()

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	var agents []*Agent
	for i := range callers {
		a := New(up, "host"+string(rune('a'+i%26)), Policy{}, nil)
		agents = append(agents, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := []byte("challenge")
			sig, err := a.Sign(key.pub, data)
			if err == nil {
				err = key.pub.Verify(data, sig)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, a := range agents {
		total += a.Signatures()
	}
	if total != callers {
		t.Errorf("%d signatures, want %d", total, callers)
	}
	accepts, peak := f.accepts.Load(), f.peakConns()
	t.Logf("%d callers, Max %d: agent accepted %d connections, at most %d open at once", callers, max, accepts, peak)
	if peak > max || up.peak > max {
		t.Errorf("%d connections open at once (pool saw %d), want at most %d", peak, up.peak, max)
	}
	if accepts > max {
		t.Errorf("%d connections dialled, want at most %d (reuse)", accepts, max)
	}
	if peak < 2 {
		t.Errorf("at most %d connection open: the requests never overlapped, so the test proves nothing", peak)
	}
	// The pool keeps its connections for the next burst.
	if n := f.openConns(); n != int(accepts) {
		t.Errorf("%d connections still open, want %d idle", n, accepts)
	}
}

func TestPoolReusesIdleConnection(t *testing.T) {
	key := newKey(t, "k")
	f := startFakeAgent(t, keyring(t, key))
	up := NewUpstream(f.path, 4)
	defer up.Close()
	a := New(up, "h", Policy{}, nil)
	for range 50 {
		if _, err := a.Sign(key.pub, []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.accepts.Load(); n != 1 {
		t.Errorf("50 sequential signatures dialled %d times, want 1", n)
	}
}

// TestUpstreamClosesIdleConnection: the agent closes the pooled connection
// (it restarted, say). The next request notices, drops it and succeeds on a
// new one.
func TestUpstreamClosesIdleConnection(t *testing.T) {
	key := newKey(t, "k")
	f := startFakeAgent(t, keyring(t, key))
	up := NewUpstream(f.path, 4)
	defer up.Close()
	a := New(up, "h", Policy{}, nil)
	if _, err := a.Sign(key.pub, []byte("d")); err != nil {
		t.Fatal(err)
	}
	f.dropAll()
	waitFor(t, "the agent to close its side", func() bool { return f.openConns() == 0 })
	for range 3 {
		if _, err := a.Sign(key.pub, []byte("d")); err != nil {
			t.Fatalf("sign after the agent closed the idle connection: %v", err)
		}
	}
	if n := f.accepts.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2 (one redial, then reuse)", n)
	}
	if n := up.openCount(); n != 1 {
		t.Errorf("pool holds %d connections, want 1", n)
	}
}

// TestBrokenFreshConnection: a new connection fails at once. The request
// fails (a fresh connection is not retried), the connection is dropped and
// the next request dials again.
func TestBrokenFreshConnection(t *testing.T) {
	key := newKey(t, "k")
	f := startFakeAgent(t, keyring(t, key))
	up := NewUpstream(f.path, 1)
	defer up.Close()
	a := New(up, "h", Policy{}, nil)
	f.dropNext.Store(true)
	if _, err := a.List(); err == nil {
		t.Fatal("List on a connection the agent closed succeeded")
	} else if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q has more than one line", err)
	}
	if n := up.openCount(); n != 0 {
		t.Fatalf("broken connection kept: %d open", n)
	}
	keys, err := a.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("List after a broken connection: %v, %v", keys, err)
	}
	if n := f.accepts.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2", n)
	}
	// With Max 1, a leaked slot would make this hang rather than succeed.
	for range 3 {
		if _, err := a.Sign(key.pub, []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeadUpstream: an agent that accepts and never answers cannot hold a
// caller past the per-request deadline, and its connection is dropped.
func TestDeadUpstream(t *testing.T) {
	f := startFakeAgent(t, keyring(t))
	f.hang.Store(true)
	up := NewUpstream(f.path, 2)
	defer up.Close()
	up.SetTimeout(200 * time.Millisecond)
	a := New(up, "h", Policy{}, nil)

	start := time.Now()
	_, err := a.List()
	if err == nil {
		t.Fatal("List on a hung agent succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("List took %v with a 200ms deadline", d)
	}
	if !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Errorf("error %q does not say the agent timed out", err)
	}
	if _, err := a.Sign(newKey(t, "k").pub, []byte("d")); err == nil {
		t.Error("Sign on a hung agent succeeded")
	}
	if n := up.openCount(); n != 0 {
		t.Errorf("%d timed-out connections kept", n)
	}
	if e := a.Events()[0]; e.Op != OpList || e.Err == "" {
		t.Errorf("event %+v: want a failed list", e)
	}
}

// TestContextCancelsRequest: cancelling the context interrupts a request in
// flight, long before the per-request deadline.
func TestContextCancelsRequest(t *testing.T) {
	f := startFakeAgent(t, keyring(t))
	f.hang.Store(true)
	up := NewUpstream(f.path, 1)
	defer up.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := up.do(ctx, func(ag agent.ExtendedAgent) error {
		_, err := ag.List()
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err %v, want an interrupted request", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancel took %v to interrupt the request", d)
	}
	if n := up.openCount(); n != 0 {
		t.Error("interrupted connection kept")
	}
}

// TestWaitForSlotRespectsContext: with every connection in use, get waits,
// and gives up when its context is done.
func TestWaitForSlotRespectsContext(t *testing.T) {
	f := startFakeAgent(t, keyring(t))
	up := NewUpstream(f.path, 1)
	defer up.Close()
	_, release, err := up.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := up.get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("get with all connections busy: %v, want deadline exceeded", err)
	}
	// A waiter gets the connection as soon as it is released.
	got := make(chan error, 1)
	go func() {
		ag, rel, err := up.get(context.Background())
		if err == nil {
			_, err = ag.List()
			rel(false)
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	release(false)
	release(false) // a second release is a no-op
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter never got the released connection")
	}
	if n := f.accepts.Load(); n != 1 {
		t.Errorf("dialled %d times, want 1", n)
	}
	// release(true) drops the connection.
	_, release, err = up.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	release(true)
	waitFor(t, "the dropped connection to close", func() bool { return f.openConns() == 0 })
}

func TestUpstreamErrors(t *testing.T) {
	ctx := context.Background()
	if _, _, err := NewUpstream("", 1).get(ctx); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("empty socket: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "no.sock")
	u := NewUpstream(missing, 1)
	start := time.Now()
	if _, _, err := u.get(ctx); err == nil || !strings.Contains(err.Error(), "connecting to the agent") {
		t.Errorf("missing socket: %v", err)
	}
	// A failed dial gives its slot back (Max is 1).
	if _, _, err := u.get(ctx); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("second dial: %v after %v", err, time.Since(start))
	}
	var nilUp *Upstream
	if _, _, err := nilUp.get(ctx); err == nil {
		t.Error("nil upstream: no error")
	}
}

func TestUpstreamClose(t *testing.T) {
	key := newKey(t, "k")
	f := startFakeAgent(t, keyring(t, key))
	up := NewUpstream(f.path, 4)
	a := New(up, "h", Policy{}, nil)
	if _, err := a.List(); err != nil {
		t.Fatal(err)
	}
	ag, release, err := up.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.List(); err == nil {
		t.Error("a connection in use survived Close")
	}
	release(false)
	if _, err := a.List(); !errors.Is(err, errClosed) {
		t.Errorf("List after Close: %v", err)
	}
	waitFor(t, "all connections to close", func() bool { return f.openConns() == 0 })
	if n := up.openCount(); n != 0 {
		t.Errorf("%d connections left after Close", n)
	}
}

// TestRealSSHAgentConcurrent runs many signatures at once against OpenSSH's
// ssh-agent through a small pool.
func TestRealSSHAgentConcurrent(t *testing.T) {
	sock := startSSHAgent(t)
	key := newKey(t, "deploy")
	addToAgent(t, sock, key)
	up := NewUpstream(sock, 4)
	defer up.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := New(up, "h", Policy{Keys: []string{key.fp}}, nil)
			sig, err := a.Sign(key.pub, []byte("data"))
			if err == nil {
				err = key.pub.Verify([]byte("data"), sig)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := up.dials.Load(); n > 4 {
		t.Errorf("dialled ssh-agent %d times, want at most 4", n)
	}
}

// openCount reports how many connections the pool has open.
func (u *Upstream) openCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.open)
}
