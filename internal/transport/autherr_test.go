package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshdtest"
)

// warnings collects a Dialer's warnings.
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) warnf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, fmt.Sprintf(format, args...))
}

func (w *warnings) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// TestIdentityFileWarnings: an IdentityFile named explicitly that is
// missing, unreadable or not a key is a warning naming it, given once per
// run and without -v (Warnf, not Logf), as ssh(1) warns; missing default
// identities stay silent. So is a CertificateFile that cannot be used.
func TestIdentityFileWarnings(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing_key")
	notKey := filepath.Join(dir, "not_a_key")
	os.WriteFile(notKey, []byte("this is not a key\n"), 0o600)
	pubOnly := filepath.Join(dir, "id.pub")
	os.WriteFile(pubOnly, ssh.MarshalAuthorizedKey(s.ClientSigner.PublicKey()), 0o644)
	unreadable := filepath.Join(dir, "a_directory")
	os.Mkdir(unreadable, 0o700)
	config := sshdConfig(s, s.KnownHosts, "IdentityFile "+missing, "IdentityFile "+notKey, "IdentityFile "+pubOnly, "IdentityFile "+unreadable,
		"CertificateFile "+filepath.Join(dir, "missing-cert.pub"), "CertificateFile "+pubOnly)
	w := &warnings{}
	d := &Dialer{Warnf: w.warnf, Logf: func(string, ...any) {}}
	defer d.Close()
	for range 2 {
		c, err := d.Dial(context.Background(), resolveConfig(t, config, "target"))
		if err != nil {
			t.Fatal(err) // the good key (the first IdentityFile) still logs in
		}
		c.Close()
	}
	got := w.get()
	want := []string{
		"identity file " + missing + " not accessible: no such file or directory",
		"identity file " + notKey + " skipped: not a private key",
		"identity file " + pubOnly + " skipped: not a private key",
		"identity file " + unreadable + " not accessible: is a directory",
		"certificate file " + filepath.Join(dir, "missing-cert.pub") + " not accessible: no such file or directory",
		"certificate file " + pubOnly + " skipped: it holds a ssh-ed25519 public key, not a certificate",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d (one per bad file, once per run)", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) || strings.Contains(got[i], "\n") {
			t.Errorf("warning %q, want it to start with %q", got[i], want[i])
		}
	}
	// ssh's default identity files that do not exist: nothing said.
	h := resolveConfig(t, sshdConfig(s, s.KnownHosts), "target")
	h.IdentityFiles, h.DefaultIdentities = []string{filepath.Join(dir, "id_ed25519")}, true
	w2 := &warnings{}
	d2 := &Dialer{Warnf: w2.warnf, Signers: []ssh.Signer{s.ClientSigner}}
	defer d2.Close()
	c, err := d2.Dial(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := w2.get(); len(got) != 0 {
		t.Errorf("missing default identity: warnings %q", got)
	}
}

// TestAuthFailureSaysWhy: when the server refuses every key, the error
// says which keys were offered and which methods the server accepts.
func TestAuthFailureSaysWhy(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	wrong := writeKey(t, dir, "id_wrong", "")
	missing := filepath.Join(dir, "missing")
	for _, tt := range []struct {
		name  string
		extra []string
		want  []string
	}{
		{"refused key", []string{"IdentityFile " + filepath.Join(dir, "id_wrong"), "BatchMode yes"}, []string{
			"target: authentication failed: user " + s.User + ": server accepts publickey",
			"tried keys " + filepath.Join(dir, "id_wrong") + " (ssh-ed25519 " + ssh.FingerprintSHA256(wrong.PublicKey()) + ")",
		}},
		{"no key at all", []string{"IdentityFile " + missing, "BatchMode yes"}, []string{
			"authentication failed: user " + s.User + ": server accepts publickey; no key to offer",
		}},
		{"password server, BatchMode", []string{"IdentityFile " + filepath.Join(dir, "id_wrong"), "BatchMode yes"}, []string{
			"server accepts publickey,password,keyboard-interactive; tried keys " + filepath.Join(dir, "id_wrong"),
			"BatchMode",
		}},
		// A prompter that finds no terminal: an authentication failure
		// that says so, not "ssh handshake failed".
		{"password server, no terminal", []string{"IdentityFile " + missing}, []string{
			"target: authentication failed: password: no terminal to ask on (open /dev/tty: no such device); user " + s.User + ": server accepts publickey,password,keyboard-interactive; no key to offer",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := s
			if strings.HasPrefix(tt.name, "password") {
				s = sshdtest.Start(t, sshdtest.Options{Password: true})
			}
			config := strings.Replace(sshdConfig(s, s.KnownHosts, tt.extra...), "  IdentityFile "+s.ClientKey+"\n", "", 1)
			d := &Dialer{}
			d.Secrets.Ask = func(context.Context, string, bool) (string, error) {
				return "", fmt.Errorf("%w (open /dev/tty: no such device)", ErrNoTerminal)
			}
			defer d.Close()
			_, err := d.Dial(context.Background(), resolveConfig(t, config, "target"))
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Reason != Auth || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want a one-line authentication error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestWrongPassphraseIsAuthFailure: a wrong key passphrase, three times,
// fails authentication, saying so and naming the key (not "ssh
// handshake"); the other hosts of the run are not asked again.
func TestWrongPassphraseIsAuthFailure(t *testing.T) {
	dir := t.TempDir()
	// The old PEM encryption: cheap to try (the OpenSSH format's bcrypt,
	// three times, takes seconds under -race).
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	//lint:ignore SA1019 the legacy format is cheap to decrypt
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte("right"), x509.PEMCipherAES128) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(&k.PublicKey)
	keyPath := filepath.Join(dir, "id_legacy")
	os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(keyPath+".pub", ssh.MarshalAuthorizedKey(pub), 0o644)

	srvs, kh := servers(t, 2, pub)
	var asked atomic.Int32
	d := &Dialer{}
	d.Secrets.Ask = func(context.Context, string, bool) (string, error) {
		asked.Add(1)
		return fmt.Sprintf("wrong %d", asked.Load()), nil
	}
	defer d.Close()
	for i, s := range srvs {
		h := host(t, s, kh, keyPath)
		h.PasswordAuthentication, h.KbdInteractiveAuthentication = false, false
		_, err := d.Dial(context.Background(), h)
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Reason != Auth {
			t.Fatalf("host %d: error %v, want an authentication error", i, err)
		}
		want := "target: authentication failed: wrong passphrase for key " + keyPath + " (asked 3 times)"
		if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "handshake") {
			t.Errorf("host %d: error %q\nwant it to start with %q", i, err, want)
		}
	}
	if n := asked.Load(); n != 3 {
		t.Errorf("asked %d times for two hosts, want 3 (three tries, once per run)", n)
	}
}
