package hostkey

import (
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Kind says why a host key was refused.
type Kind int

const (
	// Unknown means known_hosts holds no key for the host (no line for it,
	// or only @cert-authority lines whose certificate check failed).
	Unknown Kind = iota
	// Changed means known_hosts holds keys for the host and the offered key
	// is none of them, possibly because it is of another type.
	Changed
	// Revoked means the offered key, or the CA key that signed the offered
	// certificate, is listed in a @revoked line or a RevokedHostKeys file,
	// or a RevokedHostKeys KRL revokes the certificate itself.
	Revoked
)

// String returns "unknown", "changed" or "revoked".
func (k Kind) String() string {
	switch k {
	case Unknown:
		return "unknown"
	case Changed:
		return "changed"
	case Revoked:
		return "revoked"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Location is one known_hosts line and the key on it.
type Location struct {
	// File is the known_hosts file, as given to [Open], or the
	// RevokedHostKeys file.
	File string
	// Line is the 1-based line number in File; 0 for a KRL, which has no
	// lines.
	Line int
	// KeyType is the key type as ssh(1) prints it, e.g. "ED25519" or "RSA".
	KeyType string
	// Fingerprint is the key's SHA-256 fingerprint, "SHA256:...".
	Fingerprint string
}

// String returns "TYPE SHA256:... at FILE:LINE" (no ":LINE" for line 0).
func (l Location) String() string {
	return l.KeyType + " " + l.Fingerprint + " at " + l.where()
}

// where returns "FILE:LINE", or "FILE" for line 0.
func (l Location) where() string {
	if l.Line <= 0 {
		return printable(l.File)
	}
	return printable(l.File) + ":" + strconv.Itoa(l.Line)
}

// Error is the error a host key callback from [DB.Callback] returns when it
// refuses a host key. Its message is one line that names the host, the
// offered key's fingerprint and the known_hosts files or lines involved, as
// ssh(1) does.
type Error struct {
	// Kind says why the key was refused.
	Kind Kind
	// Host is the name looked up in known_hosts: "name", or "[name]:port"
	// for a port other than 22.
	Host string
	// Addr is the remote address of the connection, if known.
	Addr string
	// KeyType is the type of the offered key as ssh(1) prints it, e.g.
	// "ED25519" or "ED25519-CERT"; when the server offered no key of a
	// type known for the host ([DB.NegotiationError]), it says so and
	// lists the algorithms the server offers, and Fingerprint is empty.
	KeyType string
	// Fingerprint is the SHA-256 fingerprint of the offered key ("SHA256:...");
	// for a certificate, that of the certified key, as ssh(1) prints it.
	Fingerprint string
	// Files lists the known_hosts files that were checked.
	Files []string
	// Known holds, for Changed, the lines with the keys known for the host;
	// for Revoked, the @revoked line or the RevokedHostKeys file (and line)
	// with the revoked key: the offered one, or the CA key that signed it.
	// It is empty for Unknown.
	Known []Location
	// RevokedBy says, for Revoked by a KRL, which of its entries matched:
	// "KRL: SHA256 fingerprint", "KRL: certificate serial 7"...
	RevokedBy string
	// Cert is set when the server offered a host certificate that was not
	// accepted; it says why. The certified key was then checked on its own,
	// as ssh(1) does, and that check gave Kind.
	Cert error
}

// Error returns a one-line description of the refusal.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("host key for ")
	b.WriteString(printable(e.Host))
	if e.Addr != "" {
		b.WriteString(" (")
		b.WriteString(printable(e.Addr))
		b.WriteString(")")
	}
	switch e.Kind {
	case Changed:
		b.WriteString(" has CHANGED: server offered ")
		e.writeOffered(&b)
		b.WriteString(", known_hosts expects ")
		for i, l := range e.Known {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(l.String())
		}
		if len(e.Known) > 1 {
			b.WriteString(" (possible man-in-the-middle; if the host was rebuilt, remove those lines)")
		} else {
			b.WriteString(" (possible man-in-the-middle; if the host was rebuilt, remove that line)")
		}
	case Revoked:
		b.WriteString(" is REVOKED")
		if len(e.Known) > 0 {
			l := e.Known[0]
			b.WriteString(" in ")
			b.WriteString(l.where())
			var why []string
			if l.Fingerprint != e.Fingerprint {
				why = append(why, "revoked CA key "+l.KeyType+" "+l.Fingerprint)
			}
			if e.RevokedBy != "" {
				why = append(why, printable(e.RevokedBy))
			}
			if len(why) > 0 {
				b.WriteString(" (" + strings.Join(why, "; ") + ")")
			}
		}
		b.WriteString(": server offered ")
		e.writeOffered(&b)
	default:
		b.WriteString(" is not known: server offered ")
		e.writeOffered(&b)
		if len(e.Files) == 0 {
			b.WriteString(" (no known_hosts file configured)")
		} else {
			b.WriteString(" (checked " + printable(strings.Join(e.Files, ", ")) + ")")
		}
		if e.Cert != nil {
			b.WriteString("; fix the host's certificate, or verify the key and add it")
		} else {
			b.WriteString("; verify it and add it, or use StrictHostKeyChecking=accept-new")
		}
	}
	return b.String()
}

func (e *Error) writeOffered(b *strings.Builder) {
	b.WriteString(e.KeyType)
	if e.Fingerprint != "" {
		b.WriteString(" ")
		b.WriteString(e.Fingerprint)
	}
	if e.Cert != nil {
		b.WriteString(" (certificate not accepted: ")
		b.WriteString(printable(e.Cert.Error()))
		b.WriteString(")")
	}
}

// printable keeps a message on one line: a string with control characters
// is shown Go-quoted.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}

// displayType returns a key type as ssh(1) prints it: "ED25519", "RSA",
// "ECDSA", "ED25519-SK", "ED25519-CERT"...
func displayType(t string) string {
	base, cert := strings.CutSuffix(t, "-cert-v01@openssh.com")
	if !cert {
		base, cert = strings.CutSuffix(t, "-cert-v01@golang.org")
	}
	var d string
	switch {
	case base == ssh.KeyAlgoED25519:
		d = "ED25519"
	case base == ssh.KeyAlgoRSA, base == ssh.KeyAlgoRSASHA256, base == ssh.KeyAlgoRSASHA512:
		d = "RSA"
	case base == algoDSA:
		d = "DSA"
	case strings.HasPrefix(base, "ecdsa-sha2-"):
		d = "ECDSA"
	case base == ssh.KeyAlgoSKECDSA256:
		d = "ECDSA-SK"
	case base == ssh.KeyAlgoSKED25519:
		d = "ED25519-SK"
	case strings.HasPrefix(base, "ssh-mldsa-"):
		d = "MLDSA-" + strings.TrimPrefix(base, "ssh-mldsa-")
	default:
		return t
	}
	if cert {
		d += "-CERT"
	}
	return d
}

// describe returns the type and fingerprint of key as ssh(1) prints them.
// A certificate's fingerprint is that of the certified key.
func describe(key ssh.PublicKey) (keyType, fingerprint string) {
	fpKey := key
	if c, ok := key.(*ssh.Certificate); ok {
		fpKey = c.Key
	}
	return displayType(key.Type()), ssh.FingerprintSHA256(fpKey)
}

// location describes key on file:line.
func location(file string, line int, key ssh.PublicKey) Location {
	t, fp := describe(key)
	return Location{File: file, Line: line, KeyType: t, Fingerprint: fp}
}
