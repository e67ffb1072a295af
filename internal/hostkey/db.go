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
// Host matching is OpenSSH's (see match.go): a host is looked up as its
// name, lowercased, for port 22 and as "[name]:port" otherwise; each line's
// patterns ("*", "?", "!" negation, comma lists) or hashed name are matched
// against that whole string, case-insensitively. As ssh(1) does, a host on
// another port that no line matches is looked up again without the port,
// and accepted if that finds its key. @cert-authority and @revoked lines
// apply to the hosts their patterns match: a revoked key, or a certificate
// signed by a revoked CA key, is refused whatever the [Policy]. A line that
// is not valid is skipped, as ssh skips it, and reported once through
// [Options].Warn naming its file and line.
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
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// DB is a set of known_hosts files shared by every connection of a run.
// It is safe for concurrent use.
type DB struct {
	files   []string // user files, then global ones, for messages
	target  string   // first user file: where AcceptNew appends; "" if none
	revoked []*revocations
	hash    bool // record hashed host names
	warn    func(string)
	warned  map[string]bool // lines reported as skipped; under writeMu after Open

	writeMu sync.Mutex // serialises appends to target within the process

	mu      sync.RWMutex
	snap    *snapshot
	overlay map[string][]known // keys appended since snap was read, by host
	tgt     targetState
}

// snapshot is what the known_hosts files held when they were read.
//
// Lines whose host patterns are all plain names are indexed by name, so a
// look-up costs the same with ten lines or ten thousand; the other lines
// (wildcards, negations, hashed names) are matched one by one.
type snapshot struct {
	byName map[string][]*hostLine // plain lines, by lowercased name
	others []*hostLine            // the other lines, in the files' order
	order  map[string]int         // file → its place among the files
}

// hostLine is one known_hosts line that names hosts.
type hostLine struct {
	file    string
	line    int
	marker  string // "", markerCA or markerRevoked
	pattern string
	key     ssh.PublicKey
}

func (l *hostLine) loc() Location { return location(l.file, l.line, l.key) }

// known is a key recorded for a host since the files were read, and where.
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
// cannot be read is an error naming it. A line that is not valid is
// skipped, as ssh(1) skips it (see [Options].Warn). Lines with key types
// x/crypto/ssh does not support are skipped, as such keys can never be
// offered.
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
	// Warn, if set, receives one line for each known_hosts line that is
	// not valid and was skipped, naming its file and line, when the files
	// are read.
	Warn func(string)
}

// OpenWith is [Open] with options. A RevokedHostKeys file that is missing,
// cannot be read, or does not parse (a list line that is not a public
// key, a KRL with a section Loom does not know) is an error naming the
// file: ssh(1) refuses every host key then.
func OpenWith(userFiles, globalFiles []string, o Options) (*DB, error) {
	db := &DB{overlay: make(map[string][]known), hash: o.HashKnownHosts, warn: o.Warn}
	if db.warn == nil {
		db.warn = func(string) {}
	}
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
	snap, ts, err := db.load()
	if err != nil {
		return nil, err
	}
	db.snap, db.tgt = snap, ts
	return db, nil
}

// load reads the files and records the state of the target. A line that
// is not valid is reported the first time it is seen.
func (db *DB) load() (*snapshot, targetState, error) {
	s, ts, bad, err := load(db.files, db.target)
	if err != nil {
		return nil, ts, err
	}
	for _, b := range bad {
		if db.warned == nil {
			db.warned = make(map[string]bool)
		}
		if !db.warned[b] {
			db.warned[b] = true
			db.warn("known_hosts line skipped: " + b)
		}
	}
	return s, ts, nil
}

