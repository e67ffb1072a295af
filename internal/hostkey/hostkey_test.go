package hostkey

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{
		"yes": Strict, "Strict": Strict, "true": Strict, "ask": Strict,
		"accept-new": AcceptNew, "ACCEPT-NEW": AcceptNew,
		"no": Off, "off": Off, "false": Off,
	} {
		got, err := ParsePolicy(in)
		if err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParsePolicy(got.String()); err != nil || back != got {
			t.Errorf("ParsePolicy(%v.String()) = %v, %v", got, back, err)
		}
	}
	_, err := ParsePolicy("maybe")
	if err == nil || !strings.Contains(err.Error(), `"maybe"`) {
		t.Errorf("ParsePolicy(maybe) error = %v, want one naming the value", err)
	}
}

func TestStrict(t *testing.T) {
	dir := t.TempDir()
	ed, other, rsaKey := newEd25519(t), newEd25519(t), newRSA(t, 0)
	kh := writeFile(t, dir, "known_hosts",
		"# comment",
		line("web1,10.0.0.5", ed.PublicKey()),
		"",
		line("web2", rsaKey.PublicKey()),
	)
	missing := filepath.Join(dir, "missing")
	db := open(t, []string{kh}, missing)

	if err := check(db, "web1", 22, Strict, ed.PublicKey()); err != nil {
		t.Errorf("known key: %v", err)
	}
	if err := check(db, "10.0.0.5", 22, Strict, ed.PublicKey()); err != nil {
		t.Errorf("known key by address: %v", err)
	}
	if err := check(db, "web2", 22, Strict, rsaKey.PublicKey()); err != nil {
		t.Errorf("known RSA key: %v", err)
	}

	// Changed key of the same type.
	err := check(db, "web1", 22, Strict, other.PublicKey())
	e := asError(t, err, Changed)
	if e.Host != "web1" || e.Addr != "10.0.0.5:22" || len(e.Known) != 1 ||
		e.Known[0].File != kh || e.Known[0].Line != 2 || e.Known[0].KeyType != "ED25519" ||
		e.Known[0].Fingerprint != ssh.FingerprintSHA256(ed.PublicKey()) {
		t.Errorf("Changed error = %+v", e)
	}
	want := fmt.Sprintf("host key for web1 (10.0.0.5:22) has CHANGED: server offered ED25519 %s, "+
		"known_hosts expects ED25519 %s at %s:2 (possible man-in-the-middle; if the host was rebuilt, remove that line)",
		ssh.FingerprintSHA256(other.PublicKey()), ssh.FingerprintSHA256(ed.PublicKey()), kh)
	if err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}

	// A key of another type is a change too, not a new key.
	e = asError(t, check(db, "web2", 22, Strict, ed.PublicKey()), Changed)
	mustContain(t, e.Error(), "web2", "RSA "+ssh.FingerprintSHA256(rsaKey.PublicKey()), kh+":4")

	// Unknown host.
	err = check(db, "web3", 22, Strict, ed.PublicKey())
	e = asError(t, err, Unknown)
	if !slices.Equal(e.Files, []string{kh, missing}) {
		t.Errorf("Files = %q", e.Files)
	}
	want = fmt.Sprintf("host key for web3 (10.0.0.5:22) is not known: server offered ED25519 %s (checked %s, %s); "+
		"verify it and add it, or use StrictHostKeyChecking=accept-new",
		ssh.FingerprintSHA256(ed.PublicKey()), kh, missing)
	if err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}

	// Strict never writes.
	if got := readLines(t, kh); len(got) != 4 {
		t.Errorf("file changed: %q", got)
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	db := open(t, []string{filepath.Join(dir, "a")}, filepath.Join(dir, "b"))
	asError(t, check(db, "web1", 22, Strict, newEd25519(t).PublicKey()), Unknown)

	db = open(t, nil)
	err := check(db, "web1", 22, Strict, newEd25519(t).PublicKey())
	mustContain(t, asError(t, err, Unknown).Error(), "no known_hosts file")
}

func TestHashedAndPorts(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3 := newEd25519(t), newECDSA(t), newEd25519(t)
	kh := writeFile(t, dir, "known_hosts",
		line(xknownhosts.HashHostname("web1"), k1.PublicKey()),
		line(xknownhosts.HashHostname("[web2]:2222"), k2.PublicKey()),
		line("[web3]:2200", k3.PublicKey()),
	)
	db := open(t, []string{kh})
	for _, tt := range []struct {
		name string
		port int
		key  ssh.PublicKey
		kind Kind // -1: accepted
	}{
		{"web1", 22, k1.PublicKey(), -1},
		{"web1", 2222, k1.PublicKey(), -1}, // no [web1]:2222 line: found without the port, as ssh does
		{"WEB1", 22, k1.PublicKey(), -1},   // looked up lowercased, as ssh does
		{"web1", 22, k2.PublicKey(), Changed},
		{"web2", 2222, k2.PublicKey(), -1},
		{"web2", 22, k2.PublicKey(), Unknown},
		{"web3", 2200, k3.PublicKey(), -1},
		{"web3", 22, k3.PublicKey(), Unknown},
		{"[web3]", 2200, k3.PublicKey(), -1},
		{"web3", 2200, k1.PublicKey(), Changed},
	} {
		err := check(db, tt.name, tt.port, Strict, tt.key)
		if tt.kind == -1 {
			if err != nil {
				t.Errorf("%s:%d: %v", tt.name, tt.port, err)
			}
			continue
		}
		e := asError(t, err, tt.kind)
		if tt.port != 22 {
			want := "[" + strings.Trim(tt.name, "[]") + "]:" + fmt.Sprint(tt.port)
			if e.Host != want {
				t.Errorf("Host = %q, want %q", e.Host, want)
			}
		}
	}
	// A changed key for a hashed entry names the line, not the host.
	e := asError(t, check(db, "web1", 22, Strict, k3.PublicKey()), Changed)
	mustContain(t, e.Error(), kh+":1")
}

func TestWildcards(t *testing.T) {
	dir := t.TempDir()
	k, bad := newEd25519(t), newEd25519(t)
	kh := writeFile(t, dir, "known_hosts",
		line("*.example.com,!evil.example.com", k.PublicKey()),
		line("db?.internal", k.PublicKey()),
	)
	db := open(t, []string{kh})
	for _, name := range []string{"a.example.com", "x.y.example.com", "db1.internal"} {
		if err := check(db, name, 22, Strict, k.PublicKey()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A pattern without a port does not match [a.example.com]:2222, but as
	// no line does, ssh looks the name up without the port, and so does Loom.
	if err := check(db, "a.example.com", 2222, Strict, k.PublicKey()); err != nil {
		t.Errorf("a.example.com:2222: %v", err)
	}
	for _, name := range []string{"evil.example.com", "example.com", "db10.internal", "other"} {
		asError(t, check(db, name, 22, Strict, k.PublicKey()), Unknown)
	}
	asError(t, check(db, "a.example.com", 22, Strict, bad.PublicKey()), Changed)
	// Nor does "?", though ssh matches a pattern against "[name]:port":
	// the port-less look-up finds the line.
	if err := check(db, "DB1.internal", 2222, Strict, k.PublicKey()); err != nil {
		t.Errorf("DB1.internal:2222: %v", err)
	}
}

func TestCertAuthority(t *testing.T) {
	dir := t.TempDir()
	ca, otherCA := newEd25519(t), newECDSA(t)
	hostKey := newECDSA(t) // a CA of one type signing a host key of another
	kh := writeFile(t, dir, "known_hosts",
		"@cert-authority *.example.com,10.1.* "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))),
	)
	db := open(t, []string{kh})

	good := hostCert(t, ca, hostKey.PublicKey(), "web1.example.com", "10.1.2.3")
	for _, name := range []string{"web1.example.com", "10.1.2.3"} {
		if err := check(db, name, 22, Strict, good); err != nil {
			t.Errorf("cert for %s: %v", name, err)
		}
	}
	// Matching CA, but not a principal of the certificate.
	e := asError(t, check(db, "web2.example.com", 22, Strict, good), Unknown)
	if e.Cert == nil || e.KeyType != "ECDSA-CERT" || e.Fingerprint != ssh.FingerprintSHA256(hostKey.PublicKey()) {
		t.Errorf("error = %+v", e)
	}
	mustContain(t, e.Error(), "web2.example.com", "certificate not accepted", "principal")
	// The CA is not trusted for this host.
	e = asError(t, check(db, "web1.other.com", 22, Strict, hostCert(t, ca, hostKey.PublicKey(), "web1.other.com")), Unknown)
	mustContain(t, e.Error(), "@cert-authority")
	// Signed by another CA.
	asError(t, check(db, "web1.example.com", 22, Strict, hostCert(t, otherCA, hostKey.PublicKey(), "web1.example.com")), Unknown)
	// Expired.
	expired := &ssh.Certificate{Key: hostKey.PublicKey(), CertType: ssh.HostCert, ValidPrincipals: []string{"web1.example.com"},
		ValidAfter: 1, ValidBefore: uint64(time.Now().Add(-time.Minute).Unix())}
	if err := expired.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	e = asError(t, check(db, "web1.example.com", 22, Strict, expired), Unknown)
	mustContain(t, e.Error(), "expired")
	// A user certificate is not a host certificate.
	user := hostCert(t, ca, hostKey.PublicKey(), "web1.example.com")
	user.CertType = ssh.UserCert
	if err := user.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	asError(t, check(db, "web1.example.com", 22, Strict, user), Unknown)
	// The plain host key is not trusted by the CA line, and neither is the
	// CA key offered as a plain host key.
	asError(t, check(db, "web1.example.com", 22, Strict, hostKey.PublicKey()), Unknown)
	asError(t, check(db, "web1.example.com", 22, Strict, ca.PublicKey()), Unknown)

	// Algorithms: certificates first, the CA's type first among them.
	_, algos := db.Callback("web1.example.com", 22, Strict, nil)
	if len(algos) == 0 || algos[0] != ssh.CertAlgoED25519v01 || !slices.Contains(algos, ssh.CertAlgoECDSA256v01) {
		t.Errorf("algorithms = %q", algos)
	}
	for _, a := range algos {
		if !strings.Contains(a, "-cert-") {
			t.Errorf("algorithms = %q: plain %s for a host known by CA only", algos, a)
		}
	}
	_, algos = db.Callback("web1.other.com", 22, Strict, nil)
	if algos != nil {
		t.Errorf("algorithms for a host not covered by the CA = %q, want nil", algos)
	}
}

func TestCertFallsBackToPlainKey(t *testing.T) {
	dir := t.TempDir()
	ca, hostKey := newEd25519(t), newEd25519(t)
	kh := writeFile(t, dir, "known_hosts", line("web1", hostKey.PublicKey()))
	db := open(t, []string{kh})
	// No CA is trusted, but the certified key is known: accepted, as ssh does.
	if err := check(db, "web1", 22, Strict, hostCert(t, ca, hostKey.PublicKey(), "web1")); err != nil {
		t.Errorf("cert of a known key: %v", err)
	}
	other := newEd25519(t)
	e := asError(t, check(db, "web1", 22, Strict, hostCert(t, ca, other.PublicKey(), "web1")), Changed)
	if e.Cert == nil || e.KeyType != "ED25519-CERT" {
		t.Errorf("error = %+v", e)
	}
}

func TestHostKeyAliasIsPrincipal(t *testing.T) {
	dir := t.TempDir()
	ca, hostKey := newEd25519(t), newEd25519(t)
	kh := writeFile(t, dir, "known_hosts", "@cert-authority alias1 "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))))
	db := open(t, []string{kh})
	cb, _ := db.Callback("alias1", 22, Strict, nil)
	if err := cb("10.9.9.9:22", remote, hostCert(t, ca, hostKey.PublicKey(), "alias1")); err != nil {
		t.Error(err)
	}
	if err := cb("10.9.9.9:22", remote, hostCert(t, ca, hostKey.PublicKey(), "10.9.9.9")); err == nil {
		t.Error("certificate for the address accepted under an alias")
	}
}

func TestRevoked(t *testing.T) {
	dir := t.TempDir()
	k, ca, hostKey := newEd25519(t), newEd25519(t), newEd25519(t)
	kh := writeFile(t, dir, "known_hosts",
		line("web1", k.PublicKey()),
		"@cert-authority * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))),
	)
	revoked := writeFile(t, dir, "revoked",
		"# revoked keys",
		"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))),
		"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))),
	)
	db := open(t, []string{kh}, revoked)
	for _, p := range []Policy{Strict, AcceptNew, Off} {
		err := check(db, "web1", 22, p, k.PublicKey())
		e := asError(t, err, Revoked)
		if len(e.Known) != 1 || e.Known[0].File != revoked || e.Known[0].Line != 2 {
			t.Errorf("%v: Known = %+v", p, e.Known)
		}
		want := fmt.Sprintf("host key for web1 (10.0.0.5:22) is REVOKED in %s:2: server offered ED25519 %s",
			revoked, ssh.FingerprintSHA256(k.PublicKey()))
		if err.Error() != want {
			t.Errorf("message\n got %s\nwant %s", err, want)
		}
		// A certificate signed by a revoked CA, and a certificate of a
		// revoked key.
		e = asError(t, check(db, "web2", 22, p, hostCert(t, ca, hostKey.PublicKey(), "web2")), Revoked)
		mustContain(t, e.Error(), revoked+":3", "revoked CA key")
		asError(t, check(db, "web2", 22, p, hostCert(t, newEd25519(t), k.PublicKey(), "web2")), Revoked)
	}
	if got := readLines(t, kh); len(got) != 2 {
		t.Errorf("known_hosts changed: %q", got)
	}
}

// A @revoked line applies to the hosts its pattern matches, as in ssh(1);
// a certificate signed by a CA revoked for the host is refused even when
// the certified key is listed as the host's plain key.
func TestRevokedWherePatternMatches(t *testing.T) {
	dir := t.TempDir()
	k, ca := newEd25519(t), newEd25519(t)
	text := func(k ssh.Signer) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))) }
	kh := writeFile(t, dir, "known_hosts",
		"@revoked db* "+text(k),
		"@revoked [web1]:2222 "+text(k),
		"@revoked web* "+text(ca),
		line("web1,db1,other,[web1]:2200,[web1]:2222", k.PublicKey()),
	)
	db := open(t, []string{kh})
	for _, tt := range []struct {
		name string
		port int
		kind Kind // -1: accepted
	}{
		{"other", 22, -1},
		{"web1", 22, -1},
		{"DB1", 22, Revoked},
		{"web1", 2200, -1},
		{"web1", 2222, Revoked},
	} {
		err := check(db, tt.name, tt.port, Strict, k.PublicKey())
		if tt.kind == -1 {
			if err != nil {
				t.Errorf("%s:%d: %v", tt.name, tt.port, err)
			}
			continue
		}
		asError(t, err, tt.kind)
	}
	// The plain key is listed for web1, but the certificate's CA is
	// revoked for it: no fall back to the plain key.
	e := asError(t, check(db, "web1", 22, Strict, hostCert(t, ca, k.PublicKey(), "web1")), Revoked)
	mustContain(t, e.Error(), kh+":3", "revoked CA key")
	if err := check(db, "other", 22, Strict, hostCert(t, ca, k.PublicKey(), "other")); err != nil {
		t.Errorf("certificate for other, CA revoked for web* only: %v", err)
	}
}

func TestAlgorithms(t *testing.T) {
	dir := t.TempDir()
	ed, ec, rs := newEd25519(t), newECDSA(t), newRSA(t, 0)
	kh := writeFile(t, dir, "known_hosts",
		line("edonly", ed.PublicKey()),
		line("multi", rs.PublicKey()),
		line("multi", ed.PublicKey()),
		line("[ecport]:2222", ec.PublicKey()),
	)
	db := open(t, []string{kh})
	algos := func(name string, port int, p Policy) []string {
		_, a := db.Callback(name, port, p, nil)
		return a
	}
	for _, tt := range []struct {
		name string
		port int
		p    Policy
		want []string
	}{
		{"edonly", 22, Strict, []string{ssh.KeyAlgoED25519}},
		{"edonly", 22, AcceptNew, []string{ssh.KeyAlgoED25519}},
		// OpenSSH's order, not the file's; no SHA-1 ssh-rsa, as ssh(1).
		{"multi", 22, Strict, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}},
		{"ecport", 2222, Strict, []string{ssh.KeyAlgoECDSA256}},
		{"ecport", 22, Strict, nil},
		{"unknown", 22, Strict, nil},
	} {
		if got := algos(tt.name, tt.port, tt.p); !slices.Equal(got, tt.want) {
			t.Errorf("%s:%d %v: %q, want %q", tt.name, tt.port, tt.p, got, tt.want)
		}
	}
	// Nothing known, AcceptNew: plain algorithms, ED25519 first.
	got := algos("unknown", 22, AcceptNew)
	if len(got) < 2 || got[0] != ssh.KeyAlgoED25519 || slices.ContainsFunc(got, isCertAlgo) {
		t.Errorf("unknown host, accept-new: %q", got)
	}
	// Off: the known type first, then everything else.
	got = algos("edonly", 22, Off)
	if len(got) < 2 || got[0] != ssh.KeyAlgoED25519 || !slices.Contains(got, ssh.KeyAlgoECDSA256) {
		t.Errorf("edonly, off: %q", got)
	}
}

func TestAcceptNew(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "new", ".ssh", "known_hosts") // nothing exists yet
	db := open(t, []string{kh})
	k, other := newEd25519(t), newRSA(t, 1)

	var warnings []string
	cb, algos := db.Callback("web1", 22, AcceptNew, func(s string) { warnings = append(warnings, s) })
	if len(algos) == 0 || algos[0] != ssh.KeyAlgoED25519 {
		t.Errorf("algorithms = %q", algos)
	}
	if err := cb("web1:22", remote, k.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if got, want := readLines(t, kh), []string{xknownhosts.Line([]string{"web1"}, k.PublicKey())}; !slices.Equal(got, want) {
		t.Errorf("file = %q, want %q", got, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], kh+":1") {
		t.Errorf("warnings = %q", warnings)
	}
	for p, want := range map[string]os.FileMode{kh: 0o600, filepath.Dir(kh): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want && runtime.GOOS != "windows" { // NTFS has ACLs, not modes
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	// The same DB now knows the key, under every policy...
	for _, p := range []Policy{Strict, AcceptNew} {
		if err := check(db, "web1", 22, p, k.PublicKey()); err != nil {
			t.Errorf("%v after accept: %v", p, err)
		}
		e := asError(t, check(db, "web1", 22, p, other.PublicKey()), Changed)
		mustContain(t, e.Error(), kh+":1", "ED25519 "+ssh.FingerprintSHA256(k.PublicKey()))
	}
	if _, algos := db.Callback("web1", 22, Strict, nil); !slices.Equal(algos, []string{ssh.KeyAlgoED25519}) {
		t.Errorf("algorithms after accept = %q", algos)
	}
	// ...and so does a new one.
	if err := check(open(t, []string{kh}), "web1", 22, Strict, k.PublicKey()); err != nil {
		t.Errorf("reopened: %v", err)
	}

	// Non-standard port; a certificate records its plain key.
	ca, k2 := newEd25519(t), newECDSA(t)
	if err := check(db, "web2", 2222, AcceptNew, hostCert(t, ca, k2.PublicKey(), "web2")); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, kh)
	if len(got) != 2 || got[1] != xknownhosts.Line([]string{"[web2]:2222"}, k2.PublicKey()) {
		t.Errorf("file = %q", got)
	}
	if err := check(db, "web2", 2222, Strict, k2.PublicKey()); err != nil {
		t.Error(err)
	}
	e := asError(t, check(db, "web2", 2222, Strict, other.PublicKey()), Changed)
	mustContain(t, e.Error(), "[web2]:2222", kh+":2")
}

func TestAcceptNewRefusesChanges(t *testing.T) {
	dir := t.TempDir()
	k, sameType, otherType := newEd25519(t), newEd25519(t), newECDSA(t)
	kh := writeFile(t, dir, "known_hosts", line("web1", k.PublicKey()))
	db := open(t, []string{kh})
	asError(t, check(db, "web1", 22, AcceptNew, sameType.PublicKey()), Changed)
	asError(t, check(db, "web1", 22, AcceptNew, otherType.PublicKey()), Changed)

	// A host covered by a CA whose certificate fails is not trusted on
	// first use.
	ca := newEd25519(t)
	writeFile(t, dir, "known_hosts", line("web1", k.PublicKey()),
		"@cert-authority *.example.com "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))))
	db = open(t, []string{kh})
	e := asError(t, check(db, "web3.example.com", 22, AcceptNew, hostCert(t, ca, k.PublicKey(), "wrong")), Unknown)
	mustContain(t, e.Error(), "certificate not accepted")
	asError(t, check(db, "web3.example.com", 22, AcceptNew, k.PublicKey()), Unknown)

	if got := readLines(t, kh); len(got) != 2 {
		t.Errorf("file changed: %q", got)
	}
}

func TestAcceptNewBadNames(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	db := open(t, []string{kh})
	k, k2 := newEd25519(t), newEd25519(t)
	for _, name := range []string{"*", "*.example.com", "a b", "a,b", "x\n* ssh-ed25519 AAAA", "host:22", "@revoked", "!x", "|1|x|y", "a?", "#x", ""} {
		if err := check(db, name, 22, AcceptNew, k.PublicKey()); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	for _, name := range []string{"::1", "fe80::1%eth0", "10.0.0.1", "host-1.example.com", "under_score"} {
		if err := check(db, name, 22, AcceptNew, k.PublicKey()); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
		// Another key on port 2222: the port-less line does not vouch for
		// it, so it is new for [name]:2222.
		if err := check(db, name, 2222, AcceptNew, k2.PublicKey()); err != nil {
			t.Errorf("name %q port 2222: %v", name, err)
		}
	}
	if got := readLines(t, kh); len(got) != 10 {
		t.Errorf("file = %q", got)
	}
	db2 := open(t, []string{kh})
	for _, name := range []string{"::1", "fe80::1%eth0", "10.0.0.1"} {
		if err := check(db2, name, 2222, Strict, k2.PublicKey()); err != nil {
			t.Errorf("reading back %q: %v", name, err)
		}
	}
}

func TestAcceptNewNoTrailingNewline(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := newEd25519(t), newEd25519(t)
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte("# c\n"+line("web1", k1.PublicKey())), 0o600); err != nil {
		t.Fatal(err)
	}
	db := open(t, []string{kh})
	if err := check(db, "web2", 22, AcceptNew, k2.PublicKey()); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, kh)
	if len(got) != 3 || got[2] != line("web2", k2.PublicKey()) {
		t.Errorf("file = %q", got)
	}
	e := asError(t, check(db, "web2", 22, Strict, k1.PublicKey()), Changed)
	mustContain(t, e.Error(), kh+":3")
}

// TestAcceptNewOtherWriter checks that a key someone else appended after
// Open is seen before writing.
func TestAcceptNewOtherWriter(t *testing.T) {
	dir := t.TempDir()
	kh := writeFile(t, dir, "known_hosts")
	db := open(t, []string{kh})
	theirs, ours := newEd25519(t), newEd25519(t)
	f, err := os.OpenFile(kh, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, line("web1", theirs.PublicKey()))
	f.Close()

	e := asError(t, check(db, "web1", 22, AcceptNew, ours.PublicKey()), Changed)
	mustContain(t, e.Error(), kh+":1")
	if err := check(db, "web1", 22, AcceptNew, theirs.PublicKey()); err != nil {
		t.Error(err)
	}
	// Another host is added after their line.
	if err := check(db, "web2", 22, AcceptNew, ours.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, kh); len(got) != 2 {
		t.Errorf("file = %q", got)
	}
	e = asError(t, check(db, "web2", 22, Strict, theirs.PublicKey()), Changed)
	mustContain(t, e.Error(), kh+":2")
}

// TestAcceptNewRace races 50 goroutines on one new host, then two DBs (as
// two processes would be) on the same file, and checks each key is written
// exactly once.
func TestAcceptNewRace(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	db := open(t, []string{kh})
	k := newEd25519(t)
	race(t, 50, func(int) error { return check(db, "web1", 22, AcceptNew, k.PublicKey()) })
	if got := readLines(t, kh); len(got) != 1 {
		t.Fatalf("50 goroutines, one host: %d lines: %q", len(got), got)
	}

	// Two DBs, 10 hosts, 6 goroutines per host and DB.
	a, b := open(t, []string{kh}), open(t, []string{kh})
	keys := make([]ssh.PublicKey, 10)
	for i := range keys {
		keys[i] = newEd25519(t).PublicKey()
	}
	race(t, 120, func(i int) error {
		db := a
		if i/10%2 == 1 {
			db = b
		}
		h := i % 10
		return check(db, fmt.Sprintf("h%d", h), 22, AcceptNew, keys[h])
	})
	got := readLines(t, kh)
	if len(got) != 11 {
		t.Fatalf("got %d lines, want 11: %q", len(got), got)
	}
	for h, key := range keys {
		want := line(fmt.Sprintf("h%d", h), key)
		if n := slices.Index(got, want); n < 0 || slices.Index(got[n+1:], want) >= 0 {
			t.Errorf("h%d: not exactly once in %q", h, got)
		}
		for i, db := range []*DB{a, b, open(t, []string{kh})} {
			if err := check(db, fmt.Sprintf("h%d", h), 22, Strict, key); err != nil {
				t.Errorf("DB %d: %v", i, err)
			}
		}
	}
	if err := check(a, "web1", 22, Strict, k.PublicKey()); err != nil {
		t.Error(err)
	}
}

// race runs f(0..n-1) in n goroutines started together.
func race(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		go func() {
			<-start
			errs <- f(i)
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestOff(t *testing.T) {
	dir := t.TempDir()
	k, other := newEd25519(t), newEd25519(t)
	kh := writeFile(t, dir, "known_hosts", line("web1", k.PublicKey()))
	db := open(t, []string{kh})
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	cb, _ := db.Callback("web1", 22, Off, warn)
	if err := cb("web1:22", remote, k.PublicKey()); err != nil || len(warnings) != 0 {
		t.Errorf("known key: %v, %q", err, warnings)
	}
	if err := cb("web1:22", remote, other.PublicKey()); err != nil {
		t.Errorf("changed key: %v", err)
	}
	if len(warnings) != 1 || strings.Contains(warnings[0], "\n") {
		t.Fatalf("warnings = %q", warnings)
	}
	mustContain(t, warnings[0], "web1", "CHANGED", ssh.FingerprintSHA256(other.PublicKey()), kh+":1")
	cb, _ = db.Callback("web2", 22, Off, warn)
	if err := cb("web2:22", remote, other.PublicKey()); err != nil || len(warnings) != 1 {
		t.Errorf("unknown key: %v, %q", err, warnings)
	}
	// A nil warn is fine.
	if err := check(db, "web1", 22, Off, other.PublicKey()); err != nil {
		t.Error(err)
	}
	if got := readLines(t, kh); len(got) != 1 {
		t.Errorf("Off wrote: %q", got)
	}
}

func TestMalformedLinesSkipped(t *testing.T) {
	dir := t.TempDir()
	k := newEd25519(t)
	good := line("web1", k.PublicKey())
	for _, tt := range []struct {
		name, content, want string
	}{
		{"bad-base64", good + "\n# x\nweb2 ssh-ed25519 !!!!\n", ":3: key is not valid base64"},
		{"truncated", good + "\nweb2 ssh-ed25519\n", ":2: missing key"},
		{"type-mismatch", "web2 ssh-rsa " + strings.Fields(good)[2] + "\n", ":1: key type"},
		{"bad-marker", "@revokd web2 " + strings.Join(strings.Fields(good)[1:], " ") + "\n", ":1: "},
		{"bad-hash", "|1|abc " + strings.Join(strings.Fields(good)[1:], " ") + "\n", ":1: hashed host"},
		{"bad-revoked", good + "\n@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n", ":2: invalid ssh-ed25519 key"},
		{"long-line", good + "\n" + strings.Repeat("x", 70000) + "\n", ":2: "},
	} {
		// As ssh(1), the line is skipped and the others are used; Loom
		// says so once, naming the file and line.
		p := writeFile(t, dir, tt.name, tt.content)
		var warned []string
		db, err := OpenWith([]string{p}, nil, Options{Warn: func(s string) { warned = append(warned, s) }})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(warned) != 1 || !strings.Contains(warned[0], p+tt.want) {
			t.Errorf("%s: warnings %q, want one containing %q", tt.name, warned, p+tt.want)
		}
		if strings.HasPrefix(tt.content, good) {
			if err := check(db, "web1", 22, Strict, k.PublicKey()); err != nil {
				t.Errorf("%s: the valid line is not used: %v", tt.name, err)
			}
		}
	}
	// A file that cannot be read.
	if _, err := Open(nil, []string{dir}); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: error %v", err)
	}
	// Key types x/crypto cannot parse are skipped, even alone in a file.
	blob := "\x00\x00\x00\x14ssh-xmss@openssh.com\x00\x00\x00\x01x"
	xmss := "web3 ssh-xmss@openssh.com " + b64(blob)
	p := writeFile(t, dir, "xmss-only", xmss)
	if _, err := Open([]string{p}, nil); err != nil {
		t.Errorf("unsupported key type alone: %v", err)
	}
	p = writeFile(t, dir, "xmss", xmss, good)
	db, err := Open([]string{p}, nil)
	if err != nil {
		t.Fatalf("unsupported key type: %v", err)
	}
	if err := check(db, "web1", 22, Strict, k.PublicKey()); err != nil {
		t.Error(err)
	}
}
