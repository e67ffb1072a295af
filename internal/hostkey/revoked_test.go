package hostkey

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// authorized returns key as "TYPE BASE64" (no newline).
func authorized(key ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// openRevoked opens a DB with known_hosts kh and RevokedHostKeys files.
func openRevoked(t testing.TB, kh string, revoked ...string) *DB {
	t.Helper()
	db, err := OpenWith([]string{kh}, nil, Options{RevokedHostKeys: revoked})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestRevokedHostKeysList(t *testing.T) {
	dir := t.TempDir()
	k, other, ca, hostKey := newEd25519(t), newECDSA(t), newEd25519(t), newEd25519(t)
	// The revoked key is trusted in known_hosts, and the CA too.
	kh := writeFile(t, dir, "known_hosts",
		line("web1", k.PublicKey()),
		line("web3", other.PublicKey()),
		"@cert-authority * "+authorized(ca.PublicKey()),
	)
	revoked := writeFile(t, dir, "revoked",
		"# revoked host keys",
		"",
		"  \t"+authorized(k.PublicKey())+" old web1 key",
		authorized(ca.PublicKey()),
	)
	db := openRevoked(t, kh, revoked)
	for _, p := range []Policy{Strict, AcceptNew, Off} {
		err := check(db, "web1", 22, p, k.PublicKey())
		e := asError(t, err, Revoked)
		if len(e.Known) != 1 || e.Known[0].File != revoked || e.Known[0].Line != 3 {
			t.Errorf("%v: Known = %+v", p, e.Known)
		}
		want := fmt.Sprintf("host key for web1 (10.0.0.5:22) is REVOKED in %s:3: server offered ED25519 %s",
			revoked, ssh.FingerprintSHA256(k.PublicKey()))
		if err.Error() != want {
			t.Errorf("message\n got %s\nwant %s", err, want)
		}
		// A certificate signed by a revoked CA, and a certificate of a
		// revoked key.
		e = asError(t, check(db, "web2", 22, p, hostCert(t, ca, hostKey.PublicKey(), "web2")), Revoked)
		mustContain(t, e.Error(), revoked+":4", "revoked CA key ED25519 "+ssh.FingerprintSHA256(ca.PublicKey()))
		asError(t, check(db, "web2", 22, p, hostCert(t, newEd25519(t), k.PublicKey(), "web2")), Revoked)
		// Keys that are not listed are checked as usual.
		if err := check(db, "web3", 22, p, other.PublicKey()); err != nil {
			t.Errorf("%v: a key that is not revoked: %v", p, err)
		}
	}
	if got := readLines(t, kh); len(got) != 3 {
		t.Errorf("known_hosts changed: %q", got)
	}
}

func TestRevokedHostKeysErrors(t *testing.T) {
	dir := t.TempDir()
	k := newEd25519(t)
	kh := writeFile(t, dir, "known_hosts", line("web1", k.PublicKey()))
	good := authorized(k.PublicKey())
	for _, tt := range []struct {
		name, content, want string
	}{
		{"garbage", good + "\n# x\ngarbage line\n", ":3: invalid garbage key"},
		{"one-word", "ssh-ed25519\n", ":1: not a public key"},
		{"options", `command="x" ` + good + "\n", ":1: "},
		{"bad-base64", "ssh-ed25519 !!!!\n", ":1: key is not valid base64"},
		{"known-hosts-line", "web1 " + good + "\n", ":1: "},
		{"type-mismatch", "ssh-rsa " + strings.Fields(good)[1] + "\n", ":1: key type"},
		{"bad-krl", "SSHKRL\n\x00\x00\x00\x00\x02", " is a KRL Loom cannot read: unsupported KRL format version 2"},
		{"krl-truncated", "SSHKRL\n\x00\x00\x00\x00\x01\x00", " is a KRL Loom cannot read: header: truncated"},
		{"krl-unknown-section", string(newKRL().section(9, nil).bytes()), " is a KRL Loom cannot read: unsupported section type 9"},
		{"krl-critical-extension", string(newKRL().section(krlExtension, cat(str("x@example.com"), []byte{1}, str(""))).bytes()), `unsupported critical extension "x@example.com"`},
		{"krl-bad-sha256", string(newKRL().section(krlFingerprintSHA2, str("short")).bytes()), "SHA256 fingerprint of 5 bytes"},
		{"krl-serial-0", string(newKRL().section(krlCertificates, cat(str(""), str(""), []byte{krlCertSerialList}, str(u64(0)))).bytes()), "invalid serial range 0-0"},
		{"krl-trailing", string(newKRL().section(krlExplicitKey, append(str("x"), 1)).bytes()), "truncated"},
	} {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenWith([]string{kh}, nil, Options{RevokedHostKeys: []string{p}})
		if err == nil || !strings.Contains(err.Error(), p+tt.want) && !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want it to name the file and contain %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", tt.name, err)
		}
	}
	// A missing file refuses every host, as ssh(1) does.
	missing := filepath.Join(dir, "missing")
	_, err := OpenWith([]string{kh}, nil, Options{RevokedHostKeys: []string{missing}})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "every host key is refused") {
		t.Errorf("missing file: %v", err)
	}
	// Empty files, comments only, and key types x/crypto cannot parse are fine.
	blob := "\x00\x00\x00\x14ssh-xmss@openssh.com\x00\x00\x00\x01x"
	for _, content := range []string{"", "# nothing\n\n", "ssh-xmss@openssh.com " + b64(blob) + "\n", string(newKRL().bytes())} {
		p := filepath.Join(dir, "fine")
		os.WriteFile(p, []byte(content), 0o600)
		db := openRevoked(t, kh, p)
		if err := check(db, "web1", 22, Strict, k.PublicKey()); err != nil {
			t.Errorf("revoked file %q: %v", content, err)
		}
	}
}

// krlBuilder writes a KRL by hand (PROTOCOL.krl).
type krlBuilder struct{ b []byte }

func newKRL() *krlBuilder {
	k := &krlBuilder{b: []byte(krlMagic)}
	k.b = binary.BigEndian.AppendUint32(k.b, 1)
	k.b = append(k.b, u64(1)...)          // krl_version
	k.b = append(k.b, u64(1700000000)...) // generated_date
	k.b = append(k.b, u64(0)...)          // flags
	k.b = append(k.b, str("")...)         // reserved
	k.b = append(k.b, str("test KRL")...)
	return k
}

func (k *krlBuilder) section(typ byte, data []byte) *krlBuilder {
	k.b = append(k.b, typ)
	k.b = append(k.b, str(string(data))...)
	return k
}

func (k *krlBuilder) bytes() []byte { return k.b }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func str[T string | []byte](s T) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRevokedHostKeysKRL(t *testing.T) {
	dir := t.TempDir()
	explicit, bySHA1, bySHA256, fine := newEd25519(t), newEd25519(t), newECDSA(t), newEd25519(t)
	ca, otherCA, revokedCA := newEd25519(t), newEd25519(t), newECDSA(t)
	sha1Sum := sha1.Sum(bySHA1.PublicKey().Marshal())
	sha256Sum := sha256.Sum256(bySHA256.PublicKey().Marshal())
	caBlob := ca.PublicKey().Marshal()
	krl := newKRL().
		section(krlExplicitKey, str(explicit.PublicKey().Marshal())).
		section(krlFingerprintSHA1, str(sha1Sum[:])).
		section(krlFingerprintSHA2, cat(str(sha256.New().Sum(nil)), str(sha256Sum[:]))).
		section(krlCertificates, cat(str(caBlob), str(""),
			[]byte{krlCertSerialList}, str(cat(u64(5), u64(7))),
			[]byte{krlCertSerialRange}, str(cat(u64(100), u64(200))),
			// Serials 1000+1 and 1000+9: bits 1 and 9, with a leading zero byte.
			[]byte{krlCertSerialBitmap}, str(cat(u64(1000), str([]byte{0, 0x02, 0x02}))),
			[]byte{krlCertKeyID}, str(str("stolen-host")),
			[]byte{krlCertExtension}, str(cat(str("x@example.com"), []byte{0}, str("ignored"))),
		)).
		section(krlCertificates, cat(str(""), str(""), []byte{krlCertKeyID}, str(str("revoked-everywhere")))).
		section(krlFingerprintSHA2, str(func() []byte { s := sha256.Sum256(revokedCA.PublicKey().Marshal()); return s[:] }())).
		section(krlExtension, cat(str("y@example.com"), []byte{0}, str(""))).
		section(krlSignature, str("signature key")).bytes()
	krl = append(krl, str("signature")...)
	p := filepath.Join(dir, "revoked.krl")
	if err := os.WriteFile(p, krl, 0o600); err != nil {
		t.Fatal(err)
	}
	kh := writeFile(t, dir, "known_hosts", "@cert-authority * "+authorized(ca.PublicKey()),
		"@cert-authority * "+authorized(otherCA.PublicKey()), "@cert-authority * "+authorized(revokedCA.PublicKey()))
	db := openRevoked(t, kh, p)
	cert := func(signer ssh.Signer, serial uint64, id string) *ssh.Certificate {
		c := hostCert(t, signer, fine.PublicKey(), "web1")
		c.Serial, c.KeyId = serial, id
		if err := c.SignCert(rand.Reader, signer); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name string
		key  ssh.PublicKey
		by   string // "" when not revoked
	}{
		{"explicit", explicit.PublicKey(), "KRL: explicit key"},
		{"sha1", bySHA1.PublicKey(), "KRL: SHA1 fingerprint"},
		{"sha256", bySHA256.PublicKey(), "KRL: SHA256 fingerprint"},
		{"certified key revoked", hostCert(t, ca, explicit.PublicKey(), "web1"), "KRL: explicit key"},
		{"serial list", cert(ca, 7, "web1"), "KRL: certificate serial 7"},
		{"serial range", cert(ca, 150, "web1"), "KRL: certificate serial 150"},
		{"serial bitmap", cert(ca, 1009, "web1"), "KRL: certificate serial 1009"},
		{"key ID", cert(ca, 0, "stolen-host"), `KRL: certificate key ID "stolen-host"`},
		{"key ID of any CA", cert(otherCA, 0, "revoked-everywhere"), `KRL: certificate key ID "revoked-everywhere"`},
		{"CA by fingerprint", cert(revokedCA, 3, "web1"), "KRL: SHA256 fingerprint"},
		{"plain key not listed", fine.PublicKey(), ""},
		{"serial not listed", cert(ca, 6, "web1"), ""},
		{"serial past range", cert(ca, 201, "web1"), ""},
		{"bitmap bit not set", cert(ca, 1008, "web1"), ""},
		{"serial 0 is never revoked", cert(ca, 0, "web1"), ""},
		{"serial of another CA", cert(otherCA, 7, "stolen-host"), ""},
	} {
		err := check(db, "web1", 22, Strict, tt.key)
		if tt.by == "" {
			if err != nil && tt.name != "plain key not listed" {
				t.Errorf("%s: %v", tt.name, err)
			}
			var e *Error
			if errors.As(err, &e) && e.Kind == Revoked {
				t.Errorf("%s: revoked: %v", tt.name, err)
			}
			continue
		}
		e := asError(t, err, Revoked)
		if e.RevokedBy != tt.by || len(e.Known) != 1 || e.Known[0].File != p || e.Known[0].Line != 0 {
			t.Errorf("%s: RevokedBy %q, Known %+v; want %q in %s", tt.name, e.RevokedBy, e.Known, tt.by, p)
		}
		mustContain(t, err.Error(), "is REVOKED in "+p+" (", tt.by)
	}
}

