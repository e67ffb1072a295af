package remotefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one running file operation.
type Op struct {
	h      Host
	name   string
	o      Options
	ctx    context.Context
	cancel context.CancelFunc
	t      *Transfer
	start  time.Time

	fc       *fsClient
	finished chan struct{}
	prog     *progress
	owner    *ids // resolved Owner, for writes without sudo
	// getBase is the local directory Get writes below: the part of its
	// local template before any {placeholder}. Nothing below it that a
	// host's names decided may be a symbolic link.
	getBase string
}

// New starts the operation name ("put", "get"...) on h; the caller checks
// o.Err first. Finish ends it.
func New(h Host, name string, o Options) *Op {
	op := &Op{h: h, name: name, o: o, t: &Transfer{}, start: time.Now(), finished: make(chan struct{})}
	op.ctx, op.cancel = h.Context(), func() {}
	if d := h.Timeout(); d > 0 {
		op.ctx, op.cancel = context.WithTimeout(op.ctx, d)
	}
	return op
}

// fs returns the connection's SFTP client. If the operation's context ends
// and the operation still has not returned 5 seconds later (a server that
// stopped answering), the client is closed so that the operation fails
// instead of hanging; the next operation opens a new one.
func (op *Op) fs() (*fsClient, error) {
	if op.fc != nil {
		return op.fc, nil
	}
	fc, err := op.h.Slot().get(op.ctx, op.h)
	if err != nil {
		return nil, err
	}
	op.fc = fc
	go func() {
		select {
		case <-op.finished:
			return
		case <-op.ctx.Done():
		}
		select {
		case <-op.finished:
		case <-time.After(5 * time.Second):
			op.h.Slot().drop(fc)
		}
	}()
	return fc, nil
}

// Finish ends the operation: what it did, and err (the operation's error,
// if any) as an *Error.
func (op *Op) Finish(err error) (*Transfer, error) {
	close(op.finished)
	if op.prog != nil {
		op.prog.stop()
	}
	t := op.t
	t.Duration = time.Since(op.start)
	if err != nil {
		err = op.fail("", "", err)
	}
	op.cancel()
	return t, err
}

// fail wraps err with the paths it concerns.
func (op *Op) fail(local, remote string, err error) error {
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	if d := op.h.Timeout(); d > 0 && errors.Is(err, context.DeadlineExceeded) && op.h.Context().Err() == nil {
		err = fmt.Errorf("timed out after %v: %w", d, err)
	}
	return &Error{Op: op.name, Local: local, Remote: remote, Err: err}
}

// run runs cmd in the operation's context.
func (op *Op) run(cmd Cmd) Result { return op.h.Run(op.ctx, cmd) }

// shell runs script (with sudo when the operation has UseSudo) and returns
// its result; stdin, if not nil, is the script's input.
func (op *Op) shell(script string, stdin io.Reader) Result {
	return op.run(Cmd{Script: script, Sudo: op.o.Sudo, Stdin: stdin})
}

// ownerIDs resolves the Owner option to numeric ids for SFTP (writes
// without sudo), once per operation.
func (op *Op) ownerIDs() (*ids, error) {
	if op.o.User == "" && op.o.Group == "" {
		return nil, nil
	}
	if op.owner != nil {
		return op.owner, nil
	}
	id := &ids{-1, -1}
	for _, x := range []struct {
		name, db string
		dst      *int
	}{{op.o.User, "passwd", &id.uid}, {op.o.Group, "group", &id.gid}} {
		if x.name == "" {
			continue
		}
		if n, err := strconv.Atoi(x.name); err == nil {
			*x.dst = n
			continue
		}
		r := op.run(Cmd{Args: []string{"getent", x.db, x.name}})
		f := strings.Split(strings.TrimSpace(r.Stdout), ":")
		if r.Err != nil || len(f) < 3 {
			return nil, fmt.Errorf("unknown %s %q", map[string]string{"passwd": "user", "group": "group"}[x.db], x.name)
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("getent %s %s: bad id %q", x.db, x.name, f[2])
		}
		*x.dst = n
	}
	op.owner = id
	return id, nil
}

func randomToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// reader wraps r: reads stop with the context's error once it is done, and
// count towards progress.
func (op *Op) reader(r io.Reader) io.Reader { return &opReader{ctx: op.ctx, r: r, p: op.prog} }

type opReader struct {
	ctx context.Context
	r   io.Reader
	p   *progress
}

func (r *opReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(b)
	r.p.add(n)
	return n, err
}

// writer wraps w like reader wraps a reader.
func (op *Op) writer(w io.Writer) io.Writer { return &opWriter{ctx: op.ctx, w: w, p: op.prog} }

type opWriter struct {
	ctx context.Context
	w   io.Writer
	p   *progress
}

func (w *opWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(b)
	w.p.add(n)
	return n, err
}

// startProgress starts progress reporting (if asked) for about total bytes
// (-1: unknown).
func (op *Op) startProgress(label string, total int64) {
	if op.o.Progress == nil || op.o.DryRun {
		return
	}
	op.prog = newProgress(op.o.Progress, op.h.Name(), op.name+" "+label, total)
}

// progressEvery is how often progress lines are written.
var progressEvery = time.Second

type progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	start time.Time
	quit  chan struct{}
	wg    sync.WaitGroup
	lines int
}

func newProgress(w io.Writer, host, label string, total int64) *progress {
	p := &progress{w: w, label: host + ": " + label, total: total, start: time.Now(), quit: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.line(false)
			}
		}
	}()
	return p
}

func (p *progress) add(n int) {
	if p != nil && n > 0 {
		p.done.Add(int64(n))
	}
}

func (p *progress) line(final bool) {
	done := p.done.Load()
	el := time.Since(p.start)
	rate := float64(done) / max(el.Seconds(), 0.001)
	var b strings.Builder
	b.WriteString(p.label + " " + humanBytes(done))
	if p.total > 0 {
		fmt.Fprintf(&b, "/%s (%d%%)", humanBytes(p.total), min(100, done*100/p.total))
	}
	fmt.Fprintf(&b, " %s/s", humanBytes(int64(rate)))
	if final {
		fmt.Fprintf(&b, " in %v", el.Round(10*time.Millisecond))
	}
	b.WriteString("\n")
	io.WriteString(p.w, b.String())
	p.lines++
}

// stop ends reporting, with a last line if any line was written.
func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	if p.lines > 0 {
		p.line(true)
	}
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %cB", f, " kMGT"[u])
}

// globMatch matches a name against a glob as a shell does: like
// path.Match, except that a leading dot must be matched by a dot in the
// pattern ("*" does not match ".env").
func globMatch(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// hasMeta reports whether s holds glob metacharacters.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }
