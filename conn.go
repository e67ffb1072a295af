package loom

import (
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/transport"
)

// Conn is one host: one SSH connection (or the local machine, see Local),
// and a scope — working directory, environment, prefixes, timeout and the
// other settings below — that its operations run in.
//
// Scope methods (Cd, Env, Prefix, As, Timeout, Warn, ...) return a new Conn
// that shares the connection and the error state, so they nest and can be
// kept in variables:
//
//	app := c.Cd("/srv/app").Env("RAILS_ENV", "production")
//	app.Run("bundle", "exec", "rake", "db:migrate")
//	app.Sudo("systemctl", "restart", "app")
//	return c.Err()
//
// # Errors
//
// Every operation returns a *Result that carries its error. The first
// failure is also kept by the Conn: later operations on it (or on any Conn
// derived from it) do not run and return ErrSkipped wrapping that failure,
// the way a fabfile aborts at the first failing command. So a task can run
// ten commands in ten lines and check Err once at the end. Use Warn or
// OkExit for commands whose failure is expected, and ResetErr to go on
// after handling one.
type Conn struct {
	h  *host
	sc scope
}

// host is what every Conn derived from one connection shares.
type host struct {
	name      string
	d         *Dialer
	r         runner                                           // runs its commands
	tc        *transport.Client                                // the SSH connection; nil for Local
	redial    func(context.Context) (*transport.Client, error) // a new connection to the same host (Reconnect)
	direct    func(context.Context) (*transport.Client, error) // a connection of its own, for a Conn whose commands go through a holder or an OpenSSH master (Interactive)
	failsWith *host                                            // whose error state this host's operations share (Conn.Local), or nil
	ownDialer bool
	vars      map[string]string

	mu   sync.Mutex
	err  error
	last *Result // the latest operation's result, for Group's HostResult

	files sftpSlot // the SFTP client of file operations, opened on first use (files_host.go)

	taken time.Time // when a shared connection was taken (dialer_share.go); zero if not shared
}

// scope is the per-Conn context operations run in. It is copied on every
// scope method, so derived Conns never affect each other.
type scope struct {
	ctx        context.Context
	dir        string
	env        []envVar
	prefixes   []string
	user       string // sudo -u
	timeout    time.Duration
	warn       bool
	okCodes    []int
	pty        bool
	stdin      io.Reader
	input      *Input // replayed to every command when stdin is nil (Group.Stdin)
	stdout     io.Writer
	stderr     io.Writer
	responders []responder
	maxOutput  int   // bytes of each stream a Result keeps; 0: DefaultMaxOutput
	err        error // a bad scope argument, reported by the next operation
}

type envVar struct{ name, value string }

type responder struct {
	re     *regexp.Regexp
	answer string
}

// newConn returns a Conn of host name run by r over tc (nil for Local).
func newConn(name string, d *Dialer, r runner, tc *transport.Client) *Conn {
	return &Conn{h: &host{name: name, d: d, r: r, tc: tc}}
}

// Host returns the host's name as the user gave it ("local" for Local).
func (c *Conn) Host() string { return c.h.name }

// Client returns the underlying SSH client, for what Loom does not do
// itself (SFTP, say). It is nil for Local.
func (c *Conn) Client() *ssh.Client {
	if c.h.tc == nil {
		return nil
	}
	return c.h.tc.Client
}

// Close closes the connection. Conns derived by scope methods share it. A
// connection of a Dialer with ShareConnections is left open for the
// Dialer's next Conn of the host: the Dialer's Close closes it.
func (c *Conn) Close() error {
	c.h.files.close()
	err := c.h.r.close()
	if c.h.ownDialer {
		c.h.d.Close()
	}
	return err
}