// TestRevokedHostKeysKRLFromSSHKeygen reads KRLs written by OpenSSH's
// ssh-keygen -k, and checks Loom's verdict against ssh-keygen -Q for each
// key.
func TestRevokedHostKeysKRLFromSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := map[string]ssh.PublicKey{}
	pub := func(name string, k ssh.PublicKey) string {
		keys[name] = k
		return write(name+".pub", authorized(k)+"\n")
	}
	ca, host := newEd25519(t), newEd25519(t)
	caPub := pub("ca", ca.PublicKey())
	pub("explicit", newEd25519(t).PublicKey())
	pub("sha1", newECDSA(t).PublicKey())
	pub("sha256", newEd25519(t).PublicKey())
	pub("hash", newEd25519(t).PublicKey())
	pub("fine", newEd25519(t).PublicKey())
	certs := map[string]*ssh.Certificate{}
	for _, c := range []struct {
		name   string
		serial uint64
		id     string
	}{{"c5", 5, "a"}, {"c6", 6, "b"}, {"c50", 50, "c"}, {"c99", 99, "d"}, {"c1001", 1001, "e"}, {"c1003", 1003, "f"}, {"c1004", 1004, "g"}, {"cid", 0, "stolen"}, {"cserial0", 0, "h"}} {
		cert := hostCert(t, ca, host.PublicKey(), "web1")
		cert.Serial, cert.KeyId = c.serial, c.id
		if err := cert.SignCert(rand.Reader, ca); err != nil {
			t.Fatal(err)
		}
		certs[c.name] = cert
		write(c.name+"-cert.pub", authorized(cert)+"\n")
	}
	var spec strings.Builder
	spec.WriteString("# a KRL spec\n")
	spec.WriteString("key: " + authorized(keys["explicit"]) + "\n")
	spec.WriteString("sha1: " + authorized(keys["sha1"]) + "\n")
	spec.WriteString("sha256: " + authorized(keys["sha256"]) + "\n")
	spec.WriteString("hash: " + ssh.FingerprintSHA256(keys["hash"]) + "\n")
	spec.WriteString("serial: 5\nserial: 40-60\nid: stolen\n")
	// Sparse serials, which ssh-keygen writes as a bitmap.
	for s := 1001; s < 1100; s += 2 {
		fmt.Fprintf(&spec, "serial: %d\n", s)
	}
	specFile := write("spec", spec.String())
	krl := filepath.Join(dir, "revoked.krl")
	if out, err := exec.Command(keygen, "-k", "-f", krl, "-s", caPub, specFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -k: %v\n%s", err, out)
	}
	kh := writeFile(t, dir, "known_hosts", "@cert-authority * "+authorized(ca.PublicKey()))
	db := openRevoked(t, kh, krl)
	all := map[string]ssh.PublicKey{}
	for n, k := range keys {
		all[n] = k
	}
	for n, c := range certs {
		all[n] = c
	}
	revokedCount := 0
	for name, key := range all {
		file := filepath.Join(dir, name+".pub")
		if _, ok := certs[name]; ok {
			file = filepath.Join(dir, name+"-cert.pub")
		}
		// ssh-keygen -Q exits non-zero when a key is revoked.
		out, err := exec.Command(keygen, "-Q", "-f", krl, file).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("ssh-keygen -Q: %v", err)
		}
		theirs := err != nil
		var e *Error
		ours := errors.As(check(db, "web1", 22, Strict, key), &e) && e.Kind == Revoked
		if ours != theirs {
			t.Errorf("%s: Loom says revoked=%v, ssh-keygen -Q says %v (%s)", name, ours, theirs, strings.TrimSpace(string(out)))
		}
		if ours {
			revokedCount++
		}
	}
	// explicit, sha1, sha256, hash; c5, c50, c1001, c1003, cid.
	if revokedCount != 9 {
		t.Errorf("%d keys revoked, want 9", revokedCount)
	}
}

