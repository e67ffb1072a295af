package loom

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/input"
	"github.com/loomssh/loom/internal/shellcmd"
	"github.com/loomssh/loom/internal/shquote"
	"github.com/loomssh/loom/internal/transport"
	"github.com/loomssh/loom/internal/watch"
)

// Result is what one command did.
type Result struct {
	Host     string
	Cmd      string // the command as given (before cd/env/prefix/sudo wrapping)
	Stdout   string
	Stderr   string
	ExitCode int    // -1 when the command did not exit normally
	Signal   string // the signal that killed it, without "SIG"
	Duration time.Duration
	// Truncated is set when the command printed more than the Conn's
	// MaxOutput on stdout or stderr: Stdout and Stderr hold the first
	// MaxOutput bytes of each.
	Truncated bool
	// Err is nil on success; an *ExitError, *TimeoutError, *SudoError, or an
	// error wrapping ErrConnLost, ErrNoExitStatus, ErrSkipped or a context
	// error otherwise.
	Err error
}

// OK reports whether the command succeeded.
func (r *Result) OK() bool { return r.Err == nil }

// Text returns stdout with surrounding white space trimmed: the answer of a
// command like `cat VERSION`.
func (r *Result) Text() string { return strings.TrimSpace(r.Stdout) }

// Quote quotes s for a POSIX shell (single quotes), for building Shell text.
func Quote(s string) string { return shquote.Quote(s) }

// Run runs a command given as separate arguments; each is quoted, so no
// argument is ever interpreted by the remote shell:
//
//	c.Run("git", "checkout", version)
//
// One thing is expanded, as the shell expands a bare word and as Cd, Put
// and Sync do: an argument "~" or starting with "~/" is the login user's
// home (under Sudo, the sudo user's), so c.Run("ls", "~/app") lists
// $HOME/app. "~user" and a ~ anywhere else are literal.
//
// Run("ls -l") runs a program named "ls -l": use Shell for shell syntax.
func (c *Conn) Run(args ...string) *Result {
	if len(args) == 0 {
		return c.fail("", errors.New("run: no command given"))
	}
	cmd := shellcmd.Join(args)
	return c.exec(cmd, cmd, simpleCommand(args[0]), false)
}

// Shell runs script with the remote user's shell (sh -c semantics): pipes,
// redirections, globs and variables work. Quote untrusted values with Quote.
func (c *Conn) Shell(script string) *Result {
	if strings.TrimSpace(script) == "" {
		return c.fail("", errors.New("shell: empty script"))
	}
	return c.exec(script, script, false, false)
}

// Sudo runs a command (arguments quoted as in Run) with sudo, as root or as
// the user set with As. The cd, env and prefix scopes apply inside sudo. If
// sudo asks for a password, the Dialer's SudoPassword is sent on stdin (or
// the Prompter asked, once per run); it never appears on a command line or
// in the output.
func (c *Conn) Sudo(args ...string) *Result {
	if len(args) == 0 {
		return c.fail("", errors.New("sudo: no command given"))
	}
	cmd := shellcmd.Join(args)
	return c.exec(cmd, "sudo "+cmd, simpleCommand(args[0]), true)
}

// SudoShell runs a shell script with sudo, like Sudo.
func (c *Conn) SudoShell(script string) *Result {
	if strings.TrimSpace(script) == "" {
		return c.fail("", errors.New("sudo: empty script"))
	}
	return c.exec(script, "sudo "+script, false, true)
}

// fail returns a Result for an operation that could not start.
func (c *Conn) fail(cmd string, err error) *Result {
	err = fmt.Errorf("%s: %w", c.h.name, err)
	c.Fail(err)
	return &Result{Host: c.h.name, Cmd: cmd, ExitCode: -1, Err: err}
}

// shellBuiltins cannot be exec'd; everything else run in argv form is, so
// that a signal reaches the program, not a shell in front of it.
var shellBuiltins = map[string]bool{
	".": true, ":": true, "alias": true, "bg": true, "break": true, "cd": true, "command": true,
	"continue": true, "eval": true, "exec": true, "exit": true, "export": true, "fg": true,
	"getopts": true, "hash": true, "jobs": true, "read": true, "readonly": true, "return": true,
	"set": true, "shift": true, "source": true, "times": true, "trap": true, "type": true,
	"ulimit": true, "umask": true, "unalias": true, "unset": true, "wait": true,
}

