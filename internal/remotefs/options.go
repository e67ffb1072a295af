package remotefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Options are the settings of one operation (loom's FileOption values set
// them).
type Options struct {
	Mode      fs.FileMode // with ModeSet
	ModeSet   bool
	User      string // Owner
	Group     string
	Sudo      bool
	Exclude   []string // path.Match patterns, trimmed of slashes
	Checksum  bool
	Delete    bool
	DryRun    bool
	Overwrite bool
	Diff      io.Writer // ShowDiff
	Progress  io.Writer
	Err       error // a bad option, reported by the operation
}

// SetMode sets Mode (see FileMode).
func (o *Options) SetMode(m fs.FileMode) { o.Mode, o.ModeSet = FileMode(m), true }

// SetOwner sets User and Group, or Err for a name that is not one.
func (o *Options) SetOwner(user, group string) {
	for _, n := range []string{user, group} {
		if n != "" && !validOwnerName(n) {
			o.Err = fmt.Errorf("invalid user or group name %q", n)
			return
		}
	}
	if user == "" && group == "" {
		o.Err = errors.New("owner: no user or group given")
		return
	}
	o.User, o.Group = user, group
}

func validOwnerName(n string) bool {
	if n == "" || n[0] == '-' || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r == '_' || r == '-' || r == '.' || r == '$' || r == '@' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// AddExclude adds exclude patterns, or sets Err for a bad one.
func (o *Options) AddExclude(patterns ...string) {
	for _, p := range patterns {
		p = strings.Trim(p, "/")
		if _, err := path.Match(p, ""); err != nil || p == "" {
			o.Err = fmt.Errorf("bad exclude pattern %q", p)
			return
		}
		o.Exclude = append(o.Exclude, p)
	}
}

// excluded reports whether the relative path rel (slash-separated, no
// leading slash) is excluded.
func (o *Options) excluded(rel string) bool {
	if rel == "" || rel == "." {
		return false
	}
	base := path.Base(rel)
	for _, p := range o.Exclude {
		var ok bool
		if strings.Contains(p, "/") {
			ok, _ = path.Match(p, rel)
		} else {
			ok, _ = path.Match(p, base)
		}
		if ok {
			return true
		}
	}
	return false
}

// excludedUnder reports whether rel or one of the directories above it is
// excluded (for listings that are not walked, like a tar archive).
func (o *Options) excludedUnder(rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if o.excluded(p) {
			return true
		}
	}
	return false
}

// chownSpec is the owner for chown(1): "user:group", "user" or ":group".
func (o *Options) chownSpec() string {
	switch {
	case o.User == "" && o.Group == "":
		return ""
	case o.Group == "":
		return o.User
	}
	return o.User + ":" + o.Group
}

// FileMode keeps what chmod sets of m: the permission bits and setuid,
// setgid and sticky, taken from Go's fs.ModeSetuid, fs.ModeSetgid and
// fs.ModeSticky or from the Unix bits 0o4000, 0o2000 and 0o1000.
func FileMode(m fs.FileMode) fs.FileMode {
	out := m.Perm() | m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	for unix, goBit := range map[fs.FileMode]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if m&unix != 0 {
			out |= goBit
		}
	}
	return out
}

// unixMode is m as chmod(1) and tar take it: 0o7777 bits.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// octal is m for chmod(1): "0644", "4755".
func octal(m fs.FileMode) string { return fmt.Sprintf("%04o", unixMode(m)) }