// load reads files and records the state of target. bad describes the
// lines skipped as not valid.
func load(files []string, target string) (s *snapshot, ts targetState, bad []string, err error) {
	s = &snapshot{
		byName: make(map[string][]*hostLine),
		order:  make(map[string]int),
	}
	var before os.FileInfo
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
			return nil, ts, nil, fmt.Errorf("hostkey: %w", err)
		}
		entries, lines, b := scan(f, data)
		bad = append(bad, b...)
		if f == target {
			ts.lines = lines
		}
		for _, e := range entries {
			l := &hostLine{file: f, line: e.line, marker: e.marker, pattern: e.pattern, key: e.key}
			names, ok := literalNames(e.pattern)
			if !ok {
				s.others = append(s.others, l)
				continue
			}
			for _, n := range names {
				s.byName[n] = append(s.byName[n], l)
			}
		}
	}
	if target != "" {
		after, _ := os.Stat(target)
		ts.fi = after
		ts.stale = !sameState(before, after)
	}
	return s, ts, bad, nil
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
// set (with port 22, as ssh(1) looks an alias up without a port), else the
// host name or address as given (not resolved). port is the SSH port; for
// a port other than 22 the lookup name is "[name]:port", as OpenSSH writes
// it, and, as ssh does, if no line matches that name, name alone is looked
// up and a key found there accepted. Names are compared case-insensitively.
// The callback ignores the address x/crypto passes it and uses name; a host
// certificate must name it, lowercased, as a principal.
//
// algorithms lists the algorithms of the keys known_hosts holds for the
// host (or, if none, for name without the port), in OpenSSH's order of
// preference, with every certificate algorithm first if a @cert-authority
// line matches it, so that negotiation picks a key that can be checked.
// With [Off], every other supported algorithm follows, so any server can be
// reached. When nothing is known for the host it is nil for [Strict] (the
// host will be refused anyway) and, for [AcceptNew] and [Off], plain key
// algorithms in OpenSSH's order, ED25519 first, so the key recorded is the
// one ssh(1) would record. A server that offers none of them fails the
// handshake with x/crypto's "no common algorithm"; [DB.NegotiationError]
// turns that into a host key error.
//
// The policy decides what happens to a key known_hosts does not vouch for;
// see [Policy]. Under [AcceptNew], a host with keys known of another type is
// refused as [Changed], as ssh(1) refuses it: a different key type is as
// likely to be an impostor as a rotated key. A host matched by a
// @cert-authority line whose certificate is not accepted is refused too
// rather than trusted on first use. warn, which may be nil, receives one-line
// messages: with [Off], a key that differs from the known ones; with
// [AcceptNew], each key recorded.
//
// Under every policy, a revoked key is refused: one in a @revoked line
// matching the host or in a RevokedHostKeys file.
func (db *DB) Callback(name string, port int, p Policy, warn func(string)) (cb ssh.HostKeyCallback, algorithms []string) {
	lk := newLookup(name, port)
	if p < Strict || p > Off {
		p = Strict
	}
	if warn == nil {
		warn = func(string) {}
	}
	cb = func(_ string, remote net.Addr, key ssh.PublicKey) error {
		return db.check(lk, remote, key, p, warn)
	}
	return cb, db.algorithms(lk, p)
}

// lookup is what one connection looks up in known_hosts.
type lookup struct {
	name     string // the host name, lowercased: a certificate's principal
	host     string // the lookup name: name, or "[name]:port"
	fallback string // for a port other than 22, name, looked up if host finds nothing; else ""
}

func newLookup(name string, port int) lookup {
	if len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' {
		name = name[1 : len(name)-1]
	}
	if port <= 0 {
		port = 22
	}
	lk := lookup{name: lowerASCII(name), host: lookupName(name, port)}
	if port != 22 {
		lk.fallback = lk.name
	}
	return lk
}

