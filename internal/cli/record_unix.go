//go:build unix

package cli

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivate refuses a file that is not this user's or that others may
// write.
func checkPrivate(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("not yours (owner uid %d): refused", st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("mode %v: others may write it: refused", fi.Mode().Perm())
	}
	return nil
}
