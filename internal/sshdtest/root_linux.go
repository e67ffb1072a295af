package sshdtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	// stateDir holds, for root only, the lock that serializes the user setup
	// between test binaries and the per-machine password of TestUser.
	stateDir    = "/var/lib/loomtest"
	testHome    = "/home/" + TestUser
	sudoersPath = "/etc/sudoers.d/" + TestUser
	// sudoersText lets TestUser run anything with its password. No lecture, so
	// sudo's output is the same on the first run on a machine as on later ones.
	sudoersText = "# Written by loom's internal/sshdtest.\n" +
		"Defaults:" + TestUser + " lecture=never, !mail_badpass\n" +
		TestUser + " ALL=(ALL:ALL) ALL\n"
)

// CanSudo reports whether sudo tests can run: as root, with sudo installed and
// /etc/sudoers reading /etc/sudoers.d. Then Start gives TestUser a sudoers
// entry that asks for Server.Password. When ok is false, why says what is
// missing, for t.Skip.
func CanSudo() (ok bool, why string) {
	if os.Geteuid() != 0 {
		return false, "sudo tests need root, to give user " + TestUser + " a known password and a sudoers entry"
	}
	if why := sudoMissing(); why != "" {
		return false, why
	}
	return true, ""
}

// sudoMissing says why the sudoers drop-in can't be installed or wouldn't be
// read, or returns "".
func sudoMissing() string {
	for _, name := range []string{"sudo", "visudo"} {
		if _, err := findTool(name); err != nil {
			return name + " is not installed"
		}
	}
	b, err := os.ReadFile("/etc/sudoers")
	if err != nil {
		return "cannot read /etc/sudoers: " + err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == "@includedir" || f[0] == "#includedir") && strings.TrimSuffix(f[1], "/") == "/etc/sudoers.d" {
			return ""
		}
	}
	return "/etc/sudoers does not include /etc/sudoers.d"
}

// findTool finds an administration command, also in the sbin directories
// that a non-login PATH may lack.
func findTool(name string) (string, error) {
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// run runs an administration command with stdin and returns an error
// that includes its output.
func run(stdin string, name string, args ...string) error {
	p, err := findTool(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(p, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// rootAccount prepares TestUser, once per test binary.
var rootAccount = sync.OnceValues(setupRootAccount)

// setupRootAccount creates TestUser with shell /bin/sh and a home directory
// if needed, gives it the per-machine password, installs its sudoers drop-in
// and makes sure sshd's privilege separation directory exists. Test binaries
// run in parallel, so all of that happens under a file lock.
func setupRootAccount() (*account, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close() // releases the lock
	for {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %v", lock.Name(), err)
	}

	pw, err := lookupPasswd(TestUser)
	if err != nil {
		return nil, err
	}
	if pw == nil {
		if err := run("", "useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", testHome, "--shell", "/bin/sh", "--comment", "loom test user", TestUser); err != nil {
			return nil, err
		}
		if pw, err = lookupPasswd(TestUser); err != nil {
			return nil, err
		}
		if pw == nil {
			return nil, errors.New("useradd succeeded but getent does not find the user")
		}
	}
	if pw.shell != "/bin/sh" {
		// A heavy login shell makes every session slow.
		if err := run("", "usermod", "--shell", "/bin/sh", TestUser); err != nil {
			return nil, err
		}
	}
	if err := ensureHome(pw); err != nil {
		return nil, err
	}

	password, err := machinePassword()
	if err != nil {
		return nil, err
	}
	// Setting the same password again is harmless for a test binary running
	// in parallel, and repairs a hash changed or locked by anyone else.
	if err := run(TestUser+":"+password+"\n", "chpasswd"); err != nil {
		return nil, err
	}

	if sudoMissing() == "" {
		if err := installSudoers(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	return &account{name: TestUser, home: pw.home, password: password}, nil
}

// passwdEntry is the part of a passwd entry that matters here.
type passwdEntry struct {
	uid, gid    int
	home, shell string
}

// lookupPasswd returns name's passwd entry, or nil if there is no such user.
func lookupPasswd(name string) (*passwdEntry, error) {
	getent, err := findTool("getent")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(getent, "passwd", name).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 2 { // key not found
			return nil, nil
		}
		return nil, fmt.Errorf("getent passwd %s: %v", name, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	if len(f) != 7 {
		return nil, fmt.Errorf("getent passwd %s: unexpected output %q", name, out)
	}
	uid, err1 := strconv.Atoi(f[2])
	gid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("getent passwd %s: unexpected output %q", name, out)
	}
	return &passwdEntry{uid: uid, gid: gid, home: f[5], shell: f[6]}, nil
}

// ensureHome creates the user's home directory if it is missing, and keeps
// testHome owned by the user and mode 0755. Another existing home is left alone.
func ensureHome(pw *passwdEntry) error {
	if pw.home == "" || pw.home == "/" {
		return nil
	}
	if _, err := os.Stat(pw.home); err == nil && pw.home != testHome {
		return nil
	}
	if err := os.MkdirAll(pw.home, 0o755); err != nil {
		return err
	}
	if err := os.Chown(pw.home, pw.uid, pw.gid); err != nil {
		return err
	}
	return os.Chmod(pw.home, 0o755)
}

// machinePassword returns TestUser's password, creating it on first use. It
// lives in a root-only file so that parallel test binaries agree on it.
func machinePassword() (string, error) {
	path := filepath.Join(stateDir, "password")
	b, err := os.ReadFile(path)
	if err == nil {
		if p := strings.TrimSpace(string(b)); p != "" {
			return p, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	p := hex.EncodeToString(raw)
	if err := writeFileAtomic(path, []byte(p+"\n"), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// installSudoers installs sudoersText at sudoersPath, validated by visudo,
// unless it is there already.
func installSudoers() error {
	if b, err := os.ReadFile(sudoersPath); err == nil && string(b) == sudoersText {
		return nil
	}
	// sudo ignores files in /etc/sudoers.d whose name contains a dot.
	tmp := filepath.Join(filepath.Dir(sudoersPath), "."+TestUser+".tmp")
	os.Remove(tmp) // left over by a crash, maybe with other permissions
	if err := os.WriteFile(tmp, []byte(sudoersText), 0o440); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o440); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := run("", "visudo", "-c", "-q", "-f", tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, sudoersPath); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames it into place.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp) // left over by a crash, maybe with other permissions
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
