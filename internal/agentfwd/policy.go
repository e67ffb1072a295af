package agentfwd

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Policy says what a remote host may do with the forwarded agent. Listing and
// signing are the only operations ever allowed; Policy narrows which keys.
// The zero value allows every key of the agent, for any host (which hosts get
// the agent at all is the caller's decision).
type Policy struct {
	// Keys is an allowlist. A key is usable when one entry matches it:
	//   - "SHA256:…" matches the key's SHA256 fingerprint exactly, as printed
	//     by `ssh-add -l` (for a certificate, the fingerprint of its key);
	//   - anything else matches the key's comment, exactly or as a glob in
	//     which * stands for any run of characters, '/' included
	//     ("*@laptop", "deploy-*", "*/id_ed25519").
	// Empty means every key.
	Keys []string
}

// Validate reports the first entry of p.Keys that can never match: an empty
// one, an MD5 fingerprint, or a malformed SHA256 fingerprint. Policy works
// without it (such entries match nothing); it is for rejecting a mistyped
// flag.
func (p Policy) Validate() error {
	for _, e := range p.Keys {
		switch {
		case e == "":
			return fmt.Errorf("agentfwd: empty key pattern")
		case strings.HasPrefix(e, "MD5:"):
			return fmt.Errorf("agentfwd: key %.60q: MD5 fingerprints are not supported, use the SHA256 form (ssh-add -l -E sha256)", e)
		case strings.HasPrefix(e, "SHA256:"):
			raw, err := base64.RawStdEncoding.DecodeString(e[len("SHA256:"):])
			if err != nil || len(raw) != 32 {
				return fmt.Errorf("agentfwd: key %.60q: not a SHA256 fingerprint (want SHA256: and 43 base64 characters)", e)
			}
		}
	}
	return nil
}

// allows reports whether k may be listed and used.
func (p Policy) allows(k *agent.Key) bool {
	if len(p.Keys) == 0 {
		return true
	}
	var fps []string // the key's fingerprint, and the certificate's own
	if pub, err := ssh.ParsePublicKey(k.Blob); err == nil {
		fps = append(fps, ssh.FingerprintSHA256(pub))
		if cert, ok := pub.(*ssh.Certificate); ok && cert.Key != nil {
			fps = append(fps, ssh.FingerprintSHA256(cert.Key))
		}
	}
	for _, e := range p.Keys {
		if strings.HasPrefix(e, "SHA256:") {
			for _, fp := range fps {
				if e == fp {
					return true
				}
			}
			continue
		}
		if e != "" && match(e, k.Comment) {
			return true
		}
	}
	return false
}

// match reports whether s matches pattern, in which each * stands for any
// run of characters (possibly empty) and every other character for itself.
// It runs in O(len(pattern)*len(s)) time at worst, without recursion.
func match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // position of the last * seen and of s when it was seen
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// fingerprint returns the SHA256 fingerprint of a public key blob as
// `ssh-add -l` shows it (for a certificate, its key's), or "" if the blob
// does not parse.
func fingerprint(blob []byte) string {
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return ""
	}
	if cert, ok := pub.(*ssh.Certificate); ok && cert.Key != nil {
		return ssh.FingerprintSHA256(cert.Key)
	}
	return ssh.FingerprintSHA256(pub)
}
