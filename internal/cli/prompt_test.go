//go:build linux

package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/ptytest"
	"github.com/loomssh/loom/internal/sshdtest"
)

// ptyChild is the environment variable that makes TestPtyChild the loom
// command (or a scenario) on the pty its parent test gave it.
const ptyChild = "LOOM_TEST_PTY_CHILD"

type childSpec struct {
	Mode string   // "main": the loom command; "task": a group whose work prompts
	Args []string // the command line
}

// TestPtyChild is not a test: it is the process the pty tests start, with
// the pty as its controlling terminal.
func TestPtyChild(t *testing.T) {
	spec := os.Getenv(ptyChild)
	if spec == "" {
		t.Skip("the helper process of the pty tests")
	}
	var c childSpec
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(99)
	}
	switch c.Mode {
	case "main":
		os.Args = append([]string{"loom"}, c.Args...)
		os.Exit(Main())
	case "task":
		os.Exit(taskPromptScenario(c.Args))
	case "interrupt":
		os.Exit(interruptScenario())
	case "confirm":
		os.Exit(confirmScenario(c.Args))
	}
	os.Exit(98)
}

// groupScenario runs work on the hosts args select, as a host task runs:
// with the CLI's live output and progress line, on the pty.
func groupScenario(args []string, work func(c *loom.Conn) error) int {
	o, _, err := parseFlags(args, os.Stderr)
	if err != nil {
		return ExitUsage
	}
	env := Env{Stdout: os.Stdout, Stderr: os.Stderr, Prompt: loom.Terminal(), Progress: true}
	hosts, err := selectHosts(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return ExitUsage
	}
	e, err := newEngine(o, env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return ExitUsage
	}
	defer e.close()
	return e.runGroup(context.Background(), "task", e.group(hosts), func(*report) func(*loom.Conn) error { return work })
}

// taskPromptScenario: one host's work asks a question through
// loom.Terminal(), as a host task of a loomfile would.
func taskPromptScenario(args []string) int {
	return groupScenario(args, func(c *loom.Conn) error {
		if c.Host() == "h01" {
			a, err := loom.Terminal().Prompt(c.Context(), "Deploy to production? ", true)
			if err != nil {
				return err
			}
			if a != "yes" {
				return fmt.Errorf("answered %q", a)
			}
		}
		return c.Shell("echo done").Err
	})
}

// confirmScenario: every host asks the same loom.Confirm; the question
// must be asked once, and every host gets the answer.
func confirmScenario(args []string) int {
	return groupScenario(args, func(c *loom.Conn) error {
		ok, err := loom.Confirm(c.Context(), "Restart the app?")
		if err != nil || !ok {
			return fmt.Errorf("confirm: %v %v", ok, err)
		}
		return c.Shell("echo restarted").Err
	})
}

// interruptScenario asks for a passphrase through loom.Terminal() until
// Ctrl-C, then says whether the terminal echoes again, and reads the next
// line from the terminal itself.
func interruptScenario() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err := loom.Terminal().Prompt(ctx, "Passphrase: ", false)
	tty, terr := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if terr != nil {
		fmt.Println(terr)
		return 1
	}
	on, _ := ptytest.Echo(tty)
	fmt.Fprintf(tty, "prompt: %v; echo on: %v\n", err, on)
	line, _ := bufio.NewReader(tty).ReadString('\n')
	fmt.Fprintf(tty, "next line: %q\n", line)
	return 0
}

// ptyRun is the loom command (or a scenario) running on a pty.
type ptyRun struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	screen ptytest.Screen
	raw    bytes.Buffer
	more   chan struct{} // signalled when output arrived
	done   chan struct{} // closed when the output ended
}

func startPty(t *testing.T, spec childSpec) *ptyRun {
	t.Helper()
	master, slave, err := ptytest.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPtyChild$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") && !strings.HasPrefix(kv, "TERM=") && !strings.HasPrefix(kv, "NO_COLOR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, ptyChild+"="+string(js), "TERM=xterm", "NO_COLOR=1")
	if err := ptytest.Start(cmd, slave); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	r := &ptyRun{t: t, master: master, cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				r.mu.Lock()
				r.screen.Write(buf[:n])
				r.raw.Write(buf[:n])
				r.mu.Unlock()
				select {
				case r.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return // EIO once the child is gone
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		master.Close()
	})
	return r
}

