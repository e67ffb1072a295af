package loom_test

import (
	"context"
	"errors"
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

// TestPublicErrorsReachable: what a connection failure says is reachable
// from package loom alone — the types, every field, the kinds — as a
// program outside this module would use it.
func TestPublicErrorsReachable(t *testing.T) {
	signer, _ := ssh.NewSignerFromKey(mustEd25519(t))
	other, _ := ssh.NewSignerFromKey(mustEd25519(t))
	s, err := loomtest.Start(loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	dial := func(signers []ssh.Signer, khLine string) error {
		os.WriteFile(kh, []byte(khLine), 0o600)
		d := &loom.Dialer{ConfigFile: "none", Options: []string{"UserKnownHostsFile=" + kh, "GlobalKnownHostsFile=/dev/null"},
			Signers: signers, AgentSocket: "/nonexistent", ConnectTimeout: 30 * time.Second}
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := d.Dial(ctx, s.Addr())
		if err == nil {
			c.Close()
		}
		return err
	}
	addr := []string{"[" + s.Host() + "]:" + itoa(s.Port())}

	// A changed host key.
	err = dial([]ssh.Signer{signer}, knownhosts.Line(addr, other.PublicKey())+"\n")
	var ce *loom.ConnectError
	var he *loom.HostKeyError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonHostKey || ce.Reason.String() != "host key" || ce.Host == "" || ce.Addr == "" {
		t.Fatalf("changed key: %T %v / %+v", err, err, ce)
	}
	if !errors.As(err, &he) || he.Kind != loom.HostKeyChanged || he.Kind.String() != "changed" || he.Fingerprint == "" || he.KeyType != "ED25519" ||
		len(he.Files) != 2 || he.Files[0] != kh || len(he.Known) != 1 || he.Known[0].File != kh || he.Known[0].Line != 1 || he.Known[0].Fingerprint == he.Fingerprint ||
		he.Host == "" || he.RevokedBy != "" || he.Cert != nil {
		t.Fatalf("changed key: %#v", he)
	}
	if !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), kh+":1") {
		t.Fatalf("changed key message: %v", err)
	}
	// An unknown one.
	err = dial([]ssh.Signer{signer}, "")
	if !errors.As(err, &he) || he.Kind != loom.HostKeyUnknown || !strings.Contains(err.Error(), "not known") {
		t.Fatalf("unknown key: %v", err)
	}
	if he.Kind == loom.HostKeyRevoked {
		t.Fatal("kinds are not distinct")
	}
	// Authentication with a key the host does not accept.
	err = dial([]ssh.Signer{other}, s.KnownHostsLine("")+"\n")
	var ae *loom.AuthError
	if !errors.As(err, &ce) || ce.Reason != loom.ReasonAuth || !errors.As(err, &ae) {
		t.Fatalf("auth: %v", err)
	}
	if ae.User == "" || len(ae.Keys) != 1 || len(ae.Tried) == 0 || ae.Tried[0] != "publickey" || !strings.Contains(err.Error(), "tried keys") {
		t.Fatalf("auth error: %+v (%v)", ae, err)
	}
	_ = ae.Allowed
	_, _, _, _ = ae.Refused, ae.Cause, ae.Notes, ae.Err
	_ = ce.Via
}
