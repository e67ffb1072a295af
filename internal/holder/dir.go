package holder

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// SocketName and LockName are the holder's files in its directory.
const (
	SocketName = "holder.sock"
	LockName   = "holder.lock"
	LogName    = "holder.log"
)

// DefaultDir is the holder's directory: $LOOM_HOLDER_DIR when set, else
// loom under $XDG_RUNTIME_DIR (a per-user directory the system makes and
// removes at logout), else loom-UID under the temporary directory.
func DefaultDir() string {
	if d := os.Getenv("LOOM_HOLDER_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "loom")
	}
	return filepath.Join(os.TempDir(), "loom-"+strconv.Itoa(os.Getuid()))
}

// PrepareDir makes dir (mode 0700) if it does not exist and checks that
// it is a directory, not a symbolic link, owned by this user and closed
// to everyone else: whoever can enter it can reach the held connections.
func PrepareDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return fmt.Errorf("holder directory %s: %v", dir, err)
	}
	return checkDir(dir)
}

func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("holder directory %s: %v", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("holder directory %s: not a directory (a symbolic link or a file is refused)", dir)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Getuid() {
		return fmt.Errorf("holder directory %s: owned by uid %d, not by you (uid %d): refusing to use it", dir, uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("holder directory %s: mode %04o lets others in; want 0700 (chmod 700 %s)", dir, fi.Mode().Perm(), dir)
	}
	return nil
}
