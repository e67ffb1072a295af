package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/loomtest"
)

// writeKey writes an ed25519 key to dir/name (encrypted when pass != "")
// and returns its signer.
func writeKey(t *testing.T, dir, name, pass string) ssh.Signer {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var block *pem.Block
	var err error
	if pass == "" {
		block, err = ssh.MarshalPrivateKey(priv, name)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, name, []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600)
	s, _ := ssh.NewSignerFromKey(priv)
	return s
}

// host resolves a config for server s using identity files ids.
func host(t *testing.T, s *loomtest.Server, kh string, ids ...string) *sshconfig.Host {
	t.Helper()
	return hostWith(t, s, kh, "", ids...)
}

// hostWith resolves a config naming s "target", trusting kh, with extra
// lines and the given identity files only.
func hostWith(t *testing.T, s *loomtest.Server, kh, extra string, ids ...string) *sshconfig.Host {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "Host target\n  HostName %s\n  Port %d\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n%s", s.Host(), s.Port(), kh, extra)
	for _, id := range ids {
		fmt.Fprintf(&b, "  IdentityFile %s\n", id)
	}
	cfg, err := sshconfig.Parse(strings.NewReader(b.String()), "test")
	if err != nil {
		t.Fatal(err)
	}
	h, err := cfg.Resolve("target", sshconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func servers(t *testing.T, n int, key ssh.PublicKey) ([]*loomtest.Server, string) {
	t.Helper()
	var known strings.Builder
	var out []*loomtest.Server
	for range n {
		s := loomtest.NewServer(t, loomtest.Options{AuthorizedKeys: []ssh.PublicKey{key}, Logf: func(string, ...any) {}})
		known.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
		out = append(out, s)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(known.String()), 0o600)
	return out, kh
}

func TestEncryptedKeyAskedOncePerRun(t *testing.T) {
	dir := t.TempDir()
	signer := writeKey(t, dir, "id_enc", "correct horse")
	srvs, kh := servers(t, 3, signer.PublicKey())
	var asked atomic.Int32
	d := &Dialer{}
	d.Secrets.Ask = func(ctx context.Context, prompt string, echo bool) (string, error) {
		n := asked.Add(1)
		if !strings.Contains(prompt, "id_enc") || echo {
			t.Errorf("prompt %q echo=%v", prompt, echo)
		}
		if n == 1 {
			return "wrong guess", nil // a typo: asked again
		}
		return "correct horse", nil
	}
	defer d.Close()
	for _, s := range srvs {
		c, err := d.Dial(context.Background(), host(t, s, kh, filepath.Join(dir, "id_enc")))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if asked.Load() != 2 {
		t.Fatalf("asked %d times for 3 hosts (one typo), want 2", asked.Load())
	}
}

func TestEncryptedKeyWithoutTerminal(t *testing.T) {
	dir := t.TempDir()
	signer := writeKey(t, dir, "id_enc", "secret")
	srvs, kh := servers(t, 1, signer.PublicKey())
	d := &Dialer{}
	defer d.Close()
	start := time.Now()
	_, err := d.Dial(context.Background(), host(t, srvs[0], kh, filepath.Join(dir, "id_enc")))
	if err == nil || !strings.Contains(err.Error(), "no terminal") || !strings.Contains(err.Error(), "ssh-add") || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v", err)
	}
}

func TestIdentityFileOfferedFirst(t *testing.T) {
	dir := t.TempDir()
	a := writeKey(t, dir, "id_a", "")
	b := writeKey(t, dir, "id_b", "")
	extra, _ := ssh.NewSignerFromKey(func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }())
	d := &Dialer{Signers: []ssh.Signer{extra}}
	h := &sshconfig.Host{Alias: "x", IdentityFiles: []string{filepath.Join(dir, "id_b"), filepath.Join(dir, "id_a"), filepath.Join(dir, "missing")}}
	got, _ := d.signers(h, nil, &attempt{}, nil)
	want := []ssh.PublicKey{b.PublicKey(), a.PublicKey(), extra.PublicKey()}
	if len(got) != len(want) {
		t.Fatalf("%d signers, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i].PublicKey().Marshal()) != string(want[i].Marshal()) {
			t.Fatalf("signer %d is not the expected key", i)
		}
	}
}

func TestPreferredAuthenticationsOrder(t *testing.T) {
	d := &Dialer{}
	pk, kbd, pw := ssh.Password("a"), ssh.Password("b"), ssh.Password("c")
	h := &sshconfig.Host{PasswordAuthentication: true, KbdInteractiveAuthentication: true, PreferredAuthentications: []string{"password", "publickey"}}
	got := d.ordered(h, []ssh.AuthMethod{pk}, kbd, pw)
	if len(got) != 2 || fmt.Sprint(got[0]) != fmt.Sprint(pw) || fmt.Sprint(got[1]) != fmt.Sprint(pk) {
		t.Fatalf("order: %v", got)
	}
	h.PreferredAuthentications = nil
	h.PasswordAuthentication = false
	if got := d.ordered(h, []ssh.AuthMethod{pk}, kbd, pw); len(got) != 2 {
		t.Fatalf("PasswordAuthentication no: %d methods, want publickey and keyboard-interactive", len(got))
	}
}

func TestDroppedHandshakeRetried(t *testing.T) {
	// A listener that drops the first two connections at once, as sshd's
	// MaxStartups does, then hands the rest to a real server.
	signer := writeKey(t, t.TempDir(), "id", "")
	srvs, kh := servers(t, 1, signer.PublicKey())
	d := &Dialer{Signers: []ssh.Signer{signer}}
	defer d.Close()
	h := host(t, srvs[0], kh)
	ln := dropFirst(t, 2, srvs[0].Addr())
	h.HostName, h.Port = "127.0.0.1", ln
	h.HostKeyAlias = ""
	h.UserKnownHostsFiles = []string{rewriteKnownHosts(t, kh, srvs[0].Port(), ln)}
	c, err := d.Dial(context.Background(), h)
	if err != nil {
		t.Fatalf("dropped handshakes not retried: %v", err)
	}
	c.Close()
}
