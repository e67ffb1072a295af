package hostkey

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// This file reads known_hosts lines. A line that is not valid is skipped,
// as ssh(1) skips it, and reported: the DB's warning names its file and
// line. Host matching is in match.go.

const (
	markerCA      = "@cert-authority"
	markerRevoked = "@revoked"
)

// errUnsupported marks a well-formed line whose key type x/crypto/ssh
// cannot parse. Such a key can never be offered to us, so the line is
// skipped, as OpenSSH skips types it does not know.
var errUnsupported = errors.New("unsupported key type")

// entry is one known_hosts line.
type entry struct {
	line    int    // 1-based
	marker  string // "", markerCA or markerRevoked
	pattern string // host patterns, comma-separated, or a |1|salt|hash
	key     ssh.PublicKey
}

// scan parses known_hosts data read from file. It returns the entries, the
// number of lines, and one message per line that is not valid, naming
// file:line; such lines are skipped, as ssh(1) skips them. Blank lines,
// comments and lines with key types x/crypto/ssh does not support are
// skipped without a word, as such keys can never be offered.
func scan(file string, data []byte) (entries []entry, lines int, bad []string) {
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		lines++
		e, err := parseLine(l)
		switch {
		case errors.Is(err, errUnsupported), err == nil && e.key == nil:
			continue
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s:%d: %v", printable(file), lines, err))
			continue
		}
		e.line = lines
		entries = append(entries, e)
	}
	return entries, lines, bad
}

// parseLine parses one known_hosts line. A blank line or comment gives a zero
// entry and no error.
func parseLine(line []byte) (entry, error) {
	line = trimSpace(line)
	if len(line) == 0 || line[0] == '#' {
		return entry{}, nil
	}
	var e entry
	if w, rest := nextWord(line); w == markerCA || w == markerRevoked {
		e.marker, line = w, rest
	}
	e.pattern, line = nextWord(line)
	if strings.HasPrefix(e.pattern, "@") {
		return entry{}, fmt.Errorf("unknown or repeated marker %q", e.pattern)
	}
	if len(line) == 0 {
		return entry{}, errors.New("missing key type")
	}
	typ, line := nextWord(line)
	if len(line) == 0 {
		return entry{}, errors.New("missing key")
	}
	blobText, _ := nextWord(line) // the rest is a comment
	key, err := parseKey(typ, blobText)
	if err != nil {
		return entry{}, err
	}
	e.key = key
	if err := checkPattern(e.pattern); err != nil {
		return entry{}, err
	}
	return e, nil
}

// parseKey parses the key type and base64 key of a known_hosts or
// authorized_keys-style line. It returns errUnsupported for a well-formed
// key of a type x/crypto/ssh does not know.
func parseKey(typ, blobText string) (ssh.PublicKey, error) {
	blob, err := base64.StdEncoding.DecodeString(blobText)
	if err != nil {
		return nil, fmt.Errorf("key is not valid base64: %w", err)
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		if !knownFormat(typ) && blobType(blob) == typ {
			return nil, errUnsupported
		}
		return nil, fmt.Errorf("invalid %s key: %w", printable(typ), err)
	}
	if key.Type() != typ {
		return nil, fmt.Errorf("key type %s does not match key (%s)", printable(typ), key.Type())
	}
	return key, nil
}

// checkPattern checks a host pattern field. Any list of patterns is
// valid (one with a stray "[" is a name no host has, as for ssh(1)); a
// hashed name must be "|1|", a salt of 20 bytes in base64, "|" and a hash,
// or it could never match.
func checkPattern(p string) error {
	if !strings.HasPrefix(p, "|") {
		return nil
	}
	parts := strings.Split(p, "|")
	if len(parts) != 4 {
		return fmt.Errorf("hashed host has %d fields, want 3", len(parts)-1)
	}
	if parts[1] != "1" {
		return fmt.Errorf("hashed host has type %q, want 1", parts[1])
	}
	if _, ok := hashSalt(p); !ok {
		return errBadSalt
	}
	if _, err := base64.StdEncoding.DecodeString(parts[3]); err != nil {
		return fmt.Errorf("hashed host is not valid base64: %w", err)
	}
	return nil
}

// knownFormat reports whether x/crypto/ssh can parse keys of type t, so a
// parse failure means a corrupt line rather than an unsupported one.
// DSA keys are no longer made or accepted by x/crypto (its names for them
// are deprecated), but known_hosts files still hold them: their lines are
// read and recognised, never used.
const (
	algoDSA     = "ssh-dss"
	certAlgoDSA = "ssh-dss-cert-v01@openssh.com"
)

func knownFormat(t string) bool {
	switch t {
	case ssh.KeyAlgoRSA, algoDSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
		ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoMLDSA44, ssh.KeyAlgoMLDSA65, ssh.KeyAlgoMLDSA87,
		ssh.CertAlgoRSAv01, certAlgoDSA, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01,
		ssh.CertAlgoECDSA521v01, ssh.CertAlgoSKECDSA256v01, ssh.CertAlgoED25519v01,
		ssh.CertAlgoSKED25519v01, ssh.CertAlgoMLDSA44v01Go, ssh.CertAlgoMLDSA65v01Go,
		ssh.CertAlgoMLDSA87v01Go:
		return true
	}
	return false
}

// blobType returns the type name at the start of an SSH public key blob, or
// "" if there is none.
func blobType(blob []byte) string {
	if len(blob) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) {
		return ""
	}
	return string(blob[4 : 4+n])
}

// nextWord splits line at its first space or tab, as x/crypto's knownhosts
// does.
func nextWord(line []byte) (string, []byte) {
	i := bytes.IndexAny(line, "\t ")
	if i == -1 {
		return string(line), nil
	}
	return string(line[:i]), trimSpace(line[i:])
}

// trimSpace removes leading and trailing spaces and tabs.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t")
}

// errBadSalt: a hashed host field whose salt is not 20 bytes of base64.
// OpenSSH skips such a line ("invalid salt"); x/crypto accepts it.
var errBadSalt = errors.New("hashed host has no valid 20-byte salt")
