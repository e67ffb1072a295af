package hostkey

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// A RevokedHostKeys file (ssh_config) is read as ssh(1) reads it: a file
// that starts with the KRL magic is an OpenSSH key revocation list
// (PROTOCOL.krl); any other file is a list of public keys, one a line, with
// comments and blank lines. A file that cannot be read or parsed is an
// error: ssh then refuses every host key, so Loom refuses to connect.

// krlMagic starts every KRL ("SSHKRL\n\0").
const krlMagic = "SSHKRL\n\x00"

// KRL section types (PROTOCOL.krl).
const (
	krlCertificates    = 1
	krlExplicitKey     = 2
	krlFingerprintSHA1 = 3
	krlSignature       = 4
	krlFingerprintSHA2 = 5
	krlExtension       = 255

	krlCertSerialList   = 0x20
	krlCertSerialRange  = 0x21
	krlCertSerialBitmap = 0x22
	krlCertKeyID        = 0x23
	krlCertExtension    = 0x39
)

// maxKRLBitmap is the largest serial bitmap OpenSSH reads (an mpint of at
// most 16384 bits).
const maxKRLBitmap = 16384 / 8

// revocations is what one RevokedHostKeys file revokes.
type revocations struct {
	file string
	krl  bool
	// keys are the revoked plain keys by wire form: for a list, the line
	// each is on; for a KRL, 0.
	keys   map[string]int
	sha1   map[[sha1.Size]byte]bool
	sha256 map[[sha256.Size]byte]bool
	certs  map[string]*revokedCerts // by CA key wire form; "" is any CA
}

// revokedCerts are the certificates a KRL revokes for one CA.
type revokedCerts struct {
	ranges  []serialRange
	bitmaps []serialBitmap
	keyIDs  map[string]bool
}

type serialRange struct{ lo, hi uint64 }

// serialBitmap revokes serial offset+N for every bit N set in bits, a
// big-endian number.
type serialBitmap struct {
	offset uint64
	bits   []byte
}

func (b serialBitmap) has(serial uint64) bool {
	if serial < b.offset {
		return false
	}
	n := serial - b.offset
	if n >= uint64(len(b.bits))*8 {
		return false
	}
	return b.bits[len(b.bits)-1-int(n/8)]&(1<<(n%8)) != 0
}

// readRevoked reads a RevokedHostKeys file.
func readRevoked(file string) (*revocations, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("hostkey: cannot read RevokedHostKeys file %s: %w (every host key is refused until it can be read, as ssh does)", printable(file), err)
	}
	r := &revocations{
		file:   file,
		keys:   make(map[string]int),
		sha1:   make(map[[sha1.Size]byte]bool),
		sha256: make(map[[sha256.Size]byte]bool),
		certs:  make(map[string]*revokedCerts),
	}
	if bytes.HasPrefix(data, []byte(krlMagic)) {
		r.krl = true
		if err := r.parseKRL(data[len(krlMagic):]); err != nil {
			return nil, fmt.Errorf("hostkey: RevokedHostKeys file %s is a KRL Loom cannot read: %w (every host key is refused, as ssh does for a KRL it cannot read)", printable(file), err)
		}
		return r, nil
	}
	if err := r.parseList(data); err != nil {
		return nil, err
	}
	return r, nil
}

// parseList reads a list of public keys as ssh's sshkey_in_file does:
// leading spaces and tabs are skipped, then blank lines and lines starting
// with '#'; every other line is "TYPE BASE64 [COMMENT]". Keys of types
// x/crypto/ssh does not know are skipped (they can never be offered).
func (r *revocations) parseList(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := trimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		typ, rest := nextWord(line)
		if len(rest) == 0 {
			return fmt.Errorf("hostkey: RevokedHostKeys file %s:%d: not a public key (want \"TYPE BASE64 [COMMENT]\")", printable(r.file), n)
		}
		blobText, _ := nextWord(rest)
		key, err := parseKey(typ, blobText)
		switch {
		case errors.Is(err, errUnsupported):
			continue
		case err != nil:
			return fmt.Errorf("hostkey: RevokedHostKeys file %s:%d: %w", printable(r.file), n, err)
		}
		if blob := plainBlob(key); r.keys[blob] == 0 {
			r.keys[blob] = n
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("hostkey: RevokedHostKeys file %s:%d: %w", printable(r.file), n+1, err)
	}
	return nil
}

// krlReader reads the SSH wire encoding of a KRL.
type krlReader struct {
	b   []byte
	err error
}

func (k *krlReader) fail(format string, args ...any) {
	if k.err == nil {
		k.err = fmt.Errorf(format, args...)
	}
}

