package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultParallel is how many hosts a Group works on at once by default.
const DefaultParallel = 32

// Group runs the same work on many hosts at once: a bounded number in
// flight, in rolling batches if asked, stopping early when too many fail.
// An unreachable or hung host never holds up the others.
//
// Set the fields, then call Run, Shell or Each; a Group may be reused.
type Group struct {
	// Dialer connects to the hosts. Nil: a Dialer of default settings.
	Dialer *Dialer
	// Hosts to run on, in order.
	Hosts []Host
	// Parallel is how many hosts are worked on at once (0: the default,
	// 32).
	Parallel int
	// Batch splits the hosts into consecutive batches of this size (a count,
	// or a percentage of the hosts, at least one host); a batch finishes
	// before the next one starts. Unset: one batch.
	//
	// A Group with a negative Parallel, HostTimeout or Pause, a Batch of
	// Count(0) or Percent(0), or a negative count or a percentage outside
	// 0–100 in Batch, Batches, MaxFail or MaxFailBatch runs nothing: every
	// host is "not started" and Results.Err says which setting is wrong.
	Batch Limit
	// Batches is a ramp of batch sizes, as Ansible's serial list: the
	// first batch has Batches[0] hosts, the second Batches[1], and the
	// last size repeats for the rest ({Count(1), Count(5), Percent(25)} on
	// 40 hosts: 1, 5, 10, 10, 10, 4). Set Batch or Batches, not both.
	Batches []Limit
	// Pause is how long to wait between batches (after one finishes,
	// before the next starts); an interruption ends the wait. It needs
	// Batch or Batches.
	Pause time.Duration
	// MaxFail stops the run early: once more hosts than this have failed
	// (command failed or host unreachable), no new host starts; hosts
	// already running finish. A percentage is of all the hosts, rounded
	// down. Unset: no limit.
	MaxFail Limit
	// MaxFailBatch is MaxFail counted in each batch, like Ansible's
	// max_fail_percentage: once more hosts than this of the batch at work
	// have failed, no new host starts, in this batch or a later one; the
	// batch's hosts already running finish. A percentage is of the
	// batch's hosts, rounded down. Without batches the run is one batch.
	// Unset: no limit.
	MaxFailBatch Limit
	// FailFast stops at the first failure: no new host starts and the
	// commands still running are interrupted.
	FailFast bool
	// HostTimeout bounds each host's whole turn: connecting, running, and
	// stopping a command that is still running when time is up. The work's
	// context ends 2 s before HostTimeout (a quarter of it when it is under
	// 8 s): the command then gets SIGTERM, its channel is closed if it has
	// not exited shortly before HostTimeout, and at HostTimeout it is given
	// up. Zero: no limit.
	HostTimeout time.Duration
	// Output returns where a host's output goes live (besides the captured
	// Result). Writers that are io.Closers are closed when the host is done.
	// Close may be called twice when stdout and stderr are one writer. Nil:
	// no live output.
	Output func(h Host) (stdout, stderr io.Writer)
	// OnStart is called as each host starts; OnDone when it is done. Calls
	// are serialised: they may print without locking.
	OnStart func(h Host)
	OnDone  func(r *HostResult)
	// Stdin, if set, is every host's standard input: each command a host
	// runs reads all of it from the start (see Input). Nil: commands read
	// an empty input.
	Stdin *Input
	// DiscardOutput drops each host's captured stdout and stderr once
	// OnDone has seen them, so a run's memory grows with Parallel, not with
	// the number of hosts.
	DiscardOutput bool
}

// Status is where a host ended up.
type Status int

// Host statuses.
const (
	StatusNotStarted  Status = iota // the run stopped (or was interrupted) before the host's turn
	StatusOK                        // the work succeeded
	StatusFailed                    // a command failed, timed out or lost its connection
	StatusUnreachable               // could not connect, log in, or trust the host key
	StatusInterrupted               // stopped by cancellation (Ctrl-C, FailFast) while running
)

func (s Status) String() string {
	return [...]string{"not started", "ok", "failed", "unreachable", "interrupted"}[s]
}

// HostResult is what happened on one host.
type HostResult struct {
	Host   string
	Status Status
	Err    error   // why it did not succeed
	Result *Result // the command's result (Run and Shell; the last command's for Each)
	// AgentEvents are the host's requests of the forwarded agent, if any.
	AgentEvents []AgentEvent
	Start       time.Time
	Duration    time.Duration
}

