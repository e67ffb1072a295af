package loomfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/loomssh/loom/internal/trust"
)

// trustCache makes sure the cache of compiled programs is the user's
// alone before anything in it is run: the directories above it cannot be
// renamed by another user (trust.Chain), the cache directory is owned by
// the user and writable by nobody else, and so is its bin/ (made again
// when it is not). Another user's cache, or one others may write, is
// refused: a program in it would run as this user.
func (b *builder) trustCache() error {
	root := b.cache
	refuse := func(err error) error {
		return fmt.Errorf("loom cache %s: %v: loom runs the programs it keeps there; use a directory of your own (LOOM_CACHE)", root, err)
	}
	if err := trust.Chain(root); err != nil {
		return refuse(err)
	}
	fi, err := os.Lstat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("loom cache %s: %v", root, err)
		}
		if fi, err = os.Lstat(root); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("loom cache %s: %v", root, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		// A link (say ~/.cache/loom to a bigger disk): the link is the
		// user's (Chain checked its directory); where it points must be
		// safe too.
		if err := trust.Private(root, fi); err != nil {
			return refuse(errors.New("a link owned by someone else"))
		}
		real, err := filepath.EvalSymlinks(root)
		if err != nil {
			return fmt.Errorf("loom cache %s: %v", root, err)
		}
		if err := trust.Chain(filepath.Join(real, "bin")); err != nil {
			return refuse(err)
		}
		if fi, err = os.Stat(real); err != nil {
			return fmt.Errorf("loom cache %s: %v", root, err)
		}
	}
	if !fi.IsDir() {
		return fmt.Errorf("loom cache %s: not a directory", root)
	}
	if err := trust.Private(root, fi); err != nil {
		return refuse(err)
	}
	return privateDir(filepath.Join(root, "bin"))
}

// privateDir makes sure dir, inside the trusted cache, is a directory the
// user alone may write: made (0700) when missing; removed and made again
// when it is anything else (another user's, writable by others, a link).
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err == nil && fi.IsDir() && trust.Private(dir, fi) == nil {
		return nil
	}
	if err == nil {
		why := trust.Private(dir, fi)
		if why == nil {
			why = fmt.Errorf("%s: not a directory", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("loom cache: %v, and it cannot be removed: %v", why, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("loom cache: %v", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("loom cache: %v", err)
	}
	// Made now, by this loom or (racing) another of the user's: check.
	if fi, err = os.Lstat(dir); err != nil {
		return fmt.Errorf("loom cache: %v", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("loom cache: %s: not a directory", dir)
	}
	if err := trust.Private(dir, fi); err != nil {
		return fmt.Errorf("loom cache: %v", err)
	}
	return nil
}

// trustedProgram reports whether the cached program at bin may be run:
// a regular file (not a link) owned by the user and writable by nobody
// else. One that is there but fails is removed, to be built again.
func trustedProgram(bin string) bool {
	fi, err := os.Lstat(bin)
	if err != nil {
		return false
	}
	if fi.Mode().IsRegular() && trust.Private(bin, fi) == nil {
		return true
	}
	os.RemoveAll(bin)
	return false
}
