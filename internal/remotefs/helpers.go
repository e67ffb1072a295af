package remotefs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/loomssh/loom/internal/shquote"
)

// The file helpers (loom's Conn.Exists, Contains, AppendLine, Replace,
// EnsureDir, Symlink): idempotent, with no shell interpolation of their
// arguments.

// Exists reports whether the remote path exists.
func (op *Op) Exists(p string) (bool, error) {
	fc, err := op.fs()
	if err != nil {
		return false, op.fail("", p, err)
	}
	R := op.abs(fc, p)
	if op.o.Sudo {
		r := op.shell("if [ -e "+shquote.Quote(R)+" ]; then exit 0; else exit 1; fi", nil)
		switch {
		case r.ExitCode == 0 && r.Err == nil:
			return true, nil
		case r.ExitCode == 1:
			return false, nil
		}
		return false, op.fail("", R, stepErr("sudo", r))
	}
	_, err = fc.Stat(R)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, op.fail("", R, err)
}

// Contains reports whether the remote file p holds text.
func (op *Op) Contains(p, text string) (bool, error) {
	cur, _, err := op.read(p)
	if err != nil {
		return false, err
	}
	return cur.exists && bytes.Contains(cur.data, []byte(text)), nil
}

// read reads the remote file p as it is.
func (op *Op) read(p string) (*current, string, error) {
	fc, err := op.fs()
	if err != nil {
		return nil, p, op.fail("", p, err)
	}
	R := op.abs(fc, p)
	cur, err := op.readCurrent(fc, R)
	if err != nil {
		return nil, R, op.fail("", R, err)
	}
	return cur, R, nil
}

// AppendLine adds line to the remote file p unless it has it.
func (op *Op) AppendLine(p, line string) error {
	if strings.ContainsAny(line, "\n") {
		return op.fail("", p, errors.New("the line contains a newline"))
	}
	cur, R, err := op.read(p)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(cur.data), "\n") {
		if strings.TrimSuffix(l, "\r") == line {
			op.t.Skipped++
			return nil
		}
	}
	data := append([]byte(nil), cur.data...)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, line+"\n"...)
	fc, _ := op.fs()
	return op.replaceContent(fc, "", R, cur, data)
}

// Replace replaces every match of re in the remote file p with repl.
func (op *Op) Replace(p string, re *regexp.Regexp, repl string) error {
	if re == nil {
		return op.fail("", p, errors.New("no regular expression given"))
	}
	cur, R, err := op.read(p)
	if err != nil {
		return err
	}
	if !cur.exists {
		return op.fail("", R, fs.ErrNotExist)
	}
	data := re.ReplaceAll(cur.data, []byte(repl))
	if bytes.Equal(data, cur.data) {
		op.t.Skipped++
		return nil
	}
	fc, _ := op.fs()
	return op.replaceContent(fc, "", R, cur, data)
}

// EnsureDir makes sure the remote directory p exists, with mode (if not
// 0) and Owner.
func (op *Op) EnsureDir(p string, mode fs.FileMode) error {
	mode = FileMode(mode)
	fc, err := op.fs()
	if err != nil {
		return op.fail("", p, err)
	}
	R := op.abs(fc, p)
	if op.o.DryRun {
		return nil
	}
	if op.o.Sudo {
		script := "mkdir -p -- " + shquote.Quote(R)
		if mode != 0 {
			script += " && chmod " + octal(mode) + " -- " + shquote.Quote(R)
		}
		if own := op.o.chownSpec(); own != "" {
			script += " && chown -- " + shquote.Quote(own) + " " + shquote.Quote(R)
		}
		if r := op.shell(script, nil); r.Err != nil {
			return op.fail("", R, stepErr("sudo", r))
		}
		return nil
	}
	if _, err := fc.mkdirAll(R, 0); err != nil {
		return op.fail("", R, err)
	}
	fi, err := fc.Stat(R)
	if err != nil {
		return op.fail("", R, err)
	}
	if mode != 0 && FileMode(fi.Mode()) != mode {
		if err := fc.Chmod(R, mode); err != nil {
			return op.fail("", R, fmt.Errorf("chmod: %w", err))
		}
	}
	owner, err := op.ownerIDs()
	if err != nil {
		return op.fail("", R, err)
	}
	if owner != nil {
		if cur := statIDs(fi); cur == nil || (owner.uid != -1 && owner.uid != cur.uid) || (owner.gid != -1 && owner.gid != cur.gid) {
			if err := fc.Chown(R, owner.uid, owner.gid); err != nil {
				return op.fail("", R, fmt.Errorf("chown: %w", err))
			}
		}
	}
	return nil
}

// Symlink makes link a symbolic link to target, atomically.
func (op *Op) Symlink(target, link string) error {
	if target == "" || link == "" {
		return op.fail(target, link, errors.New("empty path"))
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail("", link, err)
	}
	L := op.abs(fc, link)
	if fi, err := fc.Lstat(L); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := fc.ReadLink(L); err == nil && t == target && op.o.chownSpec() == "" {
			op.t.Skipped++
			return nil
		}
	}
	if op.o.DryRun {
		return nil
	}
	if op.o.Sudo {
		tmp := tempName(L)
		script := "set -e\nl=" + shquote.Quote(L) + "\ntmp=" + shquote.Quote(tmp) + "\n" +
			"if [ -d \"$l\" ] && [ ! -L \"$l\" ]; then echo \"loom: $l is a directory\" >&2; exit 1; fi\n" +
			"trap 'rm -f -- \"$tmp\"' EXIT\n" +
			"ln -s -- " + shquote.Quote(target) + " \"$tmp\"\n"
		if own := op.o.chownSpec(); own != "" {
			script += "chown -h -- " + shquote.Quote(own) + " \"$tmp\"\n"
		}
		script += "if [ -L \"$l\" ] && [ -d \"$l\" ]; then mv -f -T -- \"$tmp\" \"$l\"; else mv -f -- \"$tmp\" \"$l\"; fi\n"
		if r := op.shell(script, nil); r.Err != nil {
			return op.fail("", L, stepErr("sudo", r))
		}
		return nil
	}
	if op.o.chownSpec() != "" {
		return op.fail("", L, errors.New("owner on a symbolic link needs UseSudo"))
	}
	if fi, err := fc.Lstat(L); err == nil && fi.IsDir() {
		return op.fail("", L, errors.New("is a directory"))
	}
	if err := fc.symlinkAtomic(target, L); err != nil {
		return op.fail("", L, err)
	}
	return nil
}
