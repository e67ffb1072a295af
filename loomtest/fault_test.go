//go:build unix

package loomtest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// short is how long a test waits to conclude that something does not happen.
const short = 300 * time.Millisecond

// isTimeout reports whether err is (or wraps) a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func TestFaultHangBeforeBanner(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: HangBeforeBanner})

	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "SSH-2.0-test\r\n")
	nc.SetReadDeadline(time.Now().Add(short))
	n, err := nc.Read(make([]byte, 100))
	if n != 0 || !isTimeout(err) {
		t.Errorf("read %d bytes, err %v; want nothing until the deadline", n, err)
	}

	start := time.Now()
	_, err = dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), short)
	if !isTimeout(err) {
		t.Errorf("handshake: err = %v, want a timeout", err)
	}
	if d := time.Since(start); d < short || d > short+2*time.Second {
		t.Errorf("handshake failed after %v, want about %v", d, short)
	}
}

func TestFaultHangInHandshake(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: HangInHandshake})

	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	r := bufio.NewReader(nc)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("banner %q, err %v", line, err)
	}
	io.WriteString(nc, "SSH-2.0-test\r\n")
	nc.SetReadDeadline(time.Now().Add(short))
	if n, err := r.Read(make([]byte, 100)); n != 0 || !isTimeout(err) {
		t.Errorf("after the banner: read %d bytes, err %v; want nothing (no KEXINIT)", n, err)
	}

	_, err = dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), short)
	if !isTimeout(err) {
		t.Errorf("handshake: err = %v, want a timeout", err)
	}
}

func TestFaultDropMidCommand(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: DropMidCommand})
	c := connect(t, s, key)

	// Keepalives are still answered before the drop.
	if ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil); !ok || err != nil {
		t.Errorf("keepalive before the drop: %v, %v", ok, err)
	}

	sess, out := startWithStdout(t, c, "echo first; sleep 1; touch not-reached; echo second")
	if got := readLine(t, out); got != "first" {
		t.Fatalf("first line %q", got)
	}
	start := time.Now()
	err := wait(t, sess, 5*time.Second)
	var ee *ssh.ExitError
	if err == nil || errors.As(err, &ee) {
		t.Errorf("Wait = %v, want an error without exit status", err)
	}
	if rest, _ := io.ReadAll(out); len(rest) != 0 {
		t.Errorf("output after the drop: %q", rest)
	}
	connDone := make(chan error, 1)
	go func() { connDone <- c.Wait() }()
	select {
	case <-connDone:
	case <-time.After(5 * time.Second):
		t.Fatal("client connection still up after the drop")
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("drop noticed after %v; the server must not wait for the command", d)
	}
	// The command was killed with the connection.
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(s.Dir(), "not-reached")); err == nil {
		t.Error("command kept running after the connection was dropped")
	}

	// A command without output: dropped when it exits, without status.
	c2 := connect(t, s, key)
	r := run(t, c2, "true", "")
	if r.err == nil || errors.As(r.err, &ee) {
		t.Errorf("silent command: err = %v, want an error without exit status", r.err)
	}
}

func TestFaultNoExitStatus(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: NoExitStatus})
	c := connect(t, s, key)
	r := run(t, c, "echo out; echo err >&2; exit 3", "")
	var missing *ssh.ExitMissingError
	if !errors.As(r.err, &missing) {
		t.Errorf("err = %v, want *ssh.ExitMissingError", r.err)
	}
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// The connection stays usable.
	if r := run(t, c, "true", ""); !errors.As(r.err, &missing) {
		t.Errorf("second command: err = %v", r.err)
	}
}

func TestFaultHangCommand(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: HangCommand, MaxSessions: 1})
	c := connect(t, s, key)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ := sess.StdoutPipe()
	stdin, _ := sess.StdinPipe()
	if err := sess.Start("touch ran; echo out"); err != nil {
		t.Fatalf("exec not accepted: %v", err)
	}
	io.WriteString(stdin, strings.Repeat("x", 1<<20)) // drained, not stalled
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(stdout)
		got <- b
	}()
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case b := <-got:
		t.Fatalf("output %q from a hung command", b)
	case err := <-waited:
		t.Fatalf("hung command ended: %v", err)
	case <-time.After(short):
	}

	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if !ok || err != nil {
		t.Errorf("keepalive while hung: %v, %v", ok, err)
	}
	if err := sess.Signal(ssh.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		t.Fatalf("hung command ended on a signal: %v", err)
	case <-time.After(short):
	}

	sess.Close()
	select {
	case <-waited:
	case <-time.After(testTimeout):
		t.Fatal("Wait did not return after Close")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "ran")); err == nil {
		t.Error("HangCommand ran the command")
	}
	// The slot (MaxSessions 1) was freed.
	sess2, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session after closing the hung one: %v", err)
	}
	sess2.Close()
}

func TestFaultRejectAuth(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: RejectAuth, Password: "pw"})
	for _, auth := range []ssh.AuthMethod{
		ssh.PublicKeys(key),
		ssh.Password("pw"),
		ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			return []string{"pw"}, nil
		}),
	} {
		c, err := dialTimeout(s.Addr(), clientConfig(s, "u", auth), testTimeout)
		if err == nil {
			c.Close()
			t.Errorf("authentication succeeded under RejectAuth")
		} else if !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("err = %v, want an authentication failure", err)
		}
	}
}

func TestFaultNoKeepaliveReply(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: NoKeepaliveReply})
	c, err := dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	replied := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		replied <- err
	}()
	select {
	case <-replied:
		t.Fatal("keepalive answered under NoKeepaliveReply")
	case <-time.After(short):
	}
	// Commands still work meanwhile.
	if r := run(t, c, "echo alive", ""); r.err != nil || r.stdout != "alive\n" {
		t.Errorf("command: %q, %v", r.stdout, r.err)
	}
	// Closing the client frees the pending request.
	c.Close()
	select {
	case err := <-replied:
		if err == nil {
			t.Error("pending keepalive returned no error after Close")
		}
	case <-time.After(testTimeout):
		t.Fatal("pending keepalive did not return after client Close")
	}
}

func TestFaultNoFaultBaseline(t *testing.T) {
	t.Parallel()
	// The checks above mean something only if a behaving server passes the
	// opposite checks.
	s, key := keyServer(t, Options{})
	c, err := dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), short)
	if err != nil {
		t.Fatalf("handshake with a behaving server within %v: %v", short, err)
	}
	defer c.Close()
	r := run(t, c, "echo out; exit 3", "")
	if exitCode(r.err) != 3 || r.stdout != "out\n" {
		t.Errorf("got %q, %v", r.stdout, r.err)
	}
}
