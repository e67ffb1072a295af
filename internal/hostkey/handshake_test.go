package hostkey

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// handshake connects an x/crypto client with cb and algos to an in-process
// x/crypto server with the given host keys.
func handshake(t *testing.T, hostKeys []ssh.Signer, cb ssh.HostKeyCallback, algos []string) error {
	t.Helper()
	// net.Pipe is unbuffered and both sides send their version at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	srv := &ssh.ServerConfig{NoClientAuth: true}
	for _, k := range hostKeys {
		srv.AddHostKey(k)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c2.Close()
		conn, chans, reqs, err := ssh.NewServerConn(c2, srv)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		go func() {
			for ch := range chans {
				ch.Reject(ssh.Prohibited, "test")
			}
		}()
		conn.Wait()
	}()
	c1.SetDeadline(time.Now().Add(10 * time.Second))
	conn, _, _, err := ssh.NewClientConn(c1, "web1.example.com:22", &ssh.ClientConfig{
		User:              "u",
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
	})
	if conn != nil {
		conn.Close()
	}
	c1.Close()
	<-done
	return err
}

// TestHandshakeAlgorithms shows golang/go#29286 and its fix: a server with
// ECDSA, RSA and ED25519 keys, known by its ED25519 key only.
func TestHandshakeAlgorithms(t *testing.T) {
	dir := t.TempDir()
	ed, ec, rs := newEd25519(t), newECDSA(t), newRSA(t, 0)
	kh := writeFile(t, dir, "known_hosts", line("web1.example.com", ed.PublicKey()))
	db := open(t, []string{kh})
	cb, algos := db.Callback("web1.example.com", 22, Strict, nil)
	if err := handshake(t, []ssh.Signer{ec, rs, ed}, cb, algos); err != nil {
		t.Errorf("with algorithms %q: %v", algos, err)
	}
	// x/crypto's default order picks ECDSA: a false "changed".
	err := handshake(t, []ssh.Signer{ec, rs, ed}, cb, nil)
	if err == nil || !strings.Contains(err.Error(), "CHANGED") {
		t.Errorf("default algorithms: %v, want a CHANGED error", err)
	}
	// A real change is still refused.
	err = handshake(t, []ssh.Signer{newEd25519(t)}, cb, algos)
	if err == nil || !strings.Contains(err.Error(), "has CHANGED: server offered ED25519") {
		t.Errorf("changed key: %v", err)
	}
}

func TestHandshakeCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, hostKey := newRSA(t, 1), newEd25519(t)
	cert := hostCert(t, ca, hostKey.PublicKey(), "web1.example.com")
	certSigner, err := ssh.NewCertSigner(cert, hostKey)
	if err != nil {
		t.Fatal(err)
	}
	kh := writeFile(t, dir, "known_hosts",
		"@cert-authority *.example.com "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))))
	db := open(t, []string{kh})
	cb, algos := db.Callback("web1.example.com", 22, Strict, nil)
	if err := handshake(t, []ssh.Signer{hostKey, certSigner}, cb, algos); err != nil {
		t.Errorf("algorithms %q: %v", algos, err)
	}
	// The same server under another name: the certificate does not name it.
	cb, algos = db.Callback("web2.example.com", 22, Strict, nil)
	if err := handshake(t, []ssh.Signer{hostKey, certSigner}, cb, algos); err == nil {
		t.Error("certificate accepted for a name it does not list")
	}
}

func TestHandshakeAcceptNew(t *testing.T) {
	dir := t.TempDir()
	kh := dir + "/known_hosts"
	db := open(t, []string{kh})
	ed, ec := newEd25519(t), newECDSA(t)
	cb, algos := db.Callback("web1.example.com", 22, AcceptNew, nil)
	if err := handshake(t, []ssh.Signer{ec, ed}, cb, algos); err != nil {
		t.Fatal(err)
	}
	// ssh(1) would have recorded the ED25519 key too.
	if got := readLines(t, kh); len(got) != 1 || !strings.Contains(got[0], " ssh-ed25519 ") {
		t.Errorf("recorded %q", got)
	}
	cb, algos = db.Callback("web1.example.com", 22, Strict, nil)
	if err := handshake(t, []ssh.Signer{ec, ed}, cb, algos); err != nil {
		t.Error(err)
	}
}

// A server without a key of the types known_hosts holds fails the
// handshake in negotiation, before any key is offered; NegotiationError
// makes that a host key error naming what is known, as ssh(1), offering
// every type, would report the other type's key as changed.
func TestHandshakeNoCommonAlgorithm(t *testing.T) {
	dir := t.TempDir()
	ed, ec := newEd25519(t), newECDSA(t)
	kh := writeFile(t, dir, "known_hosts", line("[web1.example.com]:2222", ed.PublicKey()))
	db := open(t, []string{kh})
	cb, algos := db.Callback("web1.example.com", 2222, Strict, nil)
	err := handshake(t, []ssh.Signer{ec}, cb, algos)
	if err == nil {
		t.Fatal("handshake succeeded")
	}
	e := asError(t, db.NegotiationError("web1.example.com", 2222, err), Changed)
	mustContain(t, e.Error(), "[web1.example.com]:2222", kh+":1", "ED25519 "+ssh.FingerprintSHA256(ed.PublicKey()),
		"no key of a type known_hosts holds (it offers ecdsa-sha2-nistp256)")
	// Only a @cert-authority line, and no certificate offered: unknown.
	kh2 := writeFile(t, dir, "known_hosts2", "@cert-authority *.example.com "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ed.PublicKey()))))
	db2 := open(t, []string{kh2})
	cb, algos = db2.Callback("web1.example.com", 22, Strict, nil)
	err = handshake(t, []ssh.Signer{ec}, cb, algos)
	asError(t, db2.NegotiationError("web1.example.com", 22, err), Unknown)
	// Other errors are left alone.
	if other := errors.New("x"); db.NegotiationError("web1.example.com", 22, other) != other {
		t.Error("another error was changed")
	}
}