// Reason says in a few words why the host did not succeed: "exit 3",
// "local exit 2" (a command of loom.Local() in the host's task),
// "signal KILL", "command timeout", "host timeout", "connection lost",
// "unreachable", "connect timeout", "authentication", "host key",
// "put failed" (a file operation), "session refused", "interrupted",
// "not started"... and
// "ok" when it did.
func (r *HostResult) Reason() string {
	var ee *ExitError
	var te *TimeoutError
	var se *SudoError
	var ce *ConnectError
	var fe *FileError
	switch {
	case r.Status == StatusOK:
		return "ok"
	case r.Status == StatusNotStarted:
		return "not started"
	case r.Status == StatusInterrupted:
		return "interrupted"
	case errors.As(r.Err, &ce):
		switch ce.Reason {
		case ReasonTimeout:
			if errors.Is(ce.Err, context.DeadlineExceeded) {
				return "host timeout"
			}
			return "connect timeout"
		case ReasonUnreachable:
			return "unreachable"
		case ReasonAuth:
			return "authentication"
		case ReasonHostKey:
			return "host key"
		}
		return "ssh handshake"
	case errors.As(r.Err, &fe) && !errors.Is(r.Err, context.Canceled) && !errors.Is(r.Err, ErrConnLost):
		return fe.Op + " failed"
	case errors.As(r.Err, &ee):
		what := fmt.Sprintf("exit %d", ee.Code)
		if ee.Signal != "" {
			what = "signal " + ee.Signal
		}
		return elsewhere(ee.Host, r.Host) + what
	case errors.As(r.Err, &te):
		return elsewhere(te.Host, r.Host) + "command timeout"
	case errors.Is(r.Err, context.DeadlineExceeded):
		return "host timeout"
	case errors.As(r.Err, &se):
		return "sudo"
	case errors.Is(r.Err, ErrConnLost):
		return "connection lost"
	case errors.Is(r.Err, ErrNoExitStatus):
		return "no exit status"
	case errors.Is(r.Err, ErrSessionRefused):
		return "session refused"
	}
	return "error"
}

// elsewhere names where a failed command ran when it was not the host
// itself ("local ", for a Local step of a task), so that the reason does
// not read as the host's own command failing.
func elsewhere(ran, host string) string {
	if ran == "" || ran == host {
		return ""
	}
	return ran + " "
}

// Results are the outcome of a Group run, one per host in the Group's order.
type Results struct {
	Hosts []*HostResult
	err   error // why the run could not start (Execute)
}

func (rs *Results) with(s Status) []*HostResult {
	var out []*HostResult
	for _, r := range rs.Hosts {
		if r.Status == s {
			out = append(out, r)
		}
	}
	return out
}

// OK returns the hosts that succeeded.
func (rs *Results) OK() []*HostResult { return rs.with(StatusOK) }

// Failed returns the hosts where the work failed.
func (rs *Results) Failed() []*HostResult { return rs.with(StatusFailed) }

// Unreachable returns the hosts that could not be connected to.
func (rs *Results) Unreachable() []*HostResult { return rs.with(StatusUnreachable) }

// Interrupted returns the hosts stopped while running.
func (rs *Results) Interrupted() []*HostResult { return rs.with(StatusInterrupted) }

// NotStarted returns the hosts whose turn never came.
func (rs *Results) NotStarted() []*HostResult { return rs.with(StatusNotStarted) }

