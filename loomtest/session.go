package loomtest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// session is one session channel.
type session struct {
	cn *conn
	ch ssh.Channel

	// Touched only by the goroutine reading the channel's requests.
	env     []string // from env requests
	pty     bool
	term    string
	started bool // exec or shell accepted

	releaseOnce sync.Once

	mu       sync.Mutex
	proc     *os.Process // running command; nil before exec
	finished bool        // proc has been reaped
	files    []*os.File  // our ends of the command's pipes, closed by abort
}

// Payloads of the channel requests the server understands (RFC 4254).
type (
	envReq struct {
		Name, Value string
	}
	ptyReq struct {
		Term                      string
		Cols, Rows, Width, Height uint32
		Modes                     string
	}
	execReq struct {
		Command string
	}
	signalReq struct {
		Signal string
	}
	exitStatusMsg struct {
		Status uint32
	}
	exitSignalMsg struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}
)

// serveSession runs one session channel until the channel is closed or the
// connection goes away. The caller has taken a session slot.
func (cn *conn) serveSession(nc ssh.NewChannel) {
	defer cn.s.wg.Done()
	ch, reqs, err := nc.Accept()
	if err != nil {
		cn.release()
		return
	}
	ss := &session{cn: cn, ch: ch}
	for req := range reqs {
		ss.handle(req)
	}
	// The channel is closed on both sides, or the connection is gone:
	// free the slot first (the client may already be opening the next
	// session), then kill whatever still runs.
	ss.release()
	ss.abort()
	ch.Close()
}

// release frees the session's slot, once.
func (ss *session) release() {
	ss.releaseOnce.Do(ss.cn.release)
}

// handle answers one channel request.
func (ss *session) handle(req *ssh.Request) {
	s := ss.cn.s
	ok := false
	switch req.Type {
	case "env":
		var r envReq
		if ssh.Unmarshal(req.Payload, &r) == nil && !ss.started {
			ss.env = append(ss.env, r.Name+"="+r.Value)
			ok = true
		}
	case "pty-req":
		var r ptyReq
		if ssh.Unmarshal(req.Payload, &r) == nil && !ss.started {
			ss.pty, ss.term = true, r.Term
			ok = true
		}
	case "window-change":
		ok = true
	case "exec", "shell":
		var r execReq
		if req.Type == "exec" && ssh.Unmarshal(req.Payload, &r) != nil {
			break
		}
		if ss.started {
			break
		}
		launch := ss.start(req.Type, r.Command)
		if launch == nil {
			break
		}
		ss.started = true
		// Reply before any output or exit-status can be sent: a client
		// waiting for this reply must get it before the channel closes.
		req.Reply(true, nil)
		launch()
		return
	case "signal":
		var r signalReq
		if ssh.Unmarshal(req.Payload, &r) == nil {
			ok = ss.signal(r.Signal)
		}
	case "subsystem":
		var r execReq // one string: the subsystem's name
		if ssh.Unmarshal(req.Payload, &r) != nil || r.Command != "sftp" || ss.started || s.opts.NoSFTP {
			break
		}
		ss.started = true
		req.Reply(true, nil)
		ss.serveSFTP()
		return
	case "auth-agent-req@openssh.com":
		ok = ss.cn.requestAgent()
	case "keepalive@openssh.com":
		if s.opts.Fault == NoKeepaliveReply {
			return
		}
		ok = true
	default:
		// x11-req and anything unknown.
		s.logf("loomtest: %s: refusing %q request", ss.cn.raw.RemoteAddr(), req.Type)
	}
	req.Reply(ok, nil)
}

// start prepares the program of an exec or shell request and returns a
// function that sets it going, or nil if it could not be started.
func (ss *session) start(kind, command string) (launch func()) {
	s := ss.cn.s
	remote := ss.cn.raw.RemoteAddr()
	if kind == "exec" {
		s.logf("loomtest: %s: exec %q", remote, command)
	} else {
		s.logf("loomtest: %s: shell", remote)
	}
	if s.opts.Fault == HangCommand {
		s.logf("loomtest: %s: not running it (HangCommand)", remote)
		return func() {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				io.Copy(io.Discard, ss.ch)
			}()
		}
	}

	args := []string{}
	if kind == "exec" {
		args = append(args, "-c", command)
	}
	cmd := exec.Command(s.shell, args...)
	cmd.Dir = s.dir
	cmd.Env = ss.environ()
	cmd.SysProcAttr = procAttr()

	// Pipes of our own rather than exec's: exec.Cmd.Wait would wait for a
	// goroutine copying stdin until the client sends EOF. With a "pty",
	// stdout and stderr share one pipe, as they would share a terminal.
	n := 3
	if ss.pty {
		n = 2
	}
	r, w, err := pipes(n)
	if err != nil {
		s.logf("loomtest: %s: %v", remote, err)
		return nil
	}
	stdinW, stdoutR, stderrR := w[0], r[1], r[n-1]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r[0], w[1], w[n-1]
	parent := append([]*os.File{w[0]}, r[1:]...)
	child := append([]*os.File{r[0]}, w[1:]...)

	err = cmd.Start()
	closeFiles(child)
	if err != nil {
		s.logf("loomtest: %s: %v", remote, err)
		closeFiles(parent)
		return nil
	}
	ss.mu.Lock()
	ss.proc = cmd.Process
	ss.files = parent
	ss.mu.Unlock()
	if !s.trackSession(ss, true) {
		// Close has begun and will not see this command.
		ss.abort()
	}

	return func() {
		s.wg.Add(2)
		go ss.pumpStdin(stdinW)
		go ss.run(cmd, stdoutR, stderrR)
	}
}