// waitFor waits until cond holds for the screen, or fails the test.
func (r *ptyRun) waitFor(what string, timeout time.Duration, cond func(s *ptytest.Screen) bool) {
	r.t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ok := cond(&r.screen)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.more:
		case <-r.done:
			r.mu.Lock()
			ok := cond(&r.screen)
			r.mu.Unlock()
			if !ok {
				r.t.Fatalf("output ended before %s; the terminal shows:\n%s", what, r.String())
			}
			return
		case <-deadline:
			r.t.Fatalf("no %s within %v; the terminal shows:\n%s", what, timeout, r.String())
		}
	}
}

// holds checks that the line the cursor is on stays want for d: nothing
// draws over it (the wait is the user's slowness to answer).
func (r *ptyRun) holds(want string, d time.Duration) {
	r.t.Helper()
	end := time.After(d)
	for {
		r.mu.Lock()
		last := r.screen.Last()
		r.mu.Unlock()
		if last != want {
			r.t.Fatalf("the prompt was drawn over: the last line is %q, want %q; raw output:\n%q", last, want, r.raw.String())
		}
		select {
		case <-r.more:
		case <-r.done:
			r.t.Fatalf("output ended while the prompt waited:\n%s", r.String())
		case <-end:
			return
		}
	}
}

func (r *ptyRun) typeLine(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.master, s+"\n"); err != nil {
		r.t.Fatal(err)
	}
}

// exit waits for the process and returns its exit status.
func (r *ptyRun) exit() int {
	r.t.Helper()
	wait := make(chan error, 1)
	go func() { wait <- r.cmd.Wait() }()
	select {
	case err := <-wait:
		<-r.done
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			r.t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		r.t.Fatalf("loom did not exit; the terminal shows:\n%s", r.String())
	}
	return -1
}

func (r *ptyRun) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.screen.String()
}

// encryptedKey writes a passphrase-protected key and authorizes it on s.
func encryptedKey(t *testing.T, s *sshdtest.Server, path, passphrase string) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "pty test", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	f.Close()
}