// Err returns the first error of any operation on this host, or nil.
func (c *Conn) Err() error {
	st := c.h.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// ResetErr forgets the recorded failure, so that operations run again.
func (c *Conn) ResetErr() {
	st := c.h.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.err = nil
}

// Fail records err as the host's failure (if none is recorded yet) and
// returns it: a task can stop the host with a reason of its own.
func (c *Conn) Fail(err error) error {
	st := c.h.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil {
		st.err = err
	}
	return st.err
}

// state is the host whose error state this one's operations record: its
// own, or, for the Conn of Conn.Local, the remote host's.
func (h *host) state() *host {
	if h.failsWith != nil {
		return h.failsWith
	}
	return h
}

// Local returns a Conn for this machine that shares this host's failure:
// a failing local step (a build, say) stops the host's later operations as
// a failing remote one does, and a failure on the host skips later local
// steps, so a host task reads as one script:
//
//	c.Local().Run("make", "dist")
//	c.Put("dist/app.tar.gz", "/srv/app/")
//	c.Sudo("systemctl", "restart", "app")
//	return c.Err()
//
// It shows its output like loom.Local, and runs with c's context.
func (c *Conn) Local() *Conn {
	l := Local()
	l.h.failsWith = c.h.state()
	l.sc.ctx = c.sc.ctx
	return l
}

func (c *Conn) with(f func(*scope)) *Conn {
	n := &Conn{h: c.h, sc: c.sc}
	// copy slices so appends never alias between Conns
	n.sc.env = append([]envVar(nil), c.sc.env...)
	n.sc.prefixes = append([]string(nil), c.sc.prefixes...)
	n.sc.okCodes = append([]int(nil), c.sc.okCodes...)
	n.sc.responders = append([]responder(nil), c.sc.responders...)
	f(&n.sc)
	return n
}

// Cd returns a Conn whose commands run in dir. A relative dir is joined to
// the current one, so Cd("/srv").Cd("app") runs in /srv/app. A leading ~
// is the login user's home. It applies to Sudo too.
func (c *Conn) Cd(dir string) *Conn {
	return c.with(func(s *scope) {
		if s.dir != "" && !path.IsAbs(dir) && !isHome(dir) {
			dir = path.Join(s.dir, dir)
		}
		s.dir = dir
	})
}

func isHome(dir string) bool { return dir == "~" || len(dir) > 1 && dir[:2] == "~/" }

// Env returns a Conn whose commands see the environment variable name=value.
// Variables are set in the command line itself (sshd refuses most setenv
// requests), so they apply to Sudo too.
func (c *Conn) Env(name, value string) *Conn {
	return c.with(func(s *scope) {
		if !validEnvName(name) {
			s.err = fmt.Errorf("invalid environment variable name %q", name)
			return
		}
		for i := range s.env {
			if s.env[i].name == name {
				s.env[i].value = value
				return
			}
		}
		s.env = append(s.env, envVar{name, value})
	})
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Prefix returns a Conn whose commands run after the shell command cmd
// succeeds, like Fabric's prefix ("source venv/bin/activate", say). Prefixes
// nest in order and apply to Sudo too. cmd is shell text: quote what it
// interpolates with Quote.
func (c *Conn) Prefix(cmd string) *Conn {
	return c.with(func(s *scope) { s.prefixes = append(s.prefixes, cmd) })
}

// As returns a Conn whose Sudo and SudoShell run commands as user instead
// of root (and whose file operations with UseSudo read and write as user).
// Run and Shell on such a Conn are an error rather than running as the
// login user unasked.
func (c *Conn) As(user string) *Conn {
	return c.with(func(s *scope) { s.user = user })
}

// WithContext returns a Conn whose operations stop when ctx is done: the
// remote command is signalled, then its channel closed.
func (c *Conn) WithContext(ctx context.Context) *Conn {
	return c.with(func(s *scope) { s.ctx = ctx })
}

// Context returns the Conn's context (context.Background if none was set).
func (c *Conn) Context() context.Context {
	if c.sc.ctx != nil {
		return c.sc.ctx
	}
	return context.Background()
}

// Timeout returns a Conn whose commands are stopped after d (each command
// separately). Zero means no timeout; a negative d is an error, reported
// by the next operation.
func (c *Conn) Timeout(d time.Duration) *Conn {
	return c.with(func(s *scope) {
		if d < 0 {
			s.err = fmt.Errorf("timeout %v: want a positive duration (0: no limit)", d)
			return
		}
		s.timeout = d
	})
}

// Warn returns a Conn on which a non-zero exit status is not a failure: the
// Result still has the code and an ExitError, but the Conn does not stop.
func (c *Conn) Warn() *Conn {
	return c.with(func(s *scope) { s.warn = true })
}

// OkExit returns a Conn on which the given exit codes (as well as 0) count
// as success, e.g. OkExit(1) for grep.
func (c *Conn) OkExit(codes ...int) *Conn {
	return c.with(func(s *scope) { s.okCodes = append(s.okCodes, codes...) })
}

// Pty returns a Conn whose commands get a pseudo-terminal. Some programs
// need one; its output then has stdout and stderr merged and \r\n line ends.
func (c *Conn) Pty() *Conn {
	return c.with(func(s *scope) { s.pty = true })
}

// Stdin returns a Conn whose commands read r as their standard input. Without
// it commands read an empty input. Use a fresh Conn (or reader) per command.
// Copying stops when the command ends: a read pending in r then is ended
// when r is an *os.File (on Unix: os.Stdin, a pipe, a terminal), so the
// next line typed on the terminal goes to what reads it next, not to the
// finished command; another reader that blocks keeps its goroutine until
// its Read returns. A failing Read (not io.EOF) fails the command.
func (c *Conn) Stdin(r io.Reader) *Conn {
	return c.with(func(s *scope) { s.stdin, s.input = r, nil })
}

// Stream returns a Conn whose commands' output is copied to stdout and
// stderr as it arrives, as well as being captured in the Result. Either may
// be nil.
func (c *Conn) Stream(stdout, stderr io.Writer) *Conn {
	return c.with(func(s *scope) { s.stdout, s.stderr = stdout, stderr })
}

// Quiet returns a Conn whose commands' output is kept in their Results
// and not shown live: for look-ups a task reads rather than shows, such as
// `c.Quiet().Run("readlink", "current").Stdout` in a Group whose hosts'
// output is printed. It is Stream(nil, nil).
func (c *Conn) Quiet() *Conn { return c.Stream(nil, nil) }

// Respond returns a Conn that answers prompts: each time the regular
// expression pattern matches the command's output, answer is written to its
// stdin (add "\n" to send Enter). Stdin stays open while a responder is set.
func (c *Conn) Respond(pattern, answer string) *Conn {
	return c.with(func(s *scope) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			s.err = fmt.Errorf("respond: bad pattern %q: %v", pattern, err)
			return
		}
		s.responders = append(s.responders, responder{re, answer})
	})
}