// pipes creates n pipes and returns their read ends and their write ends.
func pipes(n int) (r, w []*os.File, err error) {
	for range n {
		pr, pw, err := os.Pipe()
		if err != nil {
			closeFiles(r)
			closeFiles(w)
			return nil, nil, err
		}
		r, w = append(r, pr), append(w, pw)
	}
	return r, w, nil
}

// closeFiles closes every file in fs.
func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// environ returns the environment of the session's command.
func (ss *session) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "SSH_AUTH_SOCK", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY":
			continue
		}
		env = append(env, kv)
	}
	r, rok := ss.cn.raw.RemoteAddr().(*net.TCPAddr)
	l, lok := ss.cn.raw.LocalAddr().(*net.TCPAddr)
	if rok && lok {
		env = append(env,
			"SSH_CLIENT="+r.IP.String()+" "+strconv.Itoa(r.Port)+" "+strconv.Itoa(l.Port),
			"SSH_CONNECTION="+r.IP.String()+" "+strconv.Itoa(r.Port)+" "+l.IP.String()+" "+strconv.Itoa(l.Port))
	}
	if sock := ss.cn.agentSocket(); sock != "" {
		env = append(env, "SSH_AUTH_SOCK="+sock)
	}
	env = append(env, ss.cn.s.opts.Env...)
	if ss.pty && ss.term != "" {
		env = append(env, "TERM="+ss.term)
	}
	return append(env, ss.env...)
}

// pumpStdin copies client data to the command's stdin and closes it at
// client EOF. If the command stops reading, client data is still drained so
// the client never stalls on a full window.
func (ss *session) pumpStdin(w *os.File) {
	defer ss.cn.s.wg.Done()
	_, err := io.Copy(w, ss.ch)
	w.Close()
	if err != nil {
		io.Copy(io.Discard, ss.ch)
	}
}

// run forwards the command's output, waits for it, and reports how it ended.
func (ss *session) run(cmd *exec.Cmd, stdout, stderr *os.File) {
	s := ss.cn.s
	defer s.wg.Done()

	var copies sync.WaitGroup
	copies.Add(1)
	go func() {
		defer copies.Done()
		ss.forward(ss.ch, stdout)
	}()
	if stderr != stdout {
		copies.Add(1)
		go func() {
			defer copies.Done()
			ss.forward(ss.ch.Stderr(), stderr)
		}()
	}
	copies.Wait()
	cmd.Wait()
	ss.mu.Lock()
	ss.finished = true
	ss.mu.Unlock()
	s.trackSession(ss, false)
	stdout.Close()
	stderr.Close()

	code, sig, core := exitInfo(cmd.ProcessState)
	remote := ss.cn.raw.RemoteAddr()
	if sig != "" {
		s.logf("loomtest: %s: command killed by signal %s", remote, sig)
	} else {
		s.logf("loomtest: %s: command exited with status %d", remote, code)
	}
	switch s.opts.Fault {
	case DropMidCommand:
		ss.cn.drop()
		return
	case NoExitStatus:
		s.logf("loomtest: %s: not sending exit status (NoExitStatus)", remote)
	case MalformedExitStatus, ExitStatusOutOfRange:
		ss.sendBogusExitStatus()
	default:
		if sig != "" {
			ss.ch.SendRequest("exit-signal", false, ssh.Marshal(exitSignalMsg{Signal: sig, CoreDumped: core}))
		} else {
			ss.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatusMsg{Status: uint32(code)}))
		}
	}
	ss.ch.CloseWrite()
	// Free the slot before the client can see the close.
	ss.release()
	ss.ch.Close()
}

// forward copies one output stream of the command to the channel until the
// command and everything it started have closed it. If the channel cannot
// take more, the rest is read and discarded so the command never blocks.
func (ss *session) forward(dst io.Writer, src *os.File) {
	buf := make([]byte, 32*1024)
	discard := false
	first := true // SlowOutput: the first byte goes at once
	for {
		n, err := src.Read(buf)
		if n > 0 && !discard {
			if ss.cn.s.opts.Fault == SlowOutput {
				discard = !ss.trickle(dst, buf[:n], &first)
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				discard = true
			} else if ss.cn.s.opts.Fault == DropMidCommand {
				ss.cn.drop()
				discard = true
			}
		}
		if err != nil {
			return
		}
	}
}

// signal delivers the named signal to the command's process group.
func (ss *session) signal(name string) bool {
	sig, ok := signals[name]
	if !ok {
		ss.cn.s.logf("loomtest: unknown signal %q", name)
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.proc == nil || ss.finished {
		return false
	}
	ss.cn.s.logf("loomtest: %s: signal %s", ss.cn.raw.RemoteAddr(), name)
	return signalGroup(ss.proc, sig) == nil
}

// abort kills the command's process group, if it still runs, and closes our
// ends of its pipes, so that every goroutine serving the session ends.
func (ss *session) abort() {
	ss.mu.Lock()
	if ss.proc != nil && !ss.finished {
		signalGroup(ss.proc, killSignal)
	}
	files := ss.files
	ss.mu.Unlock()
	closeFiles(files)
}
