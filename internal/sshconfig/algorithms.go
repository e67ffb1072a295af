package sshconfig

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The algorithm names OpenSSH knows (`ssh -Q kex`, `cipher`, `mac`, `key`,
// `sig` of OpenSSH 9.2 to 10.x), in its order. A name in an algorithm list
// that is none of these is an error, as in ssh(1); a known name Loom cannot
// speak is left out when the list is applied (see AssembleAlgorithms).
var (
	// KnownKex are the key exchange algorithms.
	KnownKex = []string{
		"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group14-sha256",
		"diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha1",
		"diffie-hellman-group-exchange-sha256", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
		"curve25519-sha256", "curve25519-sha256@libssh.org", "sntrup761x25519-sha512",
		"sntrup761x25519-sha512@openssh.com", "mlkem768x25519-sha256", "mlkem768nistp256-sha256",
		"mlkem1024nistp384-sha384",
	}
	// KnownCiphers are the ciphers.
	KnownCiphers = []string{
		"3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-ctr", "aes192-ctr", "aes256-ctr",
		"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
	}
	// KnownMACs are the message authentication codes.
	KnownMACs = []string{
		"hmac-sha1", "hmac-sha1-96", "hmac-sha2-256", "hmac-sha2-512", "hmac-md5", "hmac-md5-96",
		"umac-64@openssh.com", "umac-128@openssh.com", "hmac-sha1-etm@openssh.com",
		"hmac-sha1-96-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
		"hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com", "umac-64-etm@openssh.com",
		"umac-128-etm@openssh.com",
	}
	// KnownKeyAlgorithms are the host key and public key signature
	// algorithms (HostKeyAlgorithms, PubkeyAcceptedAlgorithms).
	KnownKeyAlgorithms = []string{
		"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
		"sk-ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521",
		"ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
		"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
		"ssh-dss", "ssh-dss-cert-v01@openssh.com", "ssh-rsa", "ssh-rsa-cert-v01@openssh.com",
		"rsa-sha2-256", "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com",
	}
	// KnownSigAlgorithms are the signature algorithms of CA keys
	// (CASignatureAlgorithms).
	KnownSigAlgorithms = []string{
		"ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
		"ssh-dss", "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512",
	}
)

// The OpenSSH client's default lists (9.x) where Loom follows them: the
// base that "+", "-" and "^" change.
var (
	// DefaultHostKeyAlgorithms is OpenSSH's default HostKeyAlgorithms
	// (and PubkeyAcceptedAlgorithms).
	DefaultHostKeyAlgorithms = []string{
		"ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
		"sk-ssh-ed25519-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com",
		"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
	}
	// DefaultCASignatureAlgorithms is OpenSSH's default CASignatureAlgorithms.
	DefaultCASignatureAlgorithms = []string{
		"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
	}
)

// algKind describes one algorithm-list keyword.
type algKind struct {
	what     string   // for messages: "cipher", "key exchange algorithm", ...
	known    []string // the names OpenSSH knows
	wildcard bool     // patterns allowed in a plain, "+" or "^" list (key algorithms)
}

var (
	kexKind    = algKind{"key exchange algorithm", KnownKex, false}
	cipherKind = algKind{"cipher", KnownCiphers, false}
	macKind    = algKind{"MAC", KnownMACs, false}
	keyKind    = algKind{"key algorithm", KnownKeyAlgorithms, true}
	sigKind    = algKind{"signature algorithm", KnownSigAlgorithms, true}
)

// parseAlgorithms returns the parser of an algorithm list: one argument,
// comma-separated names, optionally after '+' (append to the default), '-'
// (remove patterns from it) or '^' (put in front of it). As in ssh(1),
// every name of a list other than a '-' list must be one OpenSSH knows
// (patterns allowed for key algorithms, matching at least one).
func parseAlgorithms(k algKind) func(args []string, rest string) (any, error) {
	return func(args []string, rest string) (any, error) {
		v, err := needOne(args)
		if err != nil {
			return nil, err
		}
		if v[0] == '-' {
			return v, nil
		}
		list := strings.TrimLeft(v, "+^")
		if len(v)-len(list) > 1 {
			return nil, fmt.Errorf("%q: one of '+', '-' or '^' at most", v)
		}
		for _, n := range strings.Split(list, ",") {
			switch {
			case n == "":
				return nil, fmt.Errorf("%q: empty name in the list", v)
			case slices.Contains(k.known, n):
			case k.wildcard && strings.ContainsAny(n, "*?!") && slices.ContainsFunc(k.known, func(a string) bool { return matchList(a, n, false) }):
			default:
				return nil, fmt.Errorf("unknown %s %q (ssh -Q lists the known ones)", k.what, n)
			}
		}
		return v, nil
	}
}

// AssembleAlgorithms applies an algorithm list as OpenSSH does
// (kex_assemble_names): "" gives def; "+list" appends list to def, "^list"
// puts it in front; "-patterns" removes what the patterns match from def;
// otherwise the list replaces def. The names and patterns of the list are
// matched against all, in all's order, without repeats. The result is then
// narrowed to the names in speak, keeping its order; dropped lists the
// names left out that way.
func AssembleAlgorithms(spec string, def, all, speak []string) (out, dropped []string) {
	var list []string
	switch {
	case spec == "":
		list = slices.Clone(def)
	case spec[0] == '-':
		for _, a := range def {
			if !matchList(a, spec[1:], false) {
				list = append(list, a)
			}
		}
	default:
		names := spec
		switch spec[0] {
		case '+':
			names = strings.Join(def, ",") + "," + spec[1:]
		case '^':
			names = spec[1:] + "," + strings.Join(def, ",")
		}
		for _, p := range strings.Split(names, ",") {
			if p == "" || strings.HasPrefix(p, "!") {
				continue
			}
			for _, a := range all {
				if matchPattern(a, p) && !slices.Contains(list, a) {
					list = append(list, a)
				}
			}
		}
	}
	for _, a := range list {
		if slices.Contains(speak, a) {
			out = append(out, a)
		} else {
			dropped = append(dropped, a)
		}
	}
	return out, dropped
}

// parseRSASize parses RequiredRSASize: a number of bits, at least 1024 as
// in ssh(1).
func parseRSASize(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1024 {
		return nil, fmt.Errorf("invalid size %q: want a number of bits, at least 1024", v)
	}
	return n, nil
}