func (k *krlReader) u8() byte {
	if k.err != nil || len(k.b) < 1 {
		k.fail("truncated")
		return 0
	}
	v := k.b[0]
	k.b = k.b[1:]
	return v
}

func (k *krlReader) u32() uint32 {
	if k.err != nil || len(k.b) < 4 {
		k.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint32(k.b)
	k.b = k.b[4:]
	return v
}

func (k *krlReader) u64() uint64 {
	if k.err != nil || len(k.b) < 8 {
		k.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(k.b)
	k.b = k.b[8:]
	return v
}

func (k *krlReader) str() []byte {
	n := k.u32()
	if k.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(k.b)) {
		k.fail("truncated")
		return nil
	}
	v := k.b[:n]
	k.b = k.b[n:]
	return v
}

// cstr reads a string that may hold a NUL only at its end, as OpenSSH's
// sshbuf_get_cstring.
func (k *krlReader) cstr() string {
	v := k.str()
	if i := bytes.IndexByte(v, 0); i >= 0 && i < len(v)-1 {
		k.fail("string with a NUL byte")
	}
	return string(bytes.TrimSuffix(v, []byte{0}))
}

func (k *krlReader) done(what string) {
	if k.err == nil && len(k.b) > 0 {
		k.fail("%s has %d bytes of unparsed data", what, len(k.b))
	}
}

// parseKRL reads a KRL after its magic, as OpenSSH's ssh_krl_from_blob:
// every section type must be known, critical extensions refuse the file,
// signatures are skipped (ssh does not check them either).
func (r *revocations) parseKRL(data []byte) error {
	k := &krlReader{b: data}
	if v := k.u32(); k.err == nil && v != 1 {
		return fmt.Errorf("unsupported KRL format version %d", v)
	}
	k.u64()  // krl_version
	k.u64()  // generated_date
	k.u64()  // flags
	k.str()  // reserved
	k.cstr() // comment
	if k.err != nil {
		return fmt.Errorf("header: %w", k.err)
	}
	for len(k.b) > 0 && k.err == nil {
		typ := k.u8()
		sect := &krlReader{b: k.str()}
		if k.err != nil {
			break
		}
		switch typ {
		case krlCertificates:
			r.parseCerts(sect)
		case krlExplicitKey:
			for len(sect.b) > 0 && sect.err == nil {
				if blob := sect.str(); sect.err == nil {
					r.keys[string(blob)] = 0
				}
			}
		case krlFingerprintSHA1:
			for len(sect.b) > 0 && sect.err == nil {
				if h := sect.str(); sect.err == nil {
					if len(h) != sha1.Size {
						sect.fail("SHA1 fingerprint of %d bytes", len(h))
						break
					}
					r.sha1[[sha1.Size]byte(h)] = true
				}
			}
		case krlFingerprintSHA2:
			for len(sect.b) > 0 && sect.err == nil {
				if h := sect.str(); sect.err == nil {
					if len(h) != sha256.Size {
						sect.fail("SHA256 fingerprint of %d bytes", len(h))
						break
					}
					r.sha256[[sha256.Size]byte(h)] = true
				}
			}
		case krlSignature:
			// signature_key was read as the section; skip the signature.
			k.str()
			sect.b = nil
		case krlExtension:
			name := sect.cstr()
			critical := sect.u8()
			sect.str()
			if sect.err == nil && critical != 0 {
				sect.fail("unsupported critical extension %q", name)
			}
		default:
			return fmt.Errorf("unsupported section type %d", typ)
		}
		sect.done("section")
		if sect.err != nil {
			return fmt.Errorf("section type %d: %w", typ, sect.err)
		}
	}
	return k.err
}

// parseCerts reads a certificates section.
func (r *revocations) parseCerts(s *krlReader) {
	caBlob := s.str()
	s.str() // reserved
	if s.err != nil {
		return
	}
	if len(caBlob) > 0 {
		if _, err := ssh.ParsePublicKey(caBlob); err != nil && knownFormat(blobType(caBlob)) {
			s.fail("CA key: %v", err)
			return
		}
	}
	rc := r.certs[string(caBlob)]
	if rc == nil {
		rc = &revokedCerts{keyIDs: make(map[string]bool)}
		r.certs[string(caBlob)] = rc
	}
	addRange := func(lo, hi uint64) {
		if lo > hi || lo == 0 {
			s.fail("invalid serial range %d-%d", lo, hi)
			return
		}
		rc.ranges = append(rc.ranges, serialRange{lo, hi})
	}
	for len(s.b) > 0 && s.err == nil {
		typ := s.u8()
		sub := &krlReader{b: s.str()}
		if s.err != nil {
			return
		}
		switch typ {
		case krlCertSerialList:
			for len(sub.b) > 0 && sub.err == nil {
				if v := sub.u64(); sub.err == nil {
					addRange(v, v)
				}
			}
		case krlCertSerialRange:
			lo, hi := sub.u64(), sub.u64()
			if sub.err == nil {
				addRange(lo, hi)
			}
		case krlCertSerialBitmap:
			offset := sub.u64()
			b := sub.str()
			if sub.err != nil {
				break
			}
			if len(b) > 0 && b[0]&0x80 != 0 {
				sub.fail("negative serial bitmap")
				break
			}
			if len(b) > maxKRLBitmap+1 || len(b) == maxKRLBitmap+1 && b[0] != 0 {
				sub.fail("serial bitmap too large")
				break
			}
			b = bytes.TrimLeft(b, "\x00")
			if len(b) == 0 {
				break
			}
			nbits := uint64(len(b)-1)*8 + uint64(bits.Len8(b[0]))
			if nbits-1 > math.MaxUint64-offset {
				sub.fail("serial bitmap wraps")
				break
			}
			if offset == 0 && b[len(b)-1]&1 != 0 {
				sub.fail("serial bitmap revokes serial 0")
				break
			}
			rc.bitmaps = append(rc.bitmaps, serialBitmap{offset, bytes.Clone(b)})
		case krlCertKeyID:
			for len(sub.b) > 0 && sub.err == nil {
				if id := sub.cstr(); sub.err == nil {
					rc.keyIDs[id] = true
				}
			}
		case krlCertExtension:
			name := sub.cstr()
			critical := sub.u8()
			sub.str()
			if sub.err == nil && critical != 0 {
				sub.fail("unsupported critical certificate extension %q", name)
			}
		default:
			s.fail("unsupported certificate section type %#x", typ)
			return
		}
		sub.done("certificate section")
		if sub.err != nil {
			s.fail("certificate section %#x: %v", typ, sub.err)
		}
	}
}

// check reports whether key is revoked: the key itself (a certificate's
// certified key), or for a certificate its CA key, or (KRL) the
// certificate by serial or key ID. loc names the file, the line for a
// list, and the revoked key; by says which KRL entry matched.
func (r *revocations) check(key ssh.PublicKey) (loc Location, by string, revoked bool) {
	plain := key
	cert, isCert := key.(*ssh.Certificate)
	if isCert {
		plain = cert.Key
	}
	if by, ok := r.keyRevoked(plain); ok {
		return r.location(plain), by, true
	}
	if !isCert {
		return Location{}, "", false
	}
	if by, ok := r.certRevoked(cert); ok {
		return r.location(plain), by, true
	}
	if by, ok := r.keyRevoked(cert.SignatureKey); ok {
		return r.location(cert.SignatureKey), by, true
	}
	return Location{}, "", false
}

func (r *revocations) location(key ssh.PublicKey) Location {
	return location(r.file, r.keys[plainBlob(key)], key)
}

// keyRevoked checks a plain key against the explicit keys and, for a KRL,
// its fingerprints.
func (r *revocations) keyRevoked(key ssh.PublicKey) (by string, revoked bool) {
	blob := plainBlob(key)
	if _, ok := r.keys[blob]; ok {
		if r.krl {
			return "KRL: explicit key", true
		}
		return "", true
	}
	if r.sha1[sha1.Sum([]byte(blob))] {
		return "KRL: SHA1 fingerprint", true
	}
	if r.sha256[sha256.Sum256([]byte(blob))] {
		return "KRL: SHA256 fingerprint", true
	}
	return "", false
}

// certRevoked checks a certificate's key ID and serial against the KRL
// sections for its CA and for any CA. Serial 0 (no serial) is never
// revoked, as in OpenSSH.
func (r *revocations) certRevoked(c *ssh.Certificate) (by string, revoked bool) {
	for _, ca := range []string{string(c.SignatureKey.Marshal()), ""} {
		rc := r.certs[ca]
		if rc == nil {
			continue
		}
		if rc.keyIDs[c.KeyId] {
			return "KRL: certificate key ID " + strconv.Quote(c.KeyId), true
		}
		if c.Serial == 0 {
			continue
		}
		for _, sr := range rc.ranges {
			if sr.lo <= c.Serial && c.Serial <= sr.hi {
				return "KRL: certificate serial " + strconv.FormatUint(c.Serial, 10), true
			}
		}
		for _, b := range rc.bitmaps {
			if b.has(c.Serial) {
				return "KRL: certificate serial " + strconv.FormatUint(c.Serial, 10), true
			}
		}
	}
	return "", false
}
