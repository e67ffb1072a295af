package hostkey

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// addNew records key for a host that is not known, under AcceptNew, with
// the host name hashed if the DB was opened with HashKnownHosts. Appends
// are serialised by db.writeMu within the process and by an exclusive flock
// on the file across processes; under both, the file is re-read if anyone
// else changed it, so a key another process recorded meanwhile is neither
// duplicated nor overridden. It returns the verdict for key after that.
func (db *DB) addNew(lk lookup, key ssh.PublicKey, warn func(string)) (verdict, error) {
	host := lk.host
	if c, ok := key.(*ssh.Certificate); ok {
		key = c.Key // as ssh(1) does, record the certified key
	}
	if db.target == "" {
		return verdict{}, fmt.Errorf("hostkey: cannot record the host key for %s: no user known_hosts file", printable(host))
	}
	if err := checkName(lk.name); err != nil {
		return verdict{}, err
	}
	pattern := host
	if db.hash {
		// As ssh(1) with HashKnownHosts: "|1|salt|HMAC-SHA1(name)", name
		// as it would be written in clear ("web1", "[web1]:2222");
		// HashHostname does not normalize it itself.
		pattern = xknownhosts.HashHostname(host)
	}
	line := pattern + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if e, err := parseLine([]byte(line)); err != nil || e.key == nil || e.marker != "" {
		return verdict{}, fmt.Errorf("hostkey: refusing to write known_hosts line %q", line)
	}

	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	// Another goroutine may have recorded the host while this one waited.
	if v := db.verify(lk, key); !isNew(v) {
		return v, nil
	}
	f, err := lockFile(db.target)
	if err != nil {
		return verdict{}, fmt.Errorf("hostkey: recording the host key for %s: %w", printable(host), err)
	}
	defer f.Close() // releases the lock
	fi, err := f.Stat()
	if err != nil {
		return verdict{}, fmt.Errorf("hostkey: %w", err)
	}
	db.mu.RLock()
	ts := db.tgt
	db.mu.RUnlock()
	unchanged := !ts.stale && (sameState(ts.fi, fi) || ts.fi == nil && fi.Size() == 0)
	if !unchanged {
		// Someone else wrote the file: re-read everything, and check again.
		snap, nts, err := db.load()
		if err != nil {
			return verdict{}, err
		}
		db.mu.Lock()
		db.snap, db.tgt, db.overlay = snap, nts, make(map[string][]known)
		db.mu.Unlock()
		ts = nts
		if v := db.verify(lk, key); !isNew(v) {
			return v, nil
		}
	}

	buf := line + "\n"
	if size := fi.Size(); size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			return verdict{}, fmt.Errorf("hostkey: %w", err)
		}
		if last[0] != '\n' {
			buf = "\n" + buf
		}
	}
	if _, err := f.WriteString(buf); err != nil {
		return verdict{}, fmt.Errorf("hostkey: recording the host key for %s: %w", printable(host), err)
	}
	after, err := f.Stat()
	if err != nil {
		after = nil // forces a re-read before the next append
	}
	loc := location(db.target, ts.lines+1, key)
	db.mu.Lock()
	db.overlay[host] = append(db.overlay[host], known{key: key, loc: loc})
	db.tgt = targetState{fi: after, lines: loc.Line, stale: after == nil}
	db.mu.Unlock()
	warn(fmt.Sprintf("added host key for %s (%s %s) to %s:%d", printable(host), loc.KeyType, loc.Fingerprint, loc.File, loc.Line))
	return verdict{ok: true}, nil
}

// checkName refuses to record a host name that would not be read back as
// exactly that host: one that is empty, has spaces, control characters,
// pattern characters (*, ?, !, commas), a leading @ (a marker) or #, or a
// ':' without being an IPv6 address. Names can come from an untrusted
// inventory; "*" would otherwise trust the key for every host.
func checkName(name string) error {
	bad := name == "" || name[0] == '@' || name[0] == '|'
	for i := 0; i < len(name) && !bad; i++ {
		c := name[i]
		bad = c <= ' ' || c == 0x7f || strings.IndexByte(",*?!#[]|\\\"'", c) >= 0
	}
	if !bad && strings.Contains(name, ":") {
		ip, _, _ := strings.Cut(name, "%") // zone
		bad = net.ParseIP(ip) == nil
	}
	if bad {
		return fmt.Errorf("hostkey: refusing to record a host key for the name %q: not a plain host name or address", name)
	}
	return nil
}

// lockFile opens path for appending, creating it (0600) and its directory
// (0700) if needed, and takes an exclusive lock on it. If the file is replaced
// (e.g. by ssh-keygen -R) while it waits, it locks the new one.
func lockFile(path string) (*os.File, error) {
	for range 10 {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		if err := lock(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			return f, nil
		}
		f.Close()
	}
	return nil, errors.New(path + " keeps being replaced")
}