func simpleCommand(prog string) bool { return !shellBuiltins[prog] && !strings.ContainsAny(prog, "=") }

// shell is the scope as the command line composer sees it.
func (s *scope) shell() shellcmd.Scope {
	env := make([][2]string, len(s.env))
	for i, e := range s.env {
		env[i] = [2]string{e.name, e.value}
	}
	return shellcmd.Scope{Dir: s.dir, Env: env, Prefixes: s.prefixes, User: s.user}
}

// compose is the command line of cmd in the scope (shellcmd.Scope.Compose).
func (s *scope) compose(cmd string, simple bool, first ...string) string {
	return s.shell().Compose(cmd, simple, first...)
}

// sudoCommand is the command line of Sudo and SudoShell.
func (s *scope) sudoCommand(cmd string, simple bool, prompt, marker string) string {
	return s.shell().Sudo(cmd, simple, prompt, marker)
}

// sudoKey is where the run's sudo password is kept.
const sudoKey = "sudo"

func randomToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// exec runs one command in the Conn's scope and records its failure.
func (c *Conn) exec(cmd, display string, simple, sudo bool) *Result {
	start := time.Now()
	res := &Result{Host: c.h.name, Cmd: display, ExitCode: -1}
	if err := c.Err(); err != nil {
		res.Err = fmt.Errorf("%w: %w", ErrSkipped, err)
		return res
	}
	if c.sc.err != nil {
		return c.fail(display, c.sc.err)
	}
	if c.sc.user != "" && !sudo {
		return c.fail(display, fmt.Errorf("As(%q) applies to Sudo and SudoShell; this command would run as the login user: use Sudo, or a Conn without As", c.sc.user))
	}
	full := c.sc.compose(cmd, simple)
	if strings.IndexByte(full, 0) >= 0 {
		// sshd would drop the connection; a local exec would fail obscurely
		return c.fail(display, errors.New("a NUL byte in the command or its scope (an argument, directory, variable or prefix): it cannot be passed to a shell"))
	}
	if d := c.h.d; d != nil && d.Echo != nil {
		d.Echo(c.h.name, display)
	}

	ctx := c.Context()
	cancel := func() {}
	if c.sc.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.sc.timeout)
	}
	defer cancel()

	e := &execution{c: c, ctx: ctx, ready: make(chan struct{})}
	var tokens, sudoTokens []watch.Token
	if sudo {
		prompt := "[loom-sudo-" + randomToken() + "]"
		marker := "[loom-sudo-ok-" + randomToken() + "]"
		full = c.sc.sudoCommand(cmd, simple, prompt, marker)
		// sudo's prompt is answered, and the marker taken out, only until
		// the marker: after it the command runs, and the same text (from
		// ps, say) is its output, never a reason to send the password.
		// They are looked for only where sudo writes them (stderr; the one
		// stream of a pty), whose order the command cannot overtake.
		before := func() bool { return !e.sudoDone.Load() }
		sudoTokens = []watch.Token{
			{Text: prompt, OnMatch: e.sudoPrompt, Active: before},
			{Text: marker + "\n", OnMatch: e.sudoOK, Active: before},
			{Text: marker + "\r\n", OnMatch: e.sudoOK, Active: before}}
	}
	for _, key := range []string{sudoKey, "password"} {
		if s, ok := c.secrets().Lookup(key); ok && len(s) >= 4 {
			tokens = append(tokens, watch.Token{Text: s, Replace: "[redacted]"})
		}
	}
	outTokens, errTokens := tokens, append(sudoTokens, tokens...)
	if c.sc.pty {
		outTokens, errTokens = errTokens, tokens
	}
	var patterns []watch.Pattern
	for _, r := range c.sc.responders {
		answer := r.answer
		patterns = append(patterns, watch.Pattern{Re: r.re, OnMatch: func() { e.write(answer) }})
	}
	limit := c.sc.maxOutput
	if limit == 0 {
		limit = DefaultMaxOutput
	}
	outBuf, errBuf := newCapture(limit), newCapture(limit)
	var liveMu sync.Mutex // one lock for both streams: they may share a writer
	stdout := &watch.Writer{W: tee(outBuf, c.sc.stdout, &liveMu), Tokens: outTokens, Patterns: patterns}
	stderr := &watch.Writer{W: tee(errBuf, c.sc.stderr, &liveMu), Tokens: errTokens, Patterns: patterns}

	p, err := c.h.r.start(ctx, full, c.sc.pty, stdout, stderr)
	if err != nil {
		return c.record(res, start, fmt.Errorf("%s: %w", c.h.name, err))
	}
	e.p = p
	e.keepOpen = sudo || len(c.sc.responders) > 0
	close(e.ready)
	if !sudo {
		e.startStdin()
	}

	type waited struct {
		code int
		sig  string
		err  error
	}
	done := make(chan waited, 1)
	go func() {
		code, sig, err := p.wait()
		done <- waited{code, sig, err}
	}()
	var w waited
	select {
	case w = <-done:
	case <-ctx.Done():
		sig := ssh.SIGTERM
		if errors.Is(ctx.Err(), context.Canceled) {
			sig = ssh.SIGINT
		}
		p.signal(sig, c.sc.pty)
		// Stopping takes at most stopGrace, and ends by the end of the
		// host's turn (Group.HostTimeout) whatever the command does.
		kill, giveUp := stopTimes(ctx, time.Now())
		select {
		case w = <-done:
		case <-time.After(time.Until(kill)):
			p.kill()
			select {
			case w = <-done:
			case <-time.After(time.Until(giveUp)):
				// Gone as far as Loom is concerned (sshd answers the close
				// only once the command has exited): output that still
				// comes is dropped, not written while the Result is read.
				stdout.Stop()
				stderr.Stop()
				w = waited{code: -1}
			}
		}
		w.err = ctx.Err()
	}
	e.stopStdin()
	stdout.Flush()
	stderr.Flush()
	for _, w := range []io.Writer{c.sc.stdout, c.sc.stderr} {
		if ew, ok := w.(interface{ EndOfCommand() }); ok {
			ew.EndOfCommand() // a last line without a newline is shown now
		}
	}
	e.closeStdin()
	res.Stdout, res.Stderr = outBuf.String(), errBuf.String()
	res.Truncated = outBuf.dropped > 0 || errBuf.dropped > 0
	res.ExitCode, res.Signal = w.code, w.sig

	switch {
	case errors.Is(w.err, context.DeadlineExceeded) && c.sc.timeout > 0 && c.Context().Err() == nil:
		err = &TimeoutError{Host: c.h.name, Cmd: display, After: c.sc.timeout}
	case w.err != nil && ctx.Err() != nil:
		err = fmt.Errorf("%s: %s: %w", c.h.name, short(display), ctx.Err())
	case w.err != nil:
		err = fmt.Errorf("%s: %s: %w", c.h.name, short(display), w.err)
	case e.sudoErr != "":
		err = &SudoError{Host: c.h.name, Msg: e.sudoErr}
	case e.readErr() != nil:
		err = fmt.Errorf("%s: %s: reading its stdin: %w", c.h.name, short(display), e.readErr())
	case w.code != 0 || w.sig != "":
		if c.okCode(w.code) && w.sig == "" {
			break
		}
		err = &ExitError{Host: c.h.name, Cmd: display, Code: w.code, Signal: w.sig, Stderr: tail(errBuf.Last(), 3)}
		if c.sc.warn {
			res.Err = err
			c.record(res, start, nil)
			return res
		}
	}
	return c.record(res, start, err)
}

