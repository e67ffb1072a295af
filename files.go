package loom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File operations: Put, PutReader, Get, Sync, Template and the helpers
// (Exists, Contains, AppendLine, Replace, EnsureDir, Symlink). They share
// the sticky-error model of Run: each records its failure on the Conn and
// is skipped after an earlier one. See docs/files.md.

// Transfer is what a file operation did.
type Transfer struct {
	Host    string
	Files   int   // files (and symbolic links) written, or fetched by Get
	Bytes   int64 // bytes of file content written or fetched
	Skipped int   // files left alone because they were already up to date (Sync, Template)
	// Changed lists the remote paths written (local paths for Get), in the
	// order of the walk; with DryRun, the paths that would be written.
	Changed []string
	// Removed lists the remote paths deleted (Sync with Delete); with
	// DryRun, the paths that would be deleted.
	Removed []string
	// Cut lists the local files Get cut at the size the host had given
	// for them (in its listing or stat) because it then sent more: a file
	// growing while it was read (a busy log), or a host that lied. Each
	// holds what the host sent up to that size.
	Cut []string
	// DryRun is set when nothing was written because DryRun was given;
	// Files and Bytes then count what would have been sent.
	DryRun   bool
	Duration time.Duration
	// Err is nil on success; a *FileError (wrapping the cause: an
	// fs.ErrNotExist or fs.ErrPermission, an *ExitError or *SudoError of a
	// sudo step, a context error...) or an error wrapping ErrSkipped.
	Err error
}

// OK reports whether the operation succeeded.
func (t *Transfer) OK() bool { return t.Err == nil }

// FileError reports a failed file operation on one file: the host, the
// operation, the local and remote paths involved and the cause, as one line
// ("web1: put app.conf -> /etc/app.conf: permission denied"). Unwrap gives
// the cause, so errors.Is(err, fs.ErrPermission) and errors.As(err,
// &exitErr) work.
type FileError struct {
	Host   string
	Op     string // put, get, sync, template, exists, contains, append, replace, mkdir, symlink
	Local  string // the local path, if any
	Remote string // the remote path, if any
	Err    error
}

// Error returns the one-line message: host, operation, paths, cause.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.Host + ": " + e.Op)
	switch {
	case e.Local != "" && e.Remote != "" && e.Op == "get":
		b.WriteString(" " + e.Remote + " -> " + e.Local)
	case e.Local != "" && e.Remote != "":
		b.WriteString(" " + e.Local + " -> " + e.Remote)
	case e.Remote != "":
		b.WriteString(" " + e.Remote)
	case e.Local != "":
		b.WriteString(" " + e.Local)
	}
	b.WriteString(": " + causeText(e.Host, e.Err))
	return b.String()
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// causeText is err's message on one line, without a leading host name.
func causeText(host string, err error) string {
	if err == nil {
		return "unknown error"
	}
	s := err.Error()
	s = strings.TrimPrefix(s, host+": ")
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", " | ")
}

// FileOption configures a file operation.
type FileOption func(*fileOptions)

type fileOptions struct {
	mode      fs.FileMode
	modeSet   bool
	user      string
	group     string
	sudo      bool
	exclude   []string
	checksum  bool
	delete    bool
	dryRun    bool
	overwrite bool
	diff      io.Writer
	progress  io.Writer
	err       error // a bad option, reported by the operation
}

// Mode sets the permission bits of the files written (setuid, setgid and
// sticky included, given as fs.ModeSetuid... or as 0o4000...). Without it Put and
// Sync keep the local file's mode, PutReader writes 0644, Template,
// AppendLine and Replace keep the mode of the file they replace (0644 for a
// new one), and Get gives the remote file's permission bits less the umask
// (never setuid, setgid or sticky, as scp and sftp do). For EnsureDir, use
// its mode argument.
func Mode(m fs.FileMode) FileOption {
	return func(o *fileOptions) { o.mode, o.modeSet = fileMode(m), true }
}

// Owner sets the owner and group of the files written (either may be
// empty: Owner("", "www-data") sets only the group). Names or numeric ids.
// Giving a file to another user needs root: add UseSudo unless the login
// user is root.
func Owner(user, group string) FileOption {
	return func(o *fileOptions) {
		for _, n := range []string{user, group} {
			if n != "" && !validOwnerName(n) {
				o.err = fmt.Errorf("invalid user or group name %q", n)
				return
			}
		}
		if user == "" && group == "" {
			o.err = errors.New("owner: no user or group given")
			return
		}
		o.user, o.group = user, group
	}
}

