// Package trust decides whether a file or directory Loom finds on disk may
// be trusted by the user running it: whether someone else could have
// written it, or could replace it.
//
// Two rules, one for what Loom finds and reads (an inventory or loomfile
// found by searching upward from the working directory, the way git finds
// a repository and, since 2.35.2, refuses one another user owns — its
// safe.directory check) and one for what Loom keeps and runs (the cache of
// compiled loomfiles):
//
//   - [Found]: owned by the user or by root (or, for root run through
//     sudo, by the user who ran sudo: SUDO_UID, as git allows), and
//     writable by nobody else:
//     not by others, and not by the group unless the group is the owner's
//     private group (a group of the owner's name with no other member, the
//     usual setup with umask 002).
//   - [Private]: owned by the user (root's files are not the user's
//     there: a root-owned cache of programs a user runs would be a
//     mistake either way), and writable by nobody else, as above.
//
// [Chain] checks the directories above a path: each owned by the user or
// root, and writable by others only with the sticky bit (/tmp), so nobody
// else can rename the path away and put their own in its place.
package trust

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Found returns nil when the file or directory at path, found on disk
// rather than named by the user, may be used: owned by the user or root
// and writable by nobody else. Otherwise the error says why, in a few
// words after the path ("/srv/app/loom.yaml: owned by uid 1001 (alice)").
func Found(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if why := problem(fi, true, false); why != "" {
		return fmt.Errorf("%s: %s", path, why)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	// A link of the user's: what it points to must pass too.
	if fi, err = os.Stat(path); err != nil {
		return err
	}
	if why := problem(fi, true, false); why != "" {
		return fmt.Errorf("%s (a link): its target is %s", path, why)
	}
	return nil
}

// Private returns nil when fi (of path) is the user's own and writable by
// nobody else: a directory or program of the user's cache.
func Private(path string, fi fs.FileInfo) error {
	if why := problem(fi, false, false); why != "" {
		return fmt.Errorf("%s: %s", path, why)
	}
	return nil
}

// Chain returns nil when no one but the user (and root) can replace path
// by renaming it or a directory above it: every directory above path,
// after symbolic links are resolved, is owned by the user or root and is
// writable by nobody else, unless it has the sticky bit (as /tmp has).
// path itself need not exist yet; the directories above it that do not
// exist are not checked (Loom makes them, 0700).
func Chain(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	// The deepest part that exists, its symbolic links resolved.
	dir := filepath.Dir(abs)
	for {
		if _, err := os.Lstat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for d := real; ; {
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if why := problem(fi, true, true); why != "" {
			return fmt.Errorf("%s: %s, so another user could put something else in its place", d, why)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}