func (c *Conn) okCode(code int) bool {
	for _, ok := range c.sc.okCodes {
		if ok == code {
			return true
		}
	}
	return false
}

func (c *Conn) record(res *Result, start time.Time, err error) *Result {
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = err
		c.Fail(err)
	}
	c.h.mu.Lock()
	c.h.last = res
	c.h.mu.Unlock()
	return res
}

func (c *Conn) secrets() *transport.Secrets { return c.h.d.secrets() }

// execution is the state of one running command that output callbacks touch.
type execution struct {
	c        *Conn
	ctx      context.Context
	p        process
	ready    chan struct{} // closed once p is set
	keepOpen bool          // stdin stays open for sudo or responders

	mu       sync.Mutex
	closed   bool
	prompts  int
	sudoErr  string
	started  bool          // stdin copying started
	ended    bool          // the command ended: start no copying
	stopIn   func()        // ends a pending read of stdin
	inDone   chan struct{} // closed when the stdin copying ended
	stdinErr error         // reading stdin failed: the command saw a cut input
	sudoDone atomic.Bool   // sudo's marker passed: the command itself runs
}

func (e *execution) write(s string) {
	<-e.ready
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		io.WriteString(e.p.stdin(), s)
	}
}

func (e *execution) closeStdin() {
	<-e.ready
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		e.p.stdin().Close()
	}
}