func validOwnerName(n string) bool {
	if n == "" || n[0] == '-' || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r == '_' || r == '-' || r == '.' || r == '$' || r == '@' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// UseSudo makes the operation act with sudo (as root, or as the user set
// with Conn.As), for files the login user cannot read or write. Writes
// stream the content to a staging directory that sudo creates inside the
// target directory, then move each file into place with a rename, so they
// stay atomic; reads run tar under sudo. The sudo password flow is Sudo's:
// the password is sent on stdin, never on a command line. Paths are quoted;
// nothing given reaches a shell unquoted.
func UseSudo() FileOption { return func(o *fileOptions) { o.sudo = true } }

// Exclude leaves out of a tree (Put, Get, Sync) the files and directories
// whose path matches one of the patterns (path.Match syntax). A pattern
// without a slash matches a name at any depth ("*.pyc", ".git"); one with a
// slash matches the path relative to the tree's root ("static/cache",
// "logs/*.gz"). An excluded directory is left out whole. With Sync and
// Delete, excluded remote files are never deleted.
func Exclude(patterns ...string) FileOption {
	return func(o *fileOptions) {
		for _, p := range patterns {
			p = strings.Trim(p, "/")
			if _, err := path.Match(p, ""); err != nil || p == "" {
				o.err = fmt.Errorf("bad exclude pattern %q", p)
				return
			}
			o.exclude = append(o.exclude, p)
		}
	}
}

// Checksum makes Sync compare file contents by SHA-256 instead of by size
// and modification time: sha256sum runs on the remote host once, for all
// the files whose sizes match. (Template always compares whole contents.)
func Checksum() FileOption { return func(o *fileOptions) { o.checksum = true } }

// Delete makes Sync remove remote files and directories that do not exist
// locally (never outside the remote directory, and never excluded ones).
func Delete() FileOption { return func(o *fileOptions) { o.delete = true } }

// DryRun makes an operation report what it would write and delete
// (Transfer.Changed, Removed, Files, Bytes; DryRun set) without changing
// anything: Sync, Put, PutReader, Get, Template and the helpers.
func DryRun() FileOption { return func(o *fileOptions) { o.dryRun = true } }

// Overwrite lets Get replace local files and links that already exist.
// Without it Get refuses, before it writes anything, when a local path it
// would write is taken (fs.ErrExist), and a file appearing there while Get
// runs is not replaced either. Put, PutReader, Sync and Template replace
// remote files whatever the options: that is what they are for.
func Overwrite() FileOption { return func(o *fileOptions) { o.overwrite = true } }

// ShowDiff makes Template (and AppendLine and Replace) write a unified
// diff of the change to w before writing the file (nothing when the file
// is unchanged). The diff shows the file's content: do not use it for
// files that hold secrets.
func ShowDiff(w io.Writer) FileOption { return func(o *fileOptions) { o.diff = w } }

// Progress writes progress lines to w during transfers that last more than
// a second: "web1: put app.tar 45.0 MB/100.0 MB (45%) 52.3 MB/s", at most
// one a second, each ending in a newline, and a last one when the transfer
// ends. Writes to w are not concurrent within one operation.
func Progress(w io.Writer) FileOption { return func(o *fileOptions) { o.progress = w } }

// excluded reports whether the relative path rel (slash-separated, no
// leading slash) is excluded.
func (o *fileOptions) excluded(rel string) bool {
	if rel == "" || rel == "." {
		return false
	}
	base := path.Base(rel)
	for _, p := range o.exclude {
		var ok bool
		if strings.Contains(p, "/") {
			ok, _ = path.Match(p, rel)
		} else {
			ok, _ = path.Match(p, base)
		}
		if ok {
			return true
		}
	}
	return false
}

// excludedUnder reports whether rel or one of the directories above it is
// excluded (for listings that are not walked, like a tar archive).
func (o *fileOptions) excludedUnder(rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if o.excluded(p) {
			return true
		}
	}
	return false
}

// chownSpec is the owner for chown(1): "user:group", "user" or ":group".
func (o *fileOptions) chownSpec() string {
	switch {
	case o.user == "" && o.group == "":
		return ""
	case o.group == "":
		return o.user
	}
	return o.user + ":" + o.group
}

// fileOp is one running file operation.
type fileOp struct {
	c      *Conn
	name   string
	o      fileOptions
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

// newOp starts a file operation, or returns a Transfer with the reason it
// cannot (skipped after an earlier failure, or a bad scope or option).
func (c *Conn) newOp(name string, opts []FileOption) (*fileOp, *Transfer) {
	t := &Transfer{Host: c.h.name}
	if err := c.Err(); err != nil {
		t.Err = fmt.Errorf("%w: %w", ErrSkipped, err)
		return nil, t
	}
	op := &fileOp{c: c, name: name, t: t, start: time.Now(), finished: make(chan struct{})}
	for _, f := range opts {
		if f != nil {
			f(&op.o)
		}
	}
	var bad error
	switch {
	case c.sc.err != nil:
		bad = c.sc.err
	case op.o.err != nil:
		bad = op.o.err
	}
	if bad != nil {
		t.Err = &FileError{Host: c.h.name, Op: name, Err: bad}
		c.Fail(t.Err)
		return nil, t
	}
	op.ctx, op.cancel = c.Context(), func() {}
	if c.sc.timeout > 0 {
		op.ctx, op.cancel = context.WithTimeout(op.ctx, c.sc.timeout)
	}
	return op, t
}

// fs returns the connection's SFTP client. If the operation's context ends
// and the operation still has not returned 5 seconds later (a server that
// stopped answering), the client is closed so that the operation fails
// instead of hanging; the next operation opens a new one.
func (op *fileOp) fs() (*fsClient, error) {
	if op.fc != nil {
		return op.fc, nil
	}
	fc, err := op.c.sftp(op.ctx)
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
			op.c.h.files.drop(fc)
		}
	}()
	return fc, nil
}

