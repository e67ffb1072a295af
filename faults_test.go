package loom_test

// Edge cases a real sshd can't be made to show on demand, against the
// in-process server of package loomtest.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/loomtest"
)

// faulty starts a loomtest server with fault f and a Dialer for it, named "h".
func faulty(t *testing.T, f loomtest.Fault, extra string) (*loomtest.Server, *loom.Dialer) {
	t.Helper()
	key := mustEd25519(t)
	signer, _ := ssh.NewSignerFromKey(key)
	s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}, Fault: f})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey())+"\n"), 0o600)
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host h\n  HostName %s\n  Port %d\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n%s", s.Host(), s.Port(), kh, extra)), 0o600)
	d := &loom.Dialer{ConfigFile: cfg, Signers: []ssh.Signer{signer}, AgentSocket: "/nonexistent", ConnectTimeout: 500 * time.Millisecond}
	t.Cleanup(func() { d.Close() })
	return s, d
}

func TestHangingHandshakeTimesOut(t *testing.T) {
	for _, f := range []loomtest.Fault{loomtest.HangBeforeBanner, loomtest.HangInHandshake} {
		t.Run(f.String(), func(t *testing.T) {
			_, d := faulty(t, f, "")
			start := time.Now()
			_, err := d.Dial(context.Background(), "h")
			var ce *loom.ConnectError
			if !errors.As(err, &ce) || ce.Reason != loom.ReasonTimeout {
				t.Fatalf("got %v, want a timeout ConnectError", err)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("took %v with a 500ms connect timeout (1s handshake)", el)
			}
		})
	}
}

func TestDialCancelledDuringHandshake(t *testing.T) {
	_, d := faulty(t, loomtest.HangBeforeBanner, "")
	d.ConnectTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := d.Dial(ctx, "h")
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestUnreachableAndAuthFailure(t *testing.T) {
	addr := refusedAddr(t)
	d := &loom.Dialer{ConfigFile: "none", HostKeyCheck: loom.InsecureIgnoreHostKeys}
	_, err := d.Dial(context.Background(), addr)
	var ce *loom.ConnectError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonUnreachable || !strings.Contains(err.Error(), addr) {
		t.Fatalf("closed port: %v", err)
	}
	_, d = faulty(t, loomtest.RejectAuth, "")
	_, err = d.Dial(context.Background(), "h")
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonAuth {
		t.Fatalf("rejected auth: %v", err)
	}
}

func TestDropMidCommand(t *testing.T) {
	_, d := faulty(t, loomtest.DropMidCommand, "")
	c, err := d.Dial(context.Background(), "h")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.Timeout(20 * time.Second).Shell("echo first; sleep 30; echo never")
	if !errors.Is(r.Err, loom.ErrConnLost) {
		t.Fatalf("got %v (stdout %q), want ErrConnLost", r.Err, r.Stdout)
	}
}

func TestNoExitStatus(t *testing.T) {
	_, d := faulty(t, loomtest.NoExitStatus, "")
	c, err := d.Dial(context.Background(), "h")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.Run("echo", "hi")
	if !errors.Is(r.Err, loom.ErrNoExitStatus) || r.Stdout != "hi\n" {
		t.Fatalf("got %v %q, want ErrNoExitStatus with the output", r.Err, r.Stdout)
	}
}

func TestHungCommandTimeout(t *testing.T) {
	_, d := faulty(t, loomtest.HangCommand, "")
	c, err := d.Dial(context.Background(), "h")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	r := c.Timeout(300 * time.Millisecond).Run("true")
	var te *loom.TimeoutError
	if !errors.As(r.Err, &te) || time.Since(start) > 10*time.Second {
		t.Fatalf("got %v after %v", r.Err, time.Since(start))
	}
}

func TestKeepaliveClosesDeadConnection(t *testing.T) {
	_, d := faulty(t, loomtest.NoKeepaliveReply, "  ServerAliveInterval 1\n  ServerAliveCountMax 2\n")
	c, err := d.Dial(context.Background(), "h")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	r := c.Run("sleep", "60")
	if !errors.Is(r.Err, loom.ErrConnLost) || !strings.Contains(r.Err.Error(), "keepalive") {
		t.Fatalf("got %v", r.Err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("dead connection noticed after %v", el)
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	l := loom.Local()
	r := l.Cd(dir).Env("X", "a b").Shell(`echo "$PWD $X"`)
	if r.Text() != dir+" a b" {
		t.Fatalf("local: %q %v", r.Stdout, r.Err)
	}
	if r := l.Warn().Run("false"); r.ExitCode != 1 || r.Err == nil || l.Err() != nil {
		t.Fatalf("local false: %+v", r)
	}
	start := time.Now()
	r = l.Timeout(200*time.Millisecond).Run("sleep", "30")
	var te *loom.TimeoutError
	if !errors.As(r.Err, &te) || time.Since(start) > 5*time.Second {
		t.Fatalf("local timeout: %v after %v", r.Err, time.Since(start))
	}
}

func TestHugeOutputIsCappedButStreamed(t *testing.T) {
	_, d := faulty(t, loomtest.NoFault, "")
	c, err := d.Dial(context.Background(), "h")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var streamed countWriter
	// 64 MiB of output with a 1 MiB cap: the Result keeps 1 MiB, the
	// stream sees everything, and the error names the last stderr line.
	r := c.MaxOutput(1<<20).Stream(&streamed, nil).Shell(`head -c 67108864 /dev/zero; echo the end >&2; exit 3`)
	if len(r.Stdout) != 1<<20 || !r.Truncated || streamed.n != 64<<20 {
		t.Fatalf("kept %d, truncated %v, streamed %d", len(r.Stdout), r.Truncated, streamed.n)
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "the end") {
		t.Fatalf("error: %v", r.Err)
	}
	c.ResetErr()
	if r := c.Run("echo", "small"); r.Truncated || r.Stdout != "small\n" {
		t.Fatalf("small output: %+v", r)
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
