//go:build unix

package loomtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// timedWriter records when each byte arrived.
type timedWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	times []time.Time
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range p {
		w.times = append(w.times, time.Now())
	}
	return w.buf.Write(p)
}

func TestFaultSlowOutput(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: SlowOutput})
	c := connect(t, s, key)

	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out timedWriter
	sess.Stdout = &out
	start := time.Now()
	if err := sess.Run("printf abc"); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := out.buf.String(); got != "abc" {
		t.Fatalf("output %q, want abc", got)
	}
	// The first byte at once, then one a second.
	if d := out.times[0].Sub(start); d > 900*time.Millisecond {
		t.Errorf("first byte after %v, want at once", d)
	}
	for i := 1; i < 3; i++ {
		if gap := out.times[i].Sub(out.times[i-1]); gap < 900*time.Millisecond || gap > 3*time.Second {
			t.Errorf("byte %d came %v after the one before, want about a second", i, gap)
		}
	}

	// A client that gives up stops the trickle: the server has nothing
	// left running shortly after (Close would wait for it).
	sess2, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out2 timedWriter
	sess2.Stdout = &out2
	if err := sess2.Start("yes"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	sess2.Close()
	out2.mu.Lock()
	n := out2.buf.Len()
	out2.mu.Unlock()
	if n < 1 || n > 3 {
		t.Errorf("%d bytes of yes in 1.5s, want 1 or 2", n)
	}
	c.Close()
	closeWithin(t, s, 5*time.Second)
}

func TestFaultBogusExitStatus(t *testing.T) {
	t.Parallel()
	t.Run("malformed", func(t *testing.T) {
		t.Parallel()
		s, key := keyServer(t, Options{Fault: MalformedExitStatus})
		r := run(t, connect(t, s, key), "echo out", "")
		if r.stdout != "out\n" {
			t.Errorf("stdout %q", r.stdout)
		}
		var ee *ssh.ExitError
		if r.err == nil || errors.As(r.err, &ee) || !strings.Contains(r.err.Error(), "malformed exit-status") {
			t.Errorf("err = %v, want x/crypto's malformed exit-status error", r.err)
		}
	})
	t.Run("out of range", func(t *testing.T) {
		t.Parallel()
		s, key := keyServer(t, Options{Fault: ExitStatusOutOfRange})
		r := run(t, connect(t, s, key), "echo out", "")
		var ee *ssh.ExitError
		if r.stdout != "out\n" || !errors.As(r.err, &ee) || uint32(ee.ExitStatus()) != math.MaxUint32 {
			t.Errorf("stdout %q, err %v; want exit status %d", r.stdout, r.err, uint32(math.MaxUint32))
		}
	})
}

func TestFaultHugeWindowAdjust(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: HugeWindowAdjust})
	// The scripted server's handshake works: this is the check of its
	// key exchange, cipher and MAC.
	c := connect(t, s, key)
	start := time.Now()
	r := run(t, c, "true", "")
	// x/crypto refuses the second adjustment (it would overflow the
	// window) and drops the connection: no "window survived", no exit
	// status.
	if r.err == nil || strings.Contains(r.stdout, "survived") {
		t.Errorf("stdout %q, err %v: the overflowing window adjustment went unnoticed", r.stdout, r.err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestScriptedServerRSAHostKey(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s, key := keyServer(t, Options{Fault: HugeWindowAdjust, HostKey: hk})
	c := connect(t, s, key)
	if r := run(t, c, "true", ""); r.err == nil {
		t.Errorf("no error after the window overflow: %q", r.stdout)
	}
}

func TestFaultHugeAuthBanner(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: HugeAuthBanner})
	var banner int
	cfg := clientConfig(s, "u", ssh.PublicKeys(key))
	cfg.BannerCallback = func(m string) error { banner = len(m); return nil }
	start := time.Now()
	_, err := dialTimeout(s.Addr(), cfg, testTimeout)
	if err == nil || banner != 0 {
		t.Fatalf("err %v, banner of %d bytes read; want the oversized packet refused", err, banner)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused after %v", d)
	}
	t.Logf("x/crypto: %v", err)
}

func TestFaultHugePreVersionText(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: HugePreVersionText})
	start := time.Now()
	_, err := dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), testTimeout)
	// x/crypto reads at most 255 bytes before the version line.
	if err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("err %v, want x/crypto to give up on the version line", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// TestScriptedServerOpenSSH checks the scripted server against OpenSSH's
// client: it logs in, and the window overflow makes ssh give up.
func TestScriptedServerOpenSSH(t *testing.T) {
	t.Parallel()
	bin := sshBinary(t)
	s := NewServer(t, Options{Fault: HugeWindowAdjust})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(sshArgs(t, s.Port(), s), "-o", "BatchMode=yes", "-l", "u", "127.0.0.1", "true")...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ssh hung: %s", out)
	}
	if err == nil || strings.Contains(string(out), "survived") {
		t.Fatalf("ssh: err %v, output %q; want it to refuse the window overflow", err, out)
	}
	t.Logf("ssh: %v: %s", err, bytes.TrimSpace(out))
}

func TestFaultShortFileSizes(t *testing.T) {
	t.Parallel()
	s, key := keyServer(t, Options{Fault: ShortFileSizes})
	content := strings.Repeat("0123456789", 10_000)
	if err := os.WriteFile(filepath.Join(s.Dir(), "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(s.Dir(), "d"), 0o755)
	c, err := dialTimeout(s.Addr(), clientConfig(s, "u", ssh.PublicKeys(key)), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	half := int64(len(content) / 2)
	if fi, err := fc.Stat("f"); err != nil || fi.Size() != half {
		t.Fatalf("stat: %v, %v; want size %d", fi, err, half)
	}
	entries, err := fc.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "f" && e.Size() != half {
			t.Fatalf("listed with size %d, want %d", e.Size(), half)
		}
		if e.Name() == "d" && !e.IsDir() {
			t.Fatalf("d listed as %v", e.Mode())
		}
	}
	f, err := fc.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || string(b) != content {
		t.Fatalf("read %d bytes (%v), want all %d", len(b), err, len(content))
	}
}
