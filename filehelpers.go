package loom

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// File helpers in the manner of Fabric's contrib.files: idempotent (running
// one twice changes nothing the second time), with no shell interpolation
// of their arguments, and with the sticky-error model of every operation.
// Each takes UseSudo (and where it makes sense Mode and Owner).

// Exists reports whether the remote path exists (following symbolic
// links, like test -e). A missing path is false; an error that says
// nothing either way (permission denied, a lost connection) is recorded as
// the Conn's failure, and Exists returns false. After an earlier failure
// Exists returns false without checking.
func (c *Conn) Exists(p string, opts ...FileOption) bool {
	op, _ := c.newOp("exists", opts)
	if op == nil {
		return false
	}
	ok, err := op.exists(p)
	op.finish(err)
	return ok && err == nil
}

func (op *fileOp) exists(p string) (bool, error) {
	fc, err := op.fs()
	if err != nil {
		return false, op.fail("", p, err)
	}
	R := op.c.abs(fc, p)
	if op.o.sudo {
		r := op.shell("if [ -e "+Quote(R)+" ]; then exit 0; else exit 1; fi", nil)
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

// Contains reports whether the remote file path holds text, compared
// literally (not a pattern; it may span lines). A missing file is false;
// other errors are recorded as the Conn's failure, as for Exists. The file
// is read whole.
func (c *Conn) Contains(p, text string, opts ...FileOption) bool {
	op, _ := c.newOp("contains", opts)
	if op == nil {
		return false
	}
	cur, _, err := op.read(p)
	op.finish(err)
	return err == nil && cur.exists && bytes.Contains(cur.data, []byte(text))
}

// read reads the remote file p as it is.
func (op *fileOp) read(p string) (*current, string, error) {
	fc, err := op.fs()
	if err != nil {
		return nil, p, op.fail("", p, err)
	}
	R := op.c.abs(fc, p)
	cur, err := op.readCurrent(fc, R)
	if err != nil {
		return nil, R, op.fail("", R, err)
	}
	return cur, R, nil
}

// AppendLine adds line (and a newline) at the end of the remote file path
// unless the file already has a line equal to it; a missing file is
// created (mode 0644, or Mode). The file is rewritten atomically, keeping
// its mode and owner. line must not contain a newline.
func (c *Conn) AppendLine(p, line string, opts ...FileOption) error {
	op, t := c.newOp("append", opts)
	if op == nil {
		return t.Err
	}
	return op.finishErr(op.appendLine(p, line))
}

func (op *fileOp) appendLine(p, line string) error {
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

// Replace replaces, in the remote file path, every match of re with repl
// (as regexp.ReplaceAll: $1 and ${name} expand to submatches). The file is
// read, edited here and written back atomically, keeping its mode and
// owner; the pattern never reaches a shell, so it may hold any character.
// A file with no match is left as it is. A missing file is an error.
func (c *Conn) Replace(p string, re *regexp.Regexp, repl string, opts ...FileOption) error {
	op, t := c.newOp("replace", opts)
	if op == nil {
		return t.Err
	}
	return op.finishErr(op.replace(p, re, repl))
}

func (op *fileOp) replace(p string, re *regexp.Regexp, repl string) error {
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

// EnsureDir makes sure the remote directory path exists (with its parents,
// like mkdir -p) with mode (0 leaves the mode of an existing directory
// alone, and gives a new one the server's default) and, with Owner, that
// owner.
func (c *Conn) EnsureDir(p string, mode fs.FileMode, opts ...FileOption) error {
	op, t := c.newOp("mkdir", opts)
	if op == nil {
		return t.Err
	}
	return op.finishErr(op.ensureDir(p, fileMode(mode)))
}

func (op *fileOp) ensureDir(p string, mode fs.FileMode) error {
	fc, err := op.fs()
	if err != nil {
		return op.fail("", p, err)
	}
	R := op.c.abs(fc, p)
	if op.o.dryRun {
		return nil
	}
	if op.o.sudo {
		script := "mkdir -p -- " + Quote(R)
		if mode != 0 {
			script += " && chmod " + octal(mode) + " -- " + Quote(R)
		}
		if own := op.o.chownSpec(); own != "" {
			script += " && chown -- " + Quote(own) + " " + Quote(R)
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
	if mode != 0 && fileMode(fi.Mode()) != mode {
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

// Symlink makes the remote path link a symbolic link to target (kept as
// given: a relative target is relative to link's directory), replacing an
// existing link or file atomically: a new link is made next to it and
// renamed over it, so that something resolving link at any moment finds
// the old target or the new one (the "current -> releases/20260101" switch
// of a deployment). A directory at link is an error. A link that already
// points at target is left alone. Owner needs UseSudo.
func (c *Conn) Symlink(target, link string, opts ...FileOption) error {
	op, t := c.newOp("symlink", opts)
	if op == nil {
		return t.Err
	}
	return op.finishErr(op.symlink(target, link))
}

func (op *fileOp) symlink(target, link string) error {
	if target == "" || link == "" {
		return op.fail(target, link, errors.New("empty path"))
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail("", link, err)
	}
	L := op.c.abs(fc, link)
	if fi, err := fc.Lstat(L); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := fc.ReadLink(L); err == nil && t == target && op.o.chownSpec() == "" {
			op.t.Skipped++
			return nil
		}
	}
	if op.o.dryRun {
		return nil
	}
	if op.o.sudo {
		tmp := tempName(L)
		script := "set -e\nl=" + Quote(L) + "\ntmp=" + Quote(tmp) + "\n" +
			"if [ -d \"$l\" ] && [ ! -L \"$l\" ]; then echo \"loom: $l is a directory\" >&2; exit 1; fi\n" +
			"trap 'rm -f -- \"$tmp\"' EXIT\n" +
			"ln -s -- " + Quote(target) + " \"$tmp\"\n"
		if own := op.o.chownSpec(); own != "" {
			script += "chown -h -- " + Quote(own) + " \"$tmp\"\n"
		}
		script += "if [ -L \"$l\" ] && [ -d \"$l\" ]; then mv -f -T -- \"$tmp\" \"$l\"; else mv -f -- \"$tmp\" \"$l\"; fi\n"
		if r := op.shell(script, nil); r.Err != nil {
			return op.fail("", L, stepErr("sudo", r))
		}
		return nil
	}
	if op.o.chownSpec() != "" {
		return op.fail("", L, errors.New("Owner on a symbolic link needs UseSudo"))
	}
	if fi, err := fc.Lstat(L); err == nil && fi.IsDir() {
		return op.fail("", L, errors.New("is a directory"))
	}
	if err := fc.symlinkAtomic(target, L); err != nil {
		return op.fail("", L, err)
	}
	return nil
}
