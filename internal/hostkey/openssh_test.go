package hostkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshdtest"
)

// TestRevokedHostKeysAgainstOpenSSH connects to a real sshd with Loom's
// checks and with OpenSSH's own ssh client, for the same known_hosts and
// RevokedHostKeys files, and wants the same verdict from both.
func TestRevokedHostKeysAgainstOpenSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH client not installed")
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The server has its own ED25519 key and an ECDSA key with a host
	// certificate (serial 42, key ID "web-cert") for 127.0.0.1.
	ca := newEd25519(t)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecSigner, _ := ssh.NewSignerFromKey(ecPriv)
	block, err := ssh.MarshalPrivateKey(ecPriv, "cert key")
	if err != nil {
		t.Fatal(err)
	}
	ecPath := write("ecdsa_key", string(pem.EncodeToMemory(block)))
	cert := hostCert(t, ca, ecSigner.PublicKey(), "127.0.0.1")
	cert.Serial, cert.KeyId = 42, "web-cert"
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	write("ecdsa_key-cert.pub", authorized(cert)+"\n")
	// Two servers: ssh(1) prefers a certificate algorithm the server
	// offers to a plain key known_hosts holds, so the plain-key cases use a
	// server without a certificate.
	s := sshdtest.Start(t, sshdtest.Options{})
	sc := sshdtest.Start(t, sshdtest.Options{Extra: fmt.Sprintf("HostKey %s\nHostCertificate %s-cert.pub\n", ecPath, ecPath)})

	other := newEd25519(t)
	hostPub := write("host.pub", authorized(s.HostKey)+"\n")
	otherPub := write("other.pub", authorized(other.PublicKey())+"\n")
	caPub := write("ca.pub", authorized(ca.PublicKey())+"\n")
	krl := func(name string, args ...string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if out, err := exec.Command(keygen, append([]string{"-k", "-f", p}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -k: %v\n%s", err, out)
		}
		return p
	}
	hostLine := s.KnownHostsLine("")
	caLine := fmt.Sprintf("@cert-authority [%s]:%d %s", sc.Host, sc.Port, authorized(ca.PublicKey()))

	for _, tt := range []struct {
		name    string
		known   string // known_hosts content
		revoked string // the RevokedHostKeys file
		strict  string // StrictHostKeyChecking
		refused bool
		server  *sshdtest.Server // nil: s
	}{
		{"host key listed", hostLine, write("list-host", "# revoked\n\n"+authorized(s.HostKey)+" old key\n"), "yes", true, nil},
		{"other key listed", hostLine, write("list-other", authorized(other.PublicKey())+"\n"), "yes", false, nil},
		{"host key listed, checking off", "", write("list-host-2", authorized(s.HostKey)+"\n"), "no", true, nil},
		{"missing file", hostLine, filepath.Join(dir, "nonexistent"), "yes", true, nil},
		{"missing file, checking off", hostLine, filepath.Join(dir, "nonexistent"), "no", true, nil},
		{"garbage line", hostLine, write("list-garbage", authorized(other.PublicKey())+"\nnot a key\n"), "yes", true, nil},
		{"empty file", hostLine, write("list-empty", ""), "yes", false, nil},
		{"KRL of the host key", hostLine, krl("host.krl", hostPub), "yes", true, nil},
		{"KRL of another key", hostLine, krl("other.krl", otherPub), "yes", false, nil},
		{"KRL by SHA256 fingerprint", hostLine, krl("hash.krl", write("hash-spec", "hash: "+ssh.FingerprintSHA256(s.HostKey)+"\n")), "yes", true, nil},
		{"KRL by SHA1", hostLine, krl("sha1.krl", write("sha1-spec", "sha1: "+authorized(s.HostKey)+"\n")), "yes", true, nil},
		{"certificate, CA listed", caLine, write("list-ca", authorized(ca.PublicKey())+"\n"), "yes", true, sc},
		{"certificate, nothing revoked", caLine, write("list-other-2", authorized(other.PublicKey())+"\n"), "yes", false, sc},
		{"certificate, KRL serial", caLine, krl("serial.krl", "-s", caPub, write("serial-spec", "serial: 40-50\n")), "yes", true, sc},
		{"certificate, KRL other serial", caLine, krl("serial2.krl", "-s", caPub, write("serial2-spec", "serial: 43\n")), "yes", false, sc},
		{"certificate, KRL key ID", caLine, krl("id.krl", "-s", caPub, write("id-spec", "id: web-cert\n")), "yes", true, sc},
		{"certificate, KRL of the CA", caLine, krl("ca.krl", caPub), "yes", true, sc},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := s
			if tt.server != nil {
				s = tt.server
			}
			// Each client gets its own copy: ssh writes keys it accepts
			// under StrictHostKeyChecking=no.
			base := strings.NewReplacer(" ", "_", ",", "").Replace(tt.name)
			kh := write(base+".known_hosts", tt.known+"\n")
			loomKH := write(base+".loom_known_hosts", tt.known+"\n")
			cmd := exec.Command(sshBin, "-F", "/dev/null", "-p", fmt.Sprint(s.Port), "-l", s.User,
				"-i", s.ClientKey, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
				"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile=/dev/null",
				"-o", "StrictHostKeyChecking="+tt.strict, "-o", "RevokedHostKeys="+tt.revoked,
				s.Host, "true")
			cmd.Stdin = nil
			out, sshErr := cmd.CombinedOutput()
			sshRefused := sshErr != nil
			if sshRefused != tt.refused {
				t.Errorf("ssh: refused=%v, want %v: %s", sshRefused, tt.refused, out)
			}
			loomErr := loomConnect(t, s, loomKH, tt.revoked, tt.strict)
			if (loomErr != nil) != tt.refused {
				t.Errorf("Loom: error %v, want refused=%v (ssh said: %s)", loomErr, tt.refused, strings.TrimSpace(string(out)))
			}
			var e *Error
			if loomErr != nil && !strings.Contains(loomErr.Error(), tt.revoked) && !(errors.As(loomErr, &e) && e.Kind == Revoked) {
				t.Errorf("Loom's error does not name %s: %v", tt.revoked, loomErr)
			}
		})
	}
}

// loomConnect opens a DB as the transport does and runs a handshake with
// it against s.
func loomConnect(t *testing.T, s *sshdtest.Server, kh, revoked, strict string) error {
	t.Helper()
	db, err := OpenWith([]string{kh}, nil, Options{RevokedHostKeys: []string{revoked}})
	if err != nil {
		return err
	}
	p, err := ParsePolicy(strict)
	if err != nil {
		t.Fatal(err)
	}
	cb, algos := db.Callback(s.Host, s.Port, p, nil)
	conn, err := net.DialTimeout("tcp", s.Addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, _, _, err := ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
	})
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("handshake failed for another reason than the host key: %v", err)
		}
		return e
	}
	c.Close()
	return nil
}