// startStdin forwards the caller's stdin, or closes stdin when there is none
// (and no responder needs it), so commands that read stdin see EOF.
func (e *execution) startStdin() {
	e.mu.Lock()
	if e.started || e.ended {
		e.mu.Unlock()
		return
	}
	e.started = true
	in := e.c.sc.stdin
	if in == nil && e.c.sc.input != nil {
		in = e.c.sc.input.Reader()
	}
	respond := len(e.c.sc.responders) > 0
	if in == nil {
		e.mu.Unlock()
		if !respond {
			e.closeStdin()
		}
		return
	}
	rd, stop, waits := input.Stoppable(in)
	e.stopIn, e.inDone = stop, make(chan struct{})
	if !waits {
		close(e.inDone) // nothing to wait for: a pending Read cannot be ended
	}
	e.mu.Unlock()
	go func() {
		if waits {
			defer close(e.inDone)
		}
		buf := make([]byte, 32*1024)
		for {
			n, err := rd.Read(buf)
			if n > 0 {
				e.write(string(buf[:n]))
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, input.ErrStopped) && !errors.Is(err, io.ErrClosedPipe) {
					e.mu.Lock()
					e.stdinErr = err
					e.mu.Unlock()
				}
				break
			}
		}
		if !respond {
			e.closeStdin()
		}
	}()
}

func (e *execution) readErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stdinErr
}

// stopStdin ends the copying of stdin once the command has ended: a Read
// pending in the source is ended (where it can be) and waited for, so that
// no input meant for what reads the source next is taken.
func (e *execution) stopStdin() {
	e.mu.Lock()
	e.ended = true
	stop, done := e.stopIn, e.inDone
	e.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // never hang on a reader that ignores the stop
	}
}

// sudoPrompt answers sudo's password prompt. A second prompt means the
// password was wrong: stdin is closed so sudo gives up instead of waiting.
func (e *execution) sudoPrompt() {
	e.mu.Lock()
	e.prompts++
	n := e.prompts
	e.mu.Unlock()
	if n > 1 {
		e.setSudoErr("incorrect password")
		go e.closeStdin()
		return
	}
	go func() {
		pw, err := e.c.secrets().Get(e.ctx, sudoKey, fmt.Sprintf("[sudo] password for %s: ", e.c.h.name))
		if err != nil {
			if errors.Is(err, transport.ErrNoTerminal) {
				e.setSudoErr("a password is required and none was given (no terminal to ask on)")
			} else {
				e.setSudoErr("password: " + err.Error())
			}
			e.closeStdin()
			return
		}
		e.write(pw + "\n")
	}()
}

func (e *execution) setSudoErr(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sudoErr == "" {
		e.sudoErr = msg
	}
}

// sudoOK runs when the command inside sudo has started: sudo is done with
// stdin, so the caller's input may flow.
func (e *execution) sudoOK() {
	e.sudoDone.Store(true)
	go e.startStdin()
}

// tee writes to the capture buffer and, if set, the live stream; writes to
// the live stream hold mu.
func tee(capture io.Writer, live io.Writer, mu *sync.Mutex) io.Writer {
	if live == nil {
		return capture
	}
	return io.MultiWriter(capture, &lockedWriter{mu: mu, w: live})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