// Err returns nil when every host succeeded, else an error counting the
// hosts that did not and naming the first of them.
func (rs *Results) Err() error {
	if rs.err != nil {
		return rs.err
	}
	var bad []*HostResult
	for _, r := range rs.Hosts {
		if r.Status != StatusOK {
			bad = append(bad, r)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	first := bad[0]
	msg := first.Reason()
	if first.Err != nil {
		msg = first.Err.Error()
	}
	if len(bad) == 1 {
		return fmt.Errorf("%s: %s", first.Host, strings.TrimPrefix(msg, first.Host+": "))
	}
	return fmt.Errorf("%d of %d hosts did not succeed; first: %s: %s", len(bad), len(rs.Hosts), first.Host, strings.TrimPrefix(msg, first.Host+": "))
}

// Run runs a command (arguments quoted, as Conn.Run) on every host.
func (g *Group) Run(ctx context.Context, args ...string) *Results {
	return g.each(ctx, func(c *Conn, hr *HostResult) error {
		hr.Result = c.Run(args...)
		return hr.Result.Err
	})
}

// Shell runs shell text (as Conn.Shell) on every host.
func (g *Group) Shell(ctx context.Context, script string) *Results {
	return g.each(ctx, func(c *Conn, hr *HostResult) error {
		hr.Result = c.Shell(script)
		return hr.Result.Err
	})
}

// Each calls fn with each host's Conn, on up to Parallel hosts at once. A
// host fails if fn returns an error or any operation on its Conn failed
// (Conn.Err); a panic in fn fails that host only.
func (g *Group) Each(ctx context.Context, fn func(*Conn) error) *Results {
	return g.each(ctx, func(c *Conn, _ *HostResult) error { return fn(c) })
}

func (g *Group) each(ctx context.Context, fn func(*Conn, *HostResult) error) *Results {
	d := g.Dialer
	if d == nil {
		d = &Dialer{}
		defer d.Close()
	}
	total := len(g.Hosts)
	rs := &Results{Hosts: make([]*HostResult, total)}
	for i, h := range g.Hosts {
		rs.Hosts[i] = &HostResult{Host: h.Name}
	}
	if err := g.check(); err != nil {
		// A setting that makes no sense runs nothing rather than being
		// read as some default.
		rs.err = err
		for _, hr := range rs.Hosts {
			hr.Err = fmt.Errorf("%s: not started: %w", hr.Host, err)
		}
		return rs
	}
	parallel := g.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	plan := g.plan(total)
	maxFail := -1
	if g.MaxFail.IsSet() {
		maxFail = g.MaxFail.Of(total)
	}
	if g.FailFast {
		maxFail = 0
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var failures, batchFailures atomic.Int64
	batchMax := int64(-1) // the current batch's MaxFailBatch, -1: none
	var batchStop atomic.Bool
	stopped := func() bool {
		if batchMax >= 0 && batchFailures.Load() > batchMax {
			batchStop.Store(true)
			return true
		}
		return runCtx.Err() != nil || maxFail >= 0 && failures.Load() > int64(maxFail)
	}
	var cbMu sync.Mutex // serialises OnStart and OnDone
	slots := make(chan struct{}, parallel)

	first := 0
	for bi, size := range plan {
		if stopped() {
			break
		}
		if bi > 0 && g.Pause > 0 {
			t := time.NewTimer(g.Pause)
			select {
			case <-t.C:
			case <-runCtx.Done():
				t.Stop()
			}
			if stopped() {
				break
			}
		}
		batchFailures.Store(0)
		if g.MaxFailBatch.IsSet() {
			batchMax = int64(g.MaxFailBatch.Of(size))
		}
		var wg sync.WaitGroup
		for i := first; i < first+size; i++ {
			select {
			case slots <- struct{}{}:
			case <-runCtx.Done():
			}
			if stopped() {
				if runCtx.Err() == nil {
					<-slots
				}
				break
			}
			h, hr := g.Hosts[i], rs.Hosts[i]
			if g.OnStart != nil {
				cbMu.Lock()
				g.OnStart(h)
				cbMu.Unlock()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				g.runHost(runCtx, d, h, hr, fn)
				if hr.Status == StatusFailed || hr.Status == StatusUnreachable {
					batchFailures.Add(1)
					if failures.Add(1) > int64(maxFail) && g.FailFast {
						cancelRun()
					}
				}
				if g.OnDone != nil {
					cbMu.Lock()
					g.OnDone(hr)
					cbMu.Unlock()
				}
				if g.DiscardOutput && hr.Result != nil {
					hr.Result.Stdout, hr.Result.Stderr = "", ""
				}
			}()
		}
		wg.Wait()
		first += size
	}
	stopped() // a batch's last failures count too
	for _, hr := range rs.Hosts {
		if hr.Status == StatusNotStarted && hr.Err == nil {
			switch {
			case ctx.Err() != nil:
				hr.Err = fmt.Errorf("%s: not started: %w", hr.Host, ctx.Err())
			case maxFail >= 0 && failures.Load() > int64(maxFail):
				hr.Err = fmt.Errorf("%s: not started: more than %d host%s failed", hr.Host, maxFail, map[bool]string{true: "s"}[maxFail != 1])
			case batchStop.Load():
				hr.Err = fmt.Errorf("%s: not started: more than %d hosts of a batch failed (MaxFailBatch %s)", hr.Host, batchMax, g.MaxFailBatch)
			}
		}
	}
	return rs
}

// check refuses settings that have no sensible meaning: negative counts
// or durations, batches of no host, a negative MaxFail.
func (g *Group) check() error {
	switch {
	case g.Parallel < 0:
		return fmt.Errorf("group: Parallel %d: want at least 1 (0: the default, %d)", g.Parallel, DefaultParallel)
	case g.HostTimeout < 0:
		return fmt.Errorf("group: HostTimeout %v: want a positive duration (0: no limit)", g.HostTimeout)
	case g.Batch.IsSet() && (g.Batch == Count(0) || g.Batch == Percent(0)):
		return fmt.Errorf("group: Batch %s: want at least 1 host, or a percentage above 0%%", g.Batch)
	case g.Batch.IsSet() && !g.Batch.valid():
		return fmt.Errorf("group: Batch %s: want a count of 1 or more, or a percentage from 0%% to 100%%", g.Batch)
	case g.MaxFail.IsSet() && !g.MaxFail.valid():
		return fmt.Errorf("group: MaxFail %s: want a count of 0 or more, or a percentage from 0%% to 100%%", g.MaxFail)
	case g.MaxFailBatch.IsSet() && !g.MaxFailBatch.valid():
		return fmt.Errorf("group: MaxFailBatch %s: want a count of 0 or more, or a percentage from 0%% to 100%%", g.MaxFailBatch)
	case g.Batch.IsSet() && len(g.Batches) > 0:
		return fmt.Errorf("group: Batch %s and Batches %s: set one of them", g.Batch, limits(g.Batches))
	case g.Pause < 0:
		return fmt.Errorf("group: Pause %v: want a positive duration (0: no pause)", g.Pause)
	case g.Pause > 0 && !g.Batch.IsSet() && len(g.Batches) == 0:
		return fmt.Errorf("group: Pause %v waits between batches, and there are none: set Batch or Batches", g.Pause)
	}
	for _, l := range g.Batches {
		if !l.IsSet() || l == Count(0) || l == Percent(0) || !l.valid() {
			return fmt.Errorf("group: Batches %s: each size is a count of 1 or more, or a percentage above 0%% and at most 100%%", limits(g.Batches))
		}
	}
	return nil
}

// Plan returns the sizes of the batches the Group would run its hosts in,
// first to last (one batch of every host without Batch or Batches); nil
// when there are no hosts or a setting is refused.
func (g *Group) Plan() []int {
	if g.check() != nil {
		return nil
	}
	return g.plan(len(g.Hosts))
}

// plan cuts total hosts into batches: Batches as a ramp whose last size
// repeats, or Batch, or one batch; each at least one host.
func (g *Group) plan(total int) []int {
	ramp := g.Batches
	if len(ramp) == 0 && g.Batch.IsSet() {
		ramp = []Limit{g.Batch}
	}
	var sizes []int
	for left := total; left > 0; {
		n := left
		if len(ramp) > 0 {
			n = min(left, max(1, ramp[min(len(sizes), len(ramp)-1)].Of(total)))
		}
		sizes = append(sizes, n)
		left -= n
	}
	return sizes
}

// limits writes a list of limits as --batch takes it: "1,5,25%".
func limits(ls []Limit) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ",")
}

// runHost connects to one host and runs fn there, filling hr.
func (g *Group) runHost(ctx context.Context, d *Dialer, h Host, hr *HostResult, fn func(*Conn, *HostResult) error) {
	hr.Start = time.Now()
	defer func() { hr.Duration = time.Since(hr.Start) }()
	if g.HostTimeout > 0 {
		// The work is stopped a little before the end of the turn, so
		// that stopping its command ends by HostTimeout too.
		end := hr.Start.Add(g.HostTimeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, end.Add(-hostGrace(g.HostTimeout)))
		defer cancel()
		ctx = withStopBy(ctx, end)
	}
	var stdout, stderr io.Writer
	if g.Output != nil {
		stdout, stderr = g.Output(h)
		defer closeWriters(stdout, stderr)
	}
	c, err := d.DialHost(ctx, h)
	if err != nil {
		hr.Err, hr.Status = err, StatusUnreachable
		if errors.Is(err, context.Canceled) {
			hr.Status = StatusInterrupted
		}
		return
	}
	defer c.Close()
	c = c.WithContext(ctx).Stream(stdout, stderr)
	if g.Stdin != nil {
		c = c.with(func(s *scope) { s.input = g.Stdin })
	}
	err = safeCall(fn, c, hr)
	if err == nil {
		err = c.Err()
	}
	hr.AgentEvents = c.AgentEvents()
	if hr.Result == nil {
		c.h.mu.Lock()
		hr.Result = c.h.last
		c.h.mu.Unlock()
	}
	switch {
	case err == nil:
		hr.Status = StatusOK
	case errors.Is(err, context.Canceled):
		hr.Err, hr.Status = err, StatusInterrupted
	default:
		hr.Err, hr.Status = err, StatusFailed
	}
}

// safeCall runs fn, turning a panic into that host's error.
func safeCall(fn func(*Conn, *HostResult) error, c *Conn, hr *HostResult) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v\n%s", c.Host(), p, debug.Stack())
		}
	}()
	return fn(c, hr)
}

// closeWriters closes the writers that are io.Closers (the same writer
// may be given twice: Close must be idempotent, as the Output doc says).
func closeWriters(ws ...io.Writer) {
	for _, w := range ws {
		if cl, ok := w.(io.Closer); ok {
			cl.Close()
		}
	}
}
