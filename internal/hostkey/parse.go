package hostkey

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// Host matching is left to golang.org/x/crypto/ssh/knownhosts. This file
// only checks each line with the same grammar that package uses, because it
// silently skips lines it cannot parse (a corrupt @revoked line would then
// be ignored), and records which lines are @cert-authority or @revoked ones.

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
	raw     []byte // the line as written
}

// scan parses known_hosts data read from file. It returns the entries, the
// number of lines, and an error naming file:line for the first line that is
// not valid. Blank lines, comments and lines with key types x/crypto/ssh does
// not support are skipped.
func scan(file string, data []byte) (entries []entry, lines int, err error) {
	// bufio.Scanner, as x/crypto's knownhosts uses: same line splitting
	// (a trailing \r is dropped) and the same 64 KiB line limit.
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines++
		e, err := parseLine(sc.Bytes())
		switch {
		case errors.Is(err, errUnsupported), err == nil && e.key == nil:
			continue
		case err != nil:
			return nil, lines, fmt.Errorf("hostkey: %s:%d: %w", file, lines, err)
		}
		e.line = lines
		e.raw = bytes.Clone(sc.Bytes())
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, lines + 1, fmt.Errorf("hostkey: %s:%d: %w", file, lines+1, err)
	}
	return entries, lines, nil
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
	if e.marker == markerRevoked {
		return e, nil // the host field of a @revoked line is not used
	}
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

// checkPattern checks a host pattern field as x/crypto's knownhosts parses it.
func checkPattern(p string) error {
	if strings.HasPrefix(p, "|") {
		parts := strings.Split(p, "|")
		if len(parts) != 4 {
			return fmt.Errorf("hashed host has %d fields, want 3", len(parts)-1)
		}
		if parts[1] != "1" {
			return fmt.Errorf("hashed host has type %q, want 1", parts[1])
		}
		for _, s := range parts[2:] {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return fmt.Errorf("hashed host is not valid base64: %w", err)
			}
		}
		return nil
	}
	for _, h := range strings.Split(p, ",") {
		if h == "" {
			continue
		}
		if h[0] == '!' {
			h = h[1:]
			if h == "" {
				return errors.New("negation without host name")
			}
		}
		if h[0] == '[' {
			if _, _, err := net.SplitHostPort(h); err != nil {
				return fmt.Errorf("bad host pattern %q: %w", h, err)
			}
		}
	}
	return nil
}

// literalNames returns the names a host pattern field is looked up by,
// as xknownhosts.Normalize writes them ("web1", "[web1]:2222"), when every
// pattern in it is a plain name, name:port or [name]:port: no wildcard,
// negation or hash. Such a line can be found by name instead of by trying
// its patterns, with the same result: x/crypto compares the host and port
// of a pattern without wildcards byte for byte.
func literalNames(field string) ([]string, bool) {
	if field == "" || field[0] == '|' {
		return nil, false
	}
	var names []string
	for _, p := range strings.Split(field, ",") {
		if p == "" {
			continue // x/crypto skips empty patterns
		}
		if strings.ContainsAny(p, "*?!") {
			return nil, false
		}
		// As x/crypto's newHostnameMatcher reads a pattern.
		host, port, err := net.SplitHostPort(p)
		if err != nil {
			if p[0] == '[' {
				return nil, false
			}
			host, port = p, "22"
		}
		names = append(names, xknownhosts.Normalize(net.JoinHostPort(host, port)))
	}
	return names, len(names) > 0
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