// FuzzRevoked checks that any RevokedHostKeys file content is either read
// or refused with an error naming the file, never a panic, and that a key
// listed in a file that was read is always revoked.
func FuzzRevoked(f *testing.F) {
	ed := newEd25519(f)
	f.Add([]byte(authorized(ed.PublicKey()) + " comment\n# c\n\n"))
	f.Add([]byte("garbage\n"))
	f.Add(newKRL().section(krlExplicitKey, str(ed.PublicKey().Marshal())).bytes())
	f.Add(newKRL().section(krlCertificates, cat(str(""), str(""),
		[]byte{krlCertSerialBitmap}, str(cat(u64(3), str([]byte{0x81}))),
		[]byte{krlCertSerialRange}, str(cat(u64(1), u64(9))),
		[]byte{krlCertKeyID}, str(str("id")))).bytes())
	f.Add([]byte(krlMagic))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "revoked")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := readRevoked(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error does not name the file on one line: %v", err)
			}
			return
		}
		cert := hostCert(t, ed, ed.PublicKey(), "web1")
		r.check(cert)
		for blob := range r.keys {
			if k, err := ssh.ParsePublicKey([]byte(blob)); err == nil {
				if _, _, revoked := r.check(k); !revoked {
					t.Fatalf("listed key %s not revoked", k.Type())
				}
			}
		}
	})
}
