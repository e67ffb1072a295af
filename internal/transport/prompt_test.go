package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/prompt"
	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/loomtest"
)

// TestPassphraseWaitPausesHandshakeDeadline: while one host asks for a
// key's passphrase, every other host that needs the key waits for the
// user too; none of them may hit the handshake deadline meanwhile, and the
// passphrase is asked once.
func TestPassphraseWaitPausesHandshakeDeadline(t *testing.T) {
	const n = 12
	const hsTimeout = 2 * time.Second // generous for a loaded machine; the answer comes well after it
	dir := t.TempDir()
	signer := writeKey(t, dir, "id_enc", "late answer")
	srvs, kh := servers(t, n, signer.PublicKey())

	var waiting atomic.Int32 // hosts whose deadline is paused
	allWaiting := make(chan struct{})
	var once sync.Once
	var asked atomic.Int32
	d := &Dialer{HandshakeTimeout: hsTimeout, ConnectTimeout: hsTimeout}
	d.Logf = func(format string, args ...any) {
		if strings.Contains(format, "handshake deadline paused") && waiting.Add(1) == n {
			once.Do(func() { close(allWaiting) })
		}
	}
	d.Secrets.Ask = func(ctx context.Context, q string, echo bool) (string, error) {
		asked.Add(1)
		// The user answers when every host waits (or, if some never say
		// so, late anyway), and takes longer than the deadline to type.
		select {
		case <-allWaiting:
		case <-time.After(3 * hsTimeout):
		}
		time.Sleep(hsTimeout + hsTimeout/2) // the user's slowness: the condition under test
		return "late answer", nil
	}
	defer d.Close()

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial(context.Background(), host(t, s, kh, filepath.Join(dir, "id_enc")))
			if err == nil {
				c.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}
	if asked.Load() != 1 {
		t.Errorf("asked %d times, want once", asked.Load())
	}
}

// TestSecretsTellTheCoordinator: a question asked through Secrets is
// announced to the prompt coordinator's listeners before it is shown and
// until it is answered.
func TestSecretsTellTheCoordinator(t *testing.T) {
	var mu sync.Mutex
	var heard []bool
	remove := prompt.Listen(func(on bool) { mu.Lock(); heard = append(heard, on); mu.Unlock() })
	defer remove()
	var s Secrets
	s.Ask = func(context.Context, string, bool) (string, error) {
		if !prompt.Active() {
			t.Error("asked while the coordinator knew of no prompt")
		}
		return "x", nil
	}
	s.Get(context.Background(), "k", "Password: ")
	s.Get(context.Background(), "k", "Password: ") // known: not asked
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(heard) != "[true false]" {
		t.Fatalf("listeners heard %v, want [true false]", heard)
	}
}

// TestSecretsWaitRespectsContext: a host waiting for another host's prompt
// gives up when its context ends.
func TestSecretsWaitRespectsContext(t *testing.T) {
	var s Secrets
	entered, release := make(chan struct{}), make(chan struct{})
	s.Ask = func(context.Context, string, bool) (string, error) { close(entered); <-release; return "x", nil }
	go s.Get(context.Background(), "a", "A: ")
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "b", "B: "); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	close(release)
}

// batchHost resolves a BatchMode config for s with the given identities.
func batchHost(t *testing.T, s *loomtest.Server, kh string, extra string, ids ...string) *sshconfig.Host {
	t.Helper()
	return hostWith(t, s, kh, "  BatchMode yes\n"+extra, ids...)
}

// TestBatchModeEncryptedKeyNotAsked: with BatchMode, an encrypted key is
// not asked for (even with a Prompter at hand), and the authentication
// error names the host and the passphrase that was not asked.
func TestBatchModeEncryptedKeyNotAsked(t *testing.T) {
	dir := t.TempDir()
	signer := writeKey(t, dir, "id_enc", "secret")
	srvs, kh := servers(t, 1, signer.PublicKey())
	var asked atomic.Int32
	d := &Dialer{}
	d.Secrets.Ask = func(context.Context, string, bool) (string, error) { asked.Add(1); return "secret", nil }
	defer d.Close()
	key := filepath.Join(dir, "id_enc")
	_, err := d.Dial(context.Background(), batchHost(t, srvs[0], kh, "", key))
	var ce *ConnectError
	var na *NotAskedError
	if !errors.As(err, &ce) || ce.Reason != Auth || !errors.As(err, &na) {
		t.Fatalf("got %v, want an authentication error saying what was not asked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "target") || !strings.Contains(msg, "BatchMode") || !strings.Contains(msg, "Enter passphrase for key '"+key+"'") {
		t.Fatalf("the error does not name the host, BatchMode and the question: %v", err)
	}
	if asked.Load() != 0 {
		t.Fatalf("asked %d times under BatchMode", asked.Load())
	}
}

// TestBatchModeOtherKeyStillTried: as ssh does, BatchMode skips the
// encrypted key and goes on with the next one.
func TestBatchModeOtherKeyStillTried(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "id_enc", "secret")
	plain := writeKey(t, dir, "id_plain", "")
	srvs, kh := servers(t, 1, plain.PublicKey())
	d := &Dialer{}
	d.Secrets.Ask = func(context.Context, string, bool) (string, error) {
		t.Error("asked under BatchMode")
		return "", ErrNoTerminal
	}
	defer d.Close()
	c, err := d.Dial(context.Background(), batchHost(t, srvs[0], kh, "", filepath.Join(dir, "id_enc"), filepath.Join(dir, "id_plain")))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestBatchModePasswordNotAsked: with BatchMode, a server that wants a
// password gets none, and the error says which question was not asked.
func TestBatchModePasswordNotAsked(t *testing.T) {
	s := loomtest.NewServer(t, loomtest.Options{Password: "hunter2", Logf: func(string, ...any) {}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey())+"\n"), 0o600)
	var asked atomic.Int32
	d := &Dialer{}
	d.Secrets.Ask = func(context.Context, string, bool) (string, error) { asked.Add(1); return "hunter2", nil }
	defer d.Close()
	_, err := d.Dial(context.Background(), batchHost(t, s, kh, "  User deploy\n"))
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Reason != Auth {
		t.Fatalf("got %v, want an authentication error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "target") || !strings.Contains(msg, "BatchMode") || !strings.Contains(msg, "deploy@"+s.Host()+"'s password") {
		t.Fatalf("the error does not say which password was not asked: %v", err)
	}
	if asked.Load() != 0 {
		t.Fatalf("asked %d times under BatchMode", asked.Load())
	}
	// Given by the caller, the password is used: that is no prompt.
	d2 := &Dialer{}
	d2.Secrets.Set("password", "hunter2")
	defer d2.Close()
	c, err := d2.Dial(context.Background(), batchHost(t, s, kh, "  User deploy\n"))
	if err != nil {
		t.Fatalf("a password given by the caller under BatchMode: %v", err)
	}
	c.Close()
}