// finish ends the operation: it records err (if any) on the Conn.
func (op *fileOp) finish(err error) *Transfer {
	close(op.finished)
	if op.prog != nil {
		op.prog.stop()
	}
	t := op.t
	t.Duration = time.Since(op.start)
	if err != nil {
		t.Err = op.fail("", "", err)
		op.c.Fail(t.Err)
	}
	op.cancel()
	return t
}

// finishErr is finish for the helpers that return an error.
func (op *fileOp) finishErr(err error) error { return op.finish(err).Err }

// fail wraps err with the paths it concerns.
func (op *fileOp) fail(local, remote string, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	if op.c.sc.timeout > 0 && errors.Is(err, context.DeadlineExceeded) && op.c.Context().Err() == nil {
		err = fmt.Errorf("timed out after %v: %w", op.c.sc.timeout, err)
	}
	return &FileError{Host: op.c.h.name, Op: op.name, Local: local, Remote: remote, Err: err}
}

// cmd returns a Conn for the operation's own commands: same connection and
// sudo user, the operation's context, but none of the caller's cd, env,
// prefixes, output streams or responders, and its own error state, so a
// failing step is reported once, as the operation's FileError.
func (op *fileOp) cmd(stdin io.Reader) *Conn {
	c := op.c
	h := &host{name: c.h.name, d: c.h.d, r: c.h.r, vars: c.h.vars}
	// No MaxOutput cap: a sudo Get reads whole files through stdout.
	return &Conn{h: h, sc: scope{ctx: op.ctx, user: c.sc.user, stdin: stdin, maxOutput: -1}}
}

// shell runs script (with sudo when the operation has UseSudo) and returns
// its result; stdin, if not nil, is the script's input.
func (op *fileOp) shell(script string, stdin io.Reader) *Result {
	if op.o.sudo {
		return op.cmd(stdin).SudoShell(script)
	}
	return op.cmd(stdin).Shell(script)
}

// ownerIDs resolves the Owner option to numeric ids for SFTP (writes
// without sudo), once per operation.
func (op *fileOp) ownerIDs() (*ids, error) {
	if op.o.user == "" && op.o.group == "" {
		return nil, nil
	}
	if op.owner != nil {
		return op.owner, nil
	}
	id := &ids{-1, -1}
	for _, x := range []struct {
		name, db string
		dst      *int
	}{{op.o.user, "passwd", &id.uid}, {op.o.group, "group", &id.gid}} {
		if x.name == "" {
			continue
		}
		if n, err := strconv.Atoi(x.name); err == nil {
			*x.dst = n
			continue
		}
		r := op.cmd(nil).Run("getent", x.db, x.name)
		f := strings.Split(r.Text(), ":")
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

// reader wraps r: reads stop with the context's error once it is done, and
// count towards progress.
func (op *fileOp) reader(r io.Reader) io.Reader { return &opReader{ctx: op.ctx, r: r, p: op.prog} }

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
func (op *fileOp) writer(w io.Writer) io.Writer { return &opWriter{ctx: op.ctx, w: w, p: op.prog} }

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
func (op *fileOp) startProgress(label string, total int64) {
	if op.o.progress == nil || op.o.dryRun {
		return
	}
	op.prog = newProgress(op.o.progress, op.c.h.name, op.name+" "+label, total)
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

// fileMode keeps what chmod sets of m: the permission bits and setuid,
// setgid and sticky, taken from Go's fs.ModeSetuid, fs.ModeSetgid and
// fs.ModeSticky or from the Unix bits 0o4000, 0o2000 and 0o1000.
func fileMode(m fs.FileMode) fs.FileMode {
	out := m.Perm() | m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	for unix, goBit := range map[fs.FileMode]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if m&unix != 0 {
			out |= goBit
		}
	}
	return out
}

// unixMode is m as chmod(1) and tar take it: 0o7777 bits.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// octal is m for chmod(1): "0644", "4755".
func octal(m fs.FileMode) string { return fmt.Sprintf("%04o", unixMode(m)) }

// hasMeta reports whether s holds glob metacharacters.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }
