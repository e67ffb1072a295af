// Package hostkey checks SSH host keys against OpenSSH known_hosts files for
// many connections at once.
//
// A [DB] is opened once per run and shared by every connection. For each
// host, [DB.Callback] returns the ssh.HostKeyCallback and the
// HostKeyAlgorithms to put in its ssh.ClientConfig. The algorithms are chosen
// from what known_hosts holds for the host: x/crypto/ssh's own preference
// puts ED25519 last (golang/go#29286), so a host known only by its ED25519 key
// would otherwise negotiate, say, ECDSA and fail with a false mismatch.
//
// Host matching (hashed names, [host]:port, wildcards and negations) is done
// by golang.org/x/crypto/ssh/knownhosts, through github.com/skeema/knownhosts,
// which also lets a "*" pattern match any port as OpenSSH does and maps
// @cert-authority lines to certificate algorithms. @cert-authority and
// @revoked lines are honoured: a revoked key, or a certificate signed by a
// revoked CA key, is refused whatever the [Policy].
//
// ssh_config's RevokedHostKeys files ([Options]) are honoured too, as
// ssh(1) reads them: lists of public keys, or OpenSSH key revocation lists
// (KRLs). A key they revoke, or a certificate they revoke or whose CA key
// they revoke, is refused whatever the Policy and whatever known_hosts
// says; a file that cannot be read or parsed makes [OpenWith] fail, as
// ssh refuses every host key then. With HashKnownHosts, the keys AcceptNew
// records are written under hashed host names, as ssh(1) writes them.
//
// Refusals are returned as [*Error], whose one-line message names the host,
// the offered key's fingerprint and the known_hosts lines involved.
package hostkey

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// DB is a set of known_hosts files shared by every connection of a run.
// It is safe for concurrent use.
type DB struct {
	files   []string // user files, then global ones, for messages
	target  string   // first user file: where AcceptNew appends; "" if none
	revoked []*revocations
	hash    bool // record hashed host names

	writeMu sync.Mutex // serialises appends to target within the process

	mu      sync.RWMutex
	snap    *snapshot
	overlay map[string][]known // keys appended since snap was read, by host
	tgt     targetState
}

// snapshot is what the known_hosts files held when they were read.
//
// Lines whose host patterns are all plain names are indexed by name, so a
// look-up costs the same with ten lines or ten thousand. The other lines
// (wildcards, negations, hashed names) are matched by x/crypto's
// knownhosts, through skeema's wrapper, which lets "*" patterns match any
// port as OpenSSH does.
type snapshot struct {
	byName  map[string][]xknownhosts.KnownKey // plain lines, by normalized name
	others  ssh.HostKeyCallback               // the other lines; nil if none
	moved   map[lineRef]lineRef               // others' lines → where they are written
	order   map[string]int                    // file → its place among the files
	ca      map[lineRef]bool                  // @cert-authority lines
	revoked map[string]Location               // @revoked keys, by public key blob
}

type lineRef struct {
	file string
	line int
}

// known is a key known for a host and where it is.
type known struct {
	key ssh.PublicKey
	loc Location
}

// targetState is what the DB knows of the file AcceptNew appends to.
type targetState struct {
	fi    os.FileInfo // nil if it did not exist
	stale bool        // it changed while being read
	lines int
}

// Open reads the known_hosts files: userFiles (ssh_config's
// UserKnownHostsFile, e.g. ~/.ssh/known_hosts, already expanded) and
// globalFiles (GlobalKnownHostsFile). Missing files are fine; the first
// user file is created when [AcceptNew] first records a key. A file that
// cannot be read, or a line that is not valid, is an error naming the file
// (and line). Lines with key types x/crypto/ssh does not support are
// skipped, as such keys can never be offered.
func Open(userFiles, globalFiles []string) (*DB, error) {
	return OpenWith(userFiles, globalFiles, Options{})
}

// Options are the ssh_config settings a DB follows besides its
// known_hosts files.
type Options struct {
	// RevokedHostKeys are files of revoked host keys (ssh_config's
	// RevokedHostKeys, expanded): public keys one a line, as in
	// authorized_keys without options, or OpenSSH KRLs (ssh-keygen -k).
	RevokedHostKeys []string
	// HashKnownHosts makes AcceptNew record hashed host names
	// ("|1|salt|hash", as ssh-keygen -H writes them).
	HashKnownHosts bool
}

// OpenWith is [Open] with options. A RevokedHostKeys file that is missing,
// cannot be read, or does not parse (a list line that is not a public
// key, a KRL with a section Loom does not know) is an error naming the
// file: ssh(1) refuses every host key then.
func OpenWith(userFiles, globalFiles []string, o Options) (*DB, error) {
	db := &DB{overlay: make(map[string][]known), hash: o.HashKnownHosts}
	for _, f := range o.RevokedHostKeys {
		r, err := readRevoked(f)
		if err != nil {
			return nil, err
		}
		db.revoked = append(db.revoked, r)
	}
	for _, f := range slices.Concat(userFiles, globalFiles) {
		if f == "" {
			return nil, errors.New("hostkey: empty known_hosts file name")
		}
		if !slices.Contains(db.files, f) {
			db.files = append(db.files, f)
		}
	}
	if len(userFiles) > 0 {
		db.target = userFiles[0]
	}
	snap, ts, err := load(db.files, db.target)
	if err != nil {
		return nil, err
	}
	db.snap, db.tgt = snap, ts
	return db, nil
}

// load reads files and records the state of target.
func load(files []string, target string) (*snapshot, targetState, error) {
	s := &snapshot{
		byName:  make(map[string][]xknownhosts.KnownKey),
		moved:   make(map[lineRef]lineRef),
		order:   make(map[string]int),
		ca:      make(map[lineRef]bool),
		revoked: make(map[string]Location),
	}
	var ts targetState
	var before os.FileInfo
	var others bytes.Buffer // the lines that are not plain names
	var otherLines []lineRef
	for i, f := range files {
		s.order[f] = i
		if f == target {
			before, _ = os.Stat(f)
		}
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, ts, fmt.Errorf("hostkey: %w", err)
		}
		entries, lines, err := scan(f, data)
		if err != nil {
			return nil, ts, err
		}
		if f == target {
			ts.lines = lines
		}
		for _, e := range entries {
			switch e.marker {
			case markerCA:
				s.ca[lineRef{f, e.line}] = true
			case markerRevoked:
				blob := plainBlob(e.key)
				if _, dup := s.revoked[blob]; !dup {
					s.revoked[blob] = location(f, e.line, e.key)
				}
				continue // never a host's key
			}
			if names, ok := literalNames(e.pattern); ok {
				k := xknownhosts.KnownKey{Key: e.key, Filename: f, Line: e.line}
				for _, n := range names {
					// A line naming a host twice is found once, as x/crypto finds it.
					if l := s.byName[n]; len(l) == 0 || l[len(l)-1].Filename != f || l[len(l)-1].Line != e.line {
						s.byName[n] = append(l, k)
					}
				}
				continue
			}
			others.Write(e.raw)
			others.WriteByte('\n')
			otherLines = append(otherLines, lineRef{f, e.line})
		}
	}
	if len(otherLines) > 0 {
		if err := s.loadOthers(others.Bytes(), otherLines); err != nil {
			return nil, ts, err
		}
	}
	if target != "" {
		after, _ := os.Stat(target)
		ts.fi = after
		ts.stale = !sameState(before, after)
	}
	return s, ts, nil
}

// loadOthers hands the lines that are not plain names to x/crypto's
// knownhosts, which reads files: through a private temporary file, read
// at once and removed. lines are where each line really is.
func (s *snapshot) loadOthers(data []byte, lines []lineRef) error {
	f, err := os.CreateTemp("", "loom-known-hosts-")
	if err != nil {
		return fmt.Errorf("hostkey: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hostkey: %w", err)
	}
	hkdb, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return fmt.Errorf("hostkey: %w", err)
	}
	for i, l := range lines {
		s.moved[lineRef{f.Name(), i + 1}] = l
	}
	s.others = hkdb.HostKeyCallback()
	return nil
}

// sameState reports whether two stats of a file show the same content, as
// far as identity, size and modification time tell.
func sameState(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Callback returns the host key callback and the host key algorithms for
// one connection, for ssh.ClientConfig's HostKeyCallback and
// HostKeyAlgorithms.
//
// name is the name looked up in known_hosts: ssh_config's HostKeyAlias if
// set, else the host name or address as given (not resolved). port is the
// SSH port; for a port other than 22 the lookup name is "[name]:port", as
// OpenSSH writes it. The callback ignores the address x/crypto passes it and
// uses name; a host certificate must name it as a principal.
//
// algorithms lists the algorithms of the keys known_hosts holds for the
// host, with certificate algorithms first if a @cert-authority line matches
// it, so that negotiation picks a key that can be checked. With [Off], every
// other supported algorithm follows, so any server can be reached. When
// nothing is known for the host it is nil for [Strict] (the host will be
// refused anyway) and, for [AcceptNew] and [Off], plain key algorithms in
// OpenSSH's order, ED25519 first, so the key recorded is the one ssh(1)
// would record.
//
// The policy decides what happens to a key known_hosts does not vouch for;
// see [Policy]. Under [AcceptNew], a host with keys known of another type is
// refused as [Changed], where OpenSSH would add the new type: a different key
// type is as likely to be an impostor as a rotated key. A host matched by a
// @cert-authority line whose certificate is not accepted is refused too
// rather than trusted on first use. warn, which may be nil, receives one-line
// messages: with [Off], a key that differs from the known ones; with
// [AcceptNew], each key recorded.
//
// Under every policy, a revoked key is refused: one in a @revoked line or
// in a RevokedHostKeys file.
func (db *DB) Callback(name string, port int, p Policy, warn func(string)) (cb ssh.HostKeyCallback, algorithms []string) {
	if len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' {
		name = name[1 : len(name)-1]
	}
	if port <= 0 {
		port = 22
	}
	if p < Strict || p > Off {
		p = Strict
	}
	if warn == nil {
		warn = func(string) {}
	}
	hp := net.JoinHostPort(name, strconv.Itoa(port))
	host := xknownhosts.Normalize(hp)
	cb = func(_ string, remote net.Addr, key ssh.PublicKey) error {
		return db.check(name, hp, host, remote, key, p, warn)
	}
	return cb, db.algorithms(hp, host, p)
}

// check decides on one offered key.
func (db *DB) check(name, hp, host string, remote net.Addr, key ssh.PublicKey, p Policy, warn func(string)) error {
	for _, r := range db.revoked {
		if loc, by, ok := r.check(key); ok {
			e := &Error{Kind: Revoked, Host: host, Files: slices.Clone(db.files), Known: []Location{loc}, RevokedBy: by}
			if remote != nil {
				e.Addr = remote.String()
			}
			e.KeyType, e.Fingerprint = describe(key)
			return e
		}
	}
	v := db.verify(hp, host, key)
	if v.err == nil && !v.ok && p == AcceptNew && v.kind == Unknown && !v.caManaged {
		first := v
		var err error
		v, err = db.addNew(name, hp, host, key, warn)
		if err != nil {
			return err
		}
		if v.certErr == nil {
			v.certErr = first.certErr
		}
	}
	switch {
	case v.err != nil:
		return v.err
	case v.ok:
		return nil
	}
	e := &Error{Kind: v.kind, Host: host, Files: slices.Clone(db.files), Known: v.known, Cert: v.certErr}
	if remote != nil {
		e.Addr = remote.String()
	}
	e.KeyType, e.Fingerprint = describe(key)
	if p == Off && v.kind != Revoked {
		if v.kind == Changed {
			warn("WARNING: " + e.Error() + "; connecting anyway (StrictHostKeyChecking=no)")
		}
		return nil
	}
	return e
}

// verdict is the outcome of checking a key.
type verdict struct {
	ok        bool
	kind      Kind       // when !ok
	known     []Location // for Changed and Revoked
	certErr   error      // a certificate was offered and not accepted
	caManaged bool       // a @cert-authority line matches the host
	err       error      // the check itself failed
}

// verify checks key for host against the files and the keys recorded since.
func (db *DB) verify(hp, host string, key ssh.PublicKey) verdict {
	db.mu.RLock()
	s, extra := db.snap, db.overlay[host]
	db.mu.RUnlock()
	return s.verify(hp, key, extra)
}

func (s *snapshot) verify(hp string, key ssh.PublicKey, extra []known) verdict {
	want, err := s.entries(hp)
	if err != nil {
		return verdict{err: err}
	}
	cert, isCert := key.(*ssh.Certificate)
	if !isCert {
		return s.verifyPlain(want, key, extra)
	}
	for _, k := range []ssh.PublicKey{cert.Key, cert.SignatureKey} {
		if loc, ok := s.revoked[plainBlob(k)]; ok {
			return verdict{kind: Revoked, known: []Location{loc}}
		}
	}
	trusted := false
	for _, w := range want {
		if s.ca[lineRef{w.Filename, w.Line}] && keyEq(w.Key, cert.SignatureKey) {
			trusted = true
		}
	}
	var certErr error
	switch {
	case cert.CertType != ssh.HostCert:
		certErr = errors.New("not a host certificate")
	case !trusted:
		certErr = errors.New("no @cert-authority line for this host lists its CA key")
	default:
		principal, _, _ := net.SplitHostPort(hp)
		var checker ssh.CertChecker // revocation was checked above
		certErr = checker.CheckCert(principal, cert)
	}
	if certErr == nil {
		return verdict{ok: true}
	}
	// As ssh(1) does, fall back to checking the certified key on its own.
	v := s.verifyPlain(want, cert.Key, extra)
	if !v.ok {
		v.certErr = certErr
	}
	return v
}

func (s *snapshot) verifyPlain(want []xknownhosts.KnownKey, key ssh.PublicKey, extra []known) verdict {
	if loc, ok := s.revoked[plainBlob(key)]; ok {
		return verdict{kind: Revoked, known: []Location{loc}}
	}
	var v verdict
	var plain []known
	for _, w := range want {
		if s.ca[lineRef{w.Filename, w.Line}] {
			v.caManaged = true
			continue
		}
		plain = append(plain, known{w.Key, location(w.Filename, w.Line, w.Key)})
	}
	plain = append(plain, extra...)
	for _, k := range plain {
		if keyEq(k.key, key) {
			return verdict{ok: true}
		}
	}
	if len(plain) == 0 {
		v.kind = Unknown
		return v
	}
	v.kind = Changed
	for _, k := range plain {
		v.known = append(v.known, k.loc)
	}
	return v
}

// entries returns the known_hosts lines, plain and @cert-authority, that
// match hp ("host:port"), in the files' order: the lines indexed by name,
// and those x/crypto's matching finds among the others.
func (s *snapshot) entries(hp string) ([]xknownhosts.KnownKey, error) {
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return nil, fmt.Errorf("hostkey: %w", err)
	}
	found := slices.Clone(s.byName[xknownhosts.Normalize(hp)])
	if s.others != nil {
		n, _ := strconv.Atoi(port)
		err = s.others(hp, &net.TCPAddr{IP: net.IPv4zero, Port: n}, probeKey{})
		var ke *xknownhosts.KeyError
		if !errors.As(err, &ke) {
			return nil, fmt.Errorf("hostkey: looking up %s: %w", hp, err)
		}
		for _, k := range ke.Want {
			if at, ok := s.moved[lineRef{k.Filename, k.Line}]; ok {
				k.Filename, k.Line = at.file, at.line
			}
			found = append(found, k)
		}
	}
	slices.SortStableFunc(found, func(a, b xknownhosts.KnownKey) int {
		if c := s.order[a.Filename] - s.order[b.Filename]; c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return found, nil
}

// probeKey matches no known_hosts line, so a lookup with it returns every
// line that matches the host in a KeyError.
type probeKey struct{}

func (probeKey) Type() string                               { return "loom-probe@loomssh" }
func (probeKey) Marshal() []byte                            { return []byte("\x00\x00\x00\x12loom-probe@loomssh") }
func (probeKey) Verify(data []byte, _ *ssh.Signature) error { return errors.New("probe key") }

func keyEq(a, b ssh.PublicKey) bool {
	return bytes.Equal(a.Marshal(), b.Marshal())
}

// plainBlob returns the wire form of key, of the certified key for a
// certificate.
func plainBlob(key ssh.PublicKey) string {
	if c, ok := key.(*ssh.Certificate); ok {
		key = c.Key
	}
	return string(key.Marshal())
}

// algorithms chooses HostKeyAlgorithms for host; see Callback.
func (db *DB) algorithms(hp, host string, p Policy) []string {
	db.mu.RLock()
	s, extra := db.snap, db.overlay[host]
	db.mu.RUnlock()

	var certs, plain []string
	add := func(a string) {
		switch {
		case a == "":
			// a CA key type with no certificate algorithm
		case isCertAlgo(a):
			if !slices.Contains(certs, a) {
				certs = append(certs, a)
			}
		default:
			if !slices.Contains(plain, a) {
				plain = append(plain, a)
			}
		}
	}
	known, _ := s.entries(hp) // an error here is reported by the check itself
	for _, k := range known {
		for _, a := range algosForKey(k.Key.Type()) {
			if s.ca[lineRef{k.Filename, k.Line}] {
				a = certAlgo(a)
			}
			add(a)
		}
	}
	for _, k := range extra {
		for _, a := range algosForKey(k.key.Type()) {
			add(a)
		}
	}
	if len(certs) == 0 && len(plain) == 0 {
		if p == Strict {
			return nil
		}
		for _, a := range preferred() {
			if !isCertAlgo(a) {
				add(a)
			}
		}
		return plain
	}
	if len(certs) > 0 {
		// skeema guesses the host key type from the CA key type, but a CA
		// of one type may sign host keys of another: offer every
		// certificate type, the guessed ones first.
		for _, a := range preferred() {
			if isCertAlgo(a) {
				add(a)
			}
		}
	}
	out := append(certs, plain...)
	if p == Off {
		// Known types first, then anything else: Off must reach any server.
		for _, a := range preferred() {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// certAlgo returns the certificate algorithm of host keys signed by a CA
// key of algorithm a (a guess: a CA may sign keys of another type), or "".
func certAlgo(a string) string { return certAlgos[a] }

var certAlgos = map[string]string{
	ssh.KeyAlgoRSA:        ssh.CertAlgoRSAv01,
	ssh.KeyAlgoRSASHA256:  ssh.CertAlgoRSASHA256v01,
	ssh.KeyAlgoRSASHA512:  ssh.CertAlgoRSASHA512v01,
	algoDSA:               certAlgoDSA,
	ssh.KeyAlgoECDSA256:   ssh.CertAlgoECDSA256v01,
	ssh.KeyAlgoSKECDSA256: ssh.CertAlgoSKECDSA256v01,
	ssh.KeyAlgoECDSA384:   ssh.CertAlgoECDSA384v01,
	ssh.KeyAlgoECDSA521:   ssh.CertAlgoECDSA521v01,
	ssh.KeyAlgoED25519:    ssh.CertAlgoED25519v01,
	ssh.KeyAlgoSKED25519:  ssh.CertAlgoSKED25519v01,
}

// algosForKey returns the algorithms for a key of type t, as skeema does.
func algosForKey(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

func isCertAlgo(a string) bool {
	return strings.Contains(a, "-cert-v01@")
}

// preferred returns the host key algorithms x/crypto/ssh supports, in
// OpenSSH's order of preference (ED25519 first) and then x/crypto's.
func preferred() []string {
	supported := ssh.SupportedAlgorithms().HostKeys
	order := []string{
		ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01,
		ssh.CertAlgoECDSA521v01, ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
		ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
		ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
	}
	var out []string
	for _, a := range order {
		if slices.Contains(supported, a) {
			out = append(out, a)
		}
	}
	for _, a := range supported {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
