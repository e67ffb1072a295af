package hostkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newEd25519(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newECDSA(t testing.TB) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	rsaOnce sync.Once
	rsaKeys []*rsa.PrivateKey
)

// newRSA returns one of two RSA keys generated once per test binary.
func newRSA(t testing.TB, i int) ssh.Signer {
	t.Helper()
	rsaOnce.Do(func() {
		for range 2 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	s, err := ssh.NewSignerFromKey(rsaKeys[i])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostCert returns a host certificate for key signed by ca.
func hostCert(t testing.TB, ca ssh.Signer, key ssh.PublicKey, principals ...string) *ssh.Certificate {
	t.Helper()
	c := &ssh.Certificate{
		Key:             key,
		Serial:          1,
		CertType:        ssh.HostCert,
		KeyId:           "test",
		ValidPrincipals: principals,
		ValidAfter:      uint64(time.Now().Add(-time.Hour).Unix()),
		ValidBefore:     uint64(time.Now().Add(time.Hour).Unix()),
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

// writeFile writes lines (each followed by a newline) to dir/name.
func writeFile(t testing.TB, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var s string
	for _, l := range lines {
		s += l + "\n"
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// line returns a known_hosts line for hosts and key.
func line(hosts string, key ssh.PublicKey) string {
	return hosts + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

func open(t testing.TB, user []string, global ...string) *DB {
	t.Helper()
	db, err := Open(user, global)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var remote = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 22}

// check runs the callback for name:port with key.
func check(db *DB, name string, port int, p Policy, key ssh.PublicKey) error {
	cb, _ := db.Callback(name, port, p, nil)
	return cb(net.JoinHostPort(name, "22"), remote, key)
}

// asError returns err as *Error, failing the test if it is not one of kind.
func asError(t testing.TB, err error, kind Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *Error of kind %v", err, err, kind)
	}
	if e.Kind != kind {
		t.Fatalf("Kind = %v, want %v: %v", e.Kind, kind, err)
	}
	if strings.Contains(e.Error(), "\n") {
		t.Errorf("message is not one line: %q", e.Error())
	}
	return e
}

func mustContain(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q does not contain %q", s, sub)
		}
	}
}

func readLines(t testing.TB, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
