package loom_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// signalIgnorer notes the signals it gets on stdout and keeps running:
// "started" once running, "TERM"/"INT" for each signal, and it ends by
// itself after 20 s. sshd answers the channel's close only when it has.
const signalIgnorer = `trap 'echo TERM' TERM; trap 'echo INT' INT; echo started; (trap '' TERM INT; exec sleep 20) & while ! wait; do :; done`

// startedWriter closes started when "started" has been written to it.
type startedWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	started chan struct{}
	once    sync.Once
}

func (w *startedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), "started\n") {
		w.once.Do(func() { close(w.started) })
	}
	return len(p), nil
}

// TestHostTimeoutBoundsTheStop: --host-timeout bounds the host's whole
// turn, stopping its command included: a command that ignores SIGTERM
// (on a real sshd, which answers the channel's close only once the
// command has exited) is signalled before the deadline and given up at
// it, not 2 s + 5 s after it.
func TestHostTimeoutBoundsTheStop(t *testing.T) {
	_, d := target(t, sshdtest.Options{})
	const hostTimeout = 8 * time.Second // room to connect on a loaded machine
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts("target"), HostTimeout: hostTimeout}
	start := time.Now()
	rs := g.Shell(context.Background(), signalIgnorer)
	el := time.Since(start)
	hr := rs.Hosts[0]
	if hr.Reason() != "host timeout" {
		t.Fatalf("reason %q: %v", hr.Reason(), hr.Err)
	}
	// The bug took hostTimeout + 7 s; the slack is for a loaded machine.
	if el > hostTimeout+3*time.Second {
		t.Errorf("the host's turn took %v, more than its %v host timeout", el, hostTimeout)
	}
	// The command got its SIGTERM, within the turn, before being given up.
	if hr.Result == nil || !strings.Contains(hr.Result.Stdout, "started\nTERM\n") {
		t.Errorf("the command was not signalled before it was given up: %+v", hr.Result)
	}
	if hr.Result != nil && hr.Result.ExitCode != -1 {
		t.Errorf("exit code %d for a command given up, want -1", hr.Result.ExitCode)
	}
}

// TestInterruptStopsWithinGrace: Ctrl-C (a cancelled context) ends a
// host whose command ignores SIGINT within the documented 2 s.
func TestInterruptStopsWithinGrace(t *testing.T) {
	_, d := target(t, sshdtest.Options{})
	w := &startedWriter{started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	go func() {
		select {
		case <-w.started:
		case <-time.After(60 * time.Second):
		}
		cancelled = time.Now()
		cancel()
	}()
	rs := (&loom.Group{Dialer: d, Hosts: loom.Hosts("target")}).Each(ctx, func(c *loom.Conn) error {
		return c.Stream(w, nil).Shell(signalIgnorer).Err
	})
	el := time.Since(cancelled)
	hr := rs.Hosts[0]
	if hr.Status != loom.StatusInterrupted {
		t.Fatalf("status %v: %v", hr.Status, hr.Err)
	}
	// The bug took 2 s + 5 s.
	if el > 2*time.Second+3*time.Second {
		t.Errorf("stopping took %v after the interrupt, want about 2 s", el)
	}
	if !strings.Contains(w.buf.String(), "INT\n") {
		t.Errorf("the command got no SIGINT: %q", w.buf.String())
	}
}

// TestHostTimeoutLeavesRoomToStop: the host's work context ends before
// HostTimeout, by the grace its command's stop may take.
func TestHostTimeoutLeavesRoomToStop(t *testing.T) {
	hosts, d := fleet(t, 1, nil)
	for _, tc := range []struct{ timeout, grace time.Duration }{{10 * time.Second, 2 * time.Second}, {4 * time.Second, time.Second}} {
		var deadline time.Time
		var ok bool
		start := time.Now()
		rs := (&loom.Group{Dialer: d, Hosts: hosts, HostTimeout: tc.timeout}).Each(context.Background(), func(c *loom.Conn) error {
			deadline, ok = c.Context().Deadline()
			return nil
		})
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		// Between start and the call, some time passed: the deadline is
		// within that of start + timeout - grace.
		want := start.Add(tc.timeout - tc.grace)
		if !ok || deadline.Before(want) || deadline.After(want.Add(time.Since(start))) {
			t.Errorf("HostTimeout %v: the work's deadline is %v after the start, want %v", tc.timeout, deadline.Sub(start), tc.timeout-tc.grace)
		}
	}
}