// TestPassphrasePromptOnPty: fifty hosts on a real pty with an encrypted
// key. The passphrase prompt is asked once, stays on the terminal (the
// progress line neither overwrites it nor is drawn after it) while the
// user takes longer than the handshake deadline to answer, and then every
// host succeeds.
func TestPassphrasePromptOnPty(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	key := filepath.Join(t.TempDir(), "id_enc")
	encryptedKey(t, s, key, "open sesame")
	cfg := sshConfigFor(t, s, key)
	// --connect-timeout 5s: the handshake deadline is 10s, generous for
	// fifty sshd logins at once on a loaded machine, and the answer comes
	// 12s after the prompt, when every waiting host would have hit it.
	const hsTimeout = 10 * time.Second
	r := startPty(t, childSpec{Mode: "main", Args: []string{"-F", cfg, "-P", "50", "--connect-timeout", "5s", "-H", "h[01-50]", "--", "true"}})
	prompt := fmt.Sprintf("Enter passphrase for key '%s': ", key)
	r.waitFor("passphrase prompt", time.Minute, func(s *ptytest.Screen) bool { return strings.HasSuffix(s.Last(), prompt) })
	r.holds(prompt, hsTimeout+2*time.Second)
	r.typeLine("open sesame")
	code := r.exit()
	out := r.String()
	if code != ExitOK || !strings.Contains(out, "50 hosts in") || !strings.Contains(out, "50 ok") {
		t.Fatalf("exit %d; the terminal shows:\n%s", code, out)
	}
	if n := strings.Count(out, "Enter passphrase"); n != 1 {
		t.Errorf("the passphrase was asked %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "open sesame") {
		t.Errorf("the passphrase was echoed:\n%s", out)
	}
}

// TestTaskPromptOnPty: a question a host's work asks through
// loom.Terminal() (as a host task does) gets the same treatment: the
// progress line is cleared and not drawn over it until it is answered.
func TestTaskPromptOnPty(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := sshConfigFor(t, s, s.ClientKey)
	r := startPty(t, childSpec{Mode: "task", Args: []string{"-F", cfg, "-H", "h[01-05]", "--"}})
	const q = "Deploy to production? "
	r.waitFor("the task's question", time.Minute, func(s *ptytest.Screen) bool { return strings.HasSuffix(s.Last(), q) })
	r.holds(q, 2*time.Second) // eight redraws of the progress line
	r.typeLine("yes")
	if code := r.exit(); code != ExitOK {
		t.Fatalf("exit %d; the terminal shows:\n%s", code, r.String())
	}
	if out := r.String(); !strings.Contains(out, q+"yes\n") || !strings.Contains(out, "5 ok") {
		t.Fatalf("the answer was not shown where it was typed, or a host failed:\n%s", out)
	}
}

// TestConfirmOnPtyAskedOnce: a loom.Confirm in every host's work is asked
// once, held on screen while the progress line would redraw, and its answer
// reaches every host.
func TestConfirmOnPtyAskedOnce(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := sshConfigFor(t, s, s.ClientKey)
	r := startPty(t, childSpec{Mode: "confirm", Args: []string{"-F", cfg, "-H", "h[01-05]", "--"}})
	const q = "Restart the app? [y/N] "
	r.waitFor("the question", time.Minute, func(s *ptytest.Screen) bool { return strings.HasSuffix(s.Last(), q) })
	r.holds(q, 2*time.Second)
	r.typeLine("y")
	if code := r.exit(); code != ExitOK {
		t.Fatalf("exit %d; the terminal shows:\n%s", code, r.String())
	}
	out := r.String()
	if strings.Count(out, "Restart the app?") != 1 || strings.Count(out, "restarted") != 5 || !strings.Contains(out, "5 ok") {
		t.Fatalf("want the question once and 5 hosts restarted; the terminal shows:\n%s", out)
	}
}

// sshConfigFor writes an ssh_config in which h* all reach s, with key as
// their only identity.
func sshConfigFor(t *testing.T, s *sshdtest.Server, key string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	body := fmt.Sprintf("Host h*\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n"+
		"  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
		s.Host, s.Port, s.User, key, s.KnownHosts)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestPromptInterruptedOnPty: Ctrl-C at a passphrase prompt abandons it at
// once, with the terminal's echo back on, and the abandoned prompt does not
// take the next line typed.
func TestPromptInterruptedOnPty(t *testing.T) {
	r := startPty(t, childSpec{Mode: "interrupt"})
	r.waitFor("the prompt", time.Minute, func(s *ptytest.Screen) bool { return strings.HasSuffix(s.Last(), "Passphrase: ") })
	io.WriteString(r.master, "\x03")
	r.waitFor("the interrupted prompt", time.Minute, func(s *ptytest.Screen) bool { return strings.Contains(s.String(), "echo on: ") })
	r.typeLine("typed later")
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.String())
	}
	out := r.String()
	if !strings.Contains(out, "prompt: context canceled; echo on: true") || !strings.Contains(out, `next line: "typed later\n"`) {
		t.Fatalf("the terminal shows:\n%s", out)
	}
}

// TestBatchModeOnPty: with BatchMode nothing is asked, even on a terminal:
// each host fails at once with an error that names it and the question
// that was not asked.
func TestBatchModeOnPty(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	key := filepath.Join(t.TempDir(), "id_enc")
	encryptedKey(t, s, key, "open sesame")
	cfg := sshConfigFor(t, s, key)
	r := startPty(t, childSpec{Mode: "main", Args: []string{"-F", cfg, "-o", "BatchMode=yes", "-H", "h[1-3]", "--", "true"}})
	prompt := fmt.Sprintf("Enter passphrase for key '%s': ", key)
	r.waitFor("the end of the run", time.Minute, func(s *ptytest.Screen) bool {
		return strings.HasSuffix(s.Last(), prompt) || strings.Contains(s.String(), "loom: 3 hosts in")
	})
	out := r.String()
	if strings.HasSuffix(strings.TrimRight(out, "\n"), prompt) {
		t.Fatalf("asked under BatchMode:\n%s", out)
	}
	if code := r.exit(); code != ExitUnreachable {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitUnreachable, out)
	}
	want := fmt.Sprintf("BatchMode is set for h1, so Loom did not ask %q", strings.TrimSuffix(prompt, ": "))
	if !strings.Contains(out, want) || !strings.Contains(out, "h[1-3]") {
		t.Fatalf("the summary does not say what was not asked (want %s):\n%s", want, out)
	}
}
