//go:build linux

package sshmux_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/sshmux"
)

type streams struct {
	in, out, err   *os.File // the master's ends
	stdin          *os.File // ours
	stdout, stderr chan string
}

func newStreams(t *testing.T) *streams {
	t.Helper()
	s := &streams{stdout: make(chan string, 1), stderr: make(chan string, 1)}
	var or, er *os.File
	var err error
	if s.in, s.stdin, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	if or, s.out, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	if er, s.err, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	go func() { b, _ := io.ReadAll(or); or.Close(); s.stdout <- string(b) }()
	go func() { b, _ := io.ReadAll(er); er.Close(); s.stderr <- string(b) }()
	t.Cleanup(func() { s.stdin.Close() })
	return s
}

// passed closes our copies of the master's ends.
func (s *streams) passed() { s.in.Close(); s.out.Close(); s.err.Close() }

// The messages as a real OpenSSH master takes them: a command with its
// stdin, stdout, stderr and exit status; a pty; the sftp subsystem.
func TestRealMaster(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	srv.WriteSSHConfig(cfg, "target")
	m := srv.StartMaster(t, cfg, "target", filepath.Join(dir, "master.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	run := func(req sshmux.SessionRequest, stdin string) (int, string, string, *sshmux.Session) {
		t.Helper()
		c, err := sshmux.Dial(ctx, m.Socket)
		if err != nil {
			t.Fatal(err)
		}
		if c.PID != m.PID {
			t.Fatalf("alive check: pid %d, the master is %d", c.PID, m.PID)
		}
		st := newStreams(t)
		s, err := c.NewSession(ctx, req, st.in, st.out, st.err)
		if err != nil {
			t.Fatalf("%q: %v", req.Command, err)
		}
		st.passed()
		st.stdin.WriteString(stdin)
		st.stdin.Close()
		code, err := s.Wait()
		if err != nil {
			t.Fatalf("%q: wait: %v", req.Command, err)
		}
		return code, <-st.stdout, <-st.stderr, s
	}

	code, out, errs, _ := run(sshmux.SessionRequest{Command: "read l; echo out $l; echo err >&2; exit 3"}, "given\n")
	if code != 3 || out != "out given\n" || errs != "err\n" {
		t.Fatalf("command: %d %q %q", code, out, errs)
	}
	code, out, _, s := run(sshmux.SessionRequest{Command: "tty", TTY: true, Term: "xterm"}, "")
	if code != 0 || !strings.HasPrefix(out, "/dev/pts/") || s.TTYFailed() {
		t.Fatalf("tty: %d %q, alloc failed %v", code, out, s.TTYFailed())
	}
	// SSH_FXP_INIT version 3; the server answers SSH_FXP_VERSION (2).
	// (Its input ends only once it answered: sftp-server exits at the end
	// of its input without reading what came with it.)
	c, err := sshmux.Dial(ctx, m.Socket)
	if err != nil {
		t.Fatal(err)
	}
	inr, inw, _ := os.Pipe()
	outr, outw, _ := os.Pipe()
	s, err = c.NewSession(ctx, sshmux.SessionRequest{Command: "sftp", Subsystem: true}, inr, outw, outw)
	if err != nil {
		t.Fatal(err)
	}
	inr.Close()
	outw.Close()
	inw.Write([]byte{0, 0, 0, 5, 1, 0, 0, 0, 3})
	head := make([]byte, 5)
	if _, err := io.ReadFull(outr, head); err != nil || head[4] != 2 {
		t.Fatalf("sftp: % x %v", head, err)
	}
	inw.Close()
	s.Wait()
	outr.Close()
	if n := srv.Connections(); n != 1 {
		t.Fatalf("sshd accepted %d connections: the sessions did not all go through the master's", n)
	}
}