// check decides on one offered key.
func (db *DB) check(lk lookup, remote net.Addr, key ssh.PublicKey, p Policy, warn func(string)) error {
	for _, r := range db.revoked {
		if loc, by, ok := r.check(key); ok {
			e := &Error{Kind: Revoked, Host: lk.host, Files: slices.Clone(db.files), Known: []Location{loc}, RevokedBy: by}
			if remote != nil {
				e.Addr = remote.String()
			}
			e.KeyType, e.Fingerprint = describe(key)
			return e
		}
	}
	v := db.verify(lk, key)
	if v.err == nil && !v.ok && p == AcceptNew && v.kind == Unknown && !v.caManaged {
		first := v
		var err error
		v, err = db.addNew(lk, key, warn)
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
	e := &Error{Kind: v.kind, Host: lk.host, Files: slices.Clone(db.files), Known: v.known, Cert: v.certErr}
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

// isNew reports whether v says the host is unknown and may be recorded.
func isNew(v verdict) bool {
	return v.err == nil && !v.ok && v.kind == Unknown && !v.caManaged
}

// verify checks key for lk against the files and the keys recorded since.
func (db *DB) verify(lk lookup, key ssh.PublicKey) verdict {
	db.mu.RLock()
	s, overlay := db.snap, db.overlay
	extra := map[string][]known{lk.host: overlay[lk.host]}
	if lk.fallback != "" {
		extra[lk.fallback] = overlay[lk.fallback]
	}
	db.mu.RUnlock()
	return s.verify(lk, key, extra)
}

// verify checks key as ssh(1)'s check_host_key does: a certificate against
// the @cert-authority lines, and if it is not accepted (and not revoked),
// the certified key on its own against the plain lines; each under the
// lookup name and, if that finds nothing, under the name without the port.
// extra holds keys recorded since the files were read, by lookup name.
func (s *snapshot) verify(lk lookup, key ssh.PublicKey, extra map[string][]known) verdict {
	cert, isCert := key.(*ssh.Certificate)
	if !isCert {
		return s.withFallback(lk, func(host string) verdict { return s.verifyPlain(host, key, extra[host]) })
	}
	v := s.withFallback(lk, func(host string) verdict { return s.verifyCert(host, lk.name, cert) })
	if v.ok || v.kind == Revoked {
		return v
	}
	// As ssh(1) does, fall back to checking the certified key on its own.
	p := s.withFallback(lk, func(host string) verdict { return s.verifyPlain(host, cert.Key, extra[host]) })
	if !p.ok {
		p.certErr = v.certErr
		p.caManaged = p.caManaged || v.caManaged
	}
	return p
}

// withFallback runs check for lk's lookup name, and, if that finds no key
// for the host, for its fallback name: a key accepted there is accepted,
// and one revoked there refused (ssh(1) refuses it only as unknown, which
// StrictHostKeyChecking=accept-new would then record).
func (s *snapshot) withFallback(lk lookup, check func(host string) verdict) verdict {
	v := check(lk.host)
	if lk.fallback == "" || v.ok || v.kind != Unknown {
		return v
	}
	v0 := check(lk.fallback)
	if v0.ok || v0.kind == Revoked {
		return v0
	}
	v.caManaged = v.caManaged || v0.caManaged
	return v
}

// verifyCert checks a host certificate for host against the
// @cert-authority and @revoked lines that match it; principal is the name
// the certificate must list.
func (s *snapshot) verifyCert(host, principal string, cert *ssh.Certificate) verdict {
	lines := s.entries(host)
	if v, ok := revokedIn(lines, cert.Key, cert.SignatureKey); ok {
		return v
	}
	var v verdict
	trusted := false
	for _, l := range lines {
		if l.marker != markerCA {
			continue
		}
		v.caManaged = true
		if keyEq(l.key, cert.SignatureKey) {
			trusted = true
		}
	}
	switch {
	case cert.CertType != ssh.HostCert:
		v.certErr = errors.New("not a host certificate")
	case !trusted:
		v.certErr = errors.New("no @cert-authority line for this host lists its CA key")
	default:
		var checker ssh.CertChecker // revocation was checked above
		v.certErr = checker.CheckCert(principal, cert)
	}
	if v.certErr == nil {
		return verdict{ok: true}
	}
	v.kind = Unknown
	return v
}

// verifyPlain checks a plain key for host against the lines that match it
// and the keys recorded for it since (extra).
func (s *snapshot) verifyPlain(host string, key ssh.PublicKey, extra []known) verdict {
	lines := s.entries(host)
	if v, ok := revokedIn(lines, key); ok {
		return v
	}
	var v verdict
	var plain []known
	for _, l := range lines {
		switch l.marker {
		case markerCA:
			v.caManaged = true
		case "":
			plain = append(plain, known{l.key, l.loc()})
		}
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

// revokedIn returns a Revoked verdict if one of the @revoked lines among
// lines lists one of keys (compared as plain keys).
func revokedIn(lines []*hostLine, keys ...ssh.PublicKey) (verdict, bool) {
	for _, l := range lines {
		if l.marker != markerRevoked {
			continue
		}
		for _, k := range keys {
			if plainBlob(l.key) == plainBlob(k) {
				return verdict{kind: Revoked, known: []Location{l.loc()}}, true
			}
		}
	}
	return verdict{}, false
}

// entries returns the known_hosts lines that match host (a lookup name),
// in the files' order: the lines indexed by name, and those among the
// others whose patterns match.
func (s *snapshot) entries(host string) []*hostLine {
	found := slices.Clone(s.byName[host])
	for _, l := range s.others {
		if matchHostField(host, l.pattern) {
			found = append(found, l)
		}
	}
	slices.SortStableFunc(found, func(a, b *hostLine) int {
		if c := s.order[a.file] - s.order[b.file]; c != 0 {
			return c
		}
		return a.line - b.line
	})
	return found
}

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

// algorithms chooses HostKeyAlgorithms for lk; see Callback. It is
// OpenSSH's order_hostkeyalgs, except that only the known types are
// offered (under Strict and AcceptNew): x/crypto/ssh cannot fall back to
// another key type, and a key of a type not known would be refused anyway.
func (db *DB) algorithms(lk lookup, p Policy) []string {
	db.mu.RLock()
	s, overlay := db.snap, db.overlay
	extra := map[string][]known{lk.host: overlay[lk.host], lk.fallback: overlay[lk.fallback]}
	db.mu.RUnlock()

	// The plain key types known, and whether a @cert-authority line matches.
	types := func(host string) (plain map[string]bool, ca bool) {
		plain = make(map[string]bool)
		for _, l := range s.entries(host) {
			switch l.marker {
			case markerCA:
				ca = true
			case "":
				plain[plainType(l.key)] = true
			}
		}
		for _, k := range extra[host] {
			plain[plainType(k.key)] = true
		}
		return plain, ca
	}
	plain, ca := types(lk.host)
	if len(plain) == 0 && !ca && lk.fallback != "" {
		plain, ca = types(lk.fallback)
	}
	var out []string
	for _, a := range preferred() {
		switch {
		case isCertAlgo(a) && ca, !isCertAlgo(a) && plain[algoKeyType(a)]:
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		if p == Strict {
			return nil
		}
		for _, a := range preferred() {
			if !isCertAlgo(a) {
				out = append(out, a)
			}
		}
		return out
	}
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

// plainType returns the type of key, of the certified key for a
// certificate.
func plainType(key ssh.PublicKey) string {
	if c, ok := key.(*ssh.Certificate); ok {
		return c.Key.Type()
	}
	return key.Type()
}

// algoKeyType returns the key type of a plain host key algorithm:
// ssh-rsa for rsa-sha2-256 and rsa-sha2-512.
func algoKeyType(a string) string {
	switch a {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return ssh.KeyAlgoRSA
	}
	return a
}

func isCertAlgo(a string) bool {
	return strings.Contains(a, "-cert-v01@")
}

// opensshOrder is OpenSSH 9's default HostKeyAlgorithms, in its order of
// preference.
var opensshOrder = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01,
	ssh.CertAlgoECDSA521v01, ssh.CertAlgoSKED25519v01, ssh.CertAlgoSKECDSA256v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
	ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// preferred returns the host key algorithms of OpenSSH's default list that
// x/crypto/ssh supports, in OpenSSH's order of preference (ED25519 first).
// Others x/crypto supports (ssh-rsa with SHA-1 signatures, say) are not in
// it: as with ssh(1), they are used only when HostKeyAlgorithms names them.
func preferred() []string {
	supported := ssh.SupportedAlgorithms().HostKeys
	var out []string
	for _, a := range opensshOrder {
		if slices.Contains(supported, a) {
			out = append(out, a)
		}
	}
	return out
}

// NegotiationError turns a handshake error that is x/crypto's "no common
// algorithm for host key" (an *ssh.AlgorithmNegotiationError) into an
// [*Error] for the host of Callback(name, port, ...): the server offers no
// key of a type known_hosts holds for it. That is [Changed], naming the
// lines known, as ssh(1), offering every type, would find the key of
// another type and report it changed; or [Unknown] when only
// @cert-authority lines match and the server offers no certificate. Its
// KeyType says what the server offered and Fingerprint is empty, as no key
// was received. Any other error is returned as it is.
func (db *DB) NegotiationError(name string, port int, err error) error {
	var ne *ssh.AlgorithmNegotiationError
	if !errors.As(err, &ne) || ne.What != "host key" {
		return err
	}
	lk := newLookup(name, port)
	db.mu.RLock()
	s, extra := db.snap, slices.Concat(db.overlay[lk.host], db.overlay[lk.fallback])
	db.mu.RUnlock()
	lines := s.entries(lk.host)
	if len(lines) == 0 && len(db.overlay[lk.host]) == 0 && lk.fallback != "" {
		lines = s.entries(lk.fallback)
	}
	e := &Error{Kind: Unknown, Host: lk.host, Files: slices.Clone(db.files)}
	for _, l := range lines {
		if l.marker == "" {
			e.Known = append(e.Known, l.loc())
		}
	}
	for _, k := range extra {
		e.Known = append(e.Known, k.loc)
	}
	if len(e.Known) > 0 {
		e.Kind = Changed
	}
	offered := make([]string, len(ne.RequestedAlgorithms))
	for i, a := range ne.RequestedAlgorithms {
		offered[i] = printable(a)
	}
	e.KeyType = "no key of a type known_hosts holds (it offers " + strings.Join(offered, ", ") + ")"
	e.Cert = nil
	return e
}
