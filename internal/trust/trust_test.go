//go:build unix

package trust

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestFoundModes(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "loom.yaml")
	os.WriteFile(f, nil, 0o644)
	if err := Found(f); err != nil {
		t.Fatalf("0644: %v", err)
	}
	os.Chmod(f, 0o646)
	if err := Found(f); err == nil || err.Error() != f+": writable by every user (mode 0646)" {
		t.Fatalf("0646: %v", err)
	}
	// A link of the user's to a file others may write.
	link := filepath.Join(dir, "link.yaml")
	os.Symlink(f, link)
	if err := Found(link); err == nil || !strings.Contains(err.Error(), "its target is writable by every user") {
		t.Fatalf("link: %v", err)
	}
	os.Chmod(f, 0o644)
	if err := Found(link); err != nil {
		t.Fatalf("link to a good file: %v", err)
	}
}

// TestPrivateGroup: group-writable is fine when the group is the owner's
// own (named after them, no other member), as with umask 002.
func TestPrivateGroup(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	groups := filepath.Join(t.TempDir(), "group")
	old := groupFile
	groupFile = groups
	t.Cleanup(func() { groupFile = old })
	for _, tc := range []struct {
		line string
		want bool
	}{
		{u.Username + ":x:4242:", true},
		{u.Username + ":x:4242:" + u.Username, true},
		{u.Username + ":x:4242:" + u.Username + ",mallory", false},
		{"staff:x:4242:", false},
		{u.Username + ":x:4243:", false}, // another gid
	} {
		os.WriteFile(groups, []byte("other:x:1:\n"+tc.line+"\n"), 0o644)
		if got := privateGroup(4242, uid); got != tc.want {
			t.Errorf("%q: private %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestChain(t *testing.T) {
	base := t.TempDir()
	shared := filepath.Join(base, "shared")
	os.Mkdir(shared, 0o755)
	p := filepath.Join(shared, "cache", "bin")
	if err := Chain(p); err != nil {
		t.Fatalf("0755: %v", err)
	}
	os.Chmod(shared, 0o777)
	if err := Chain(p); err == nil || !strings.HasPrefix(err.Error(), shared+": writable by every user") {
		t.Fatalf("0777: %v", err)
	}
	os.Chmod(shared, 0o777|os.ModeSticky)
	if err := Chain(p); err != nil {
		t.Fatalf("1777: %v", err)
	}
	// Through a link: the directories the link leads to are checked.
	os.Chmod(shared, 0o777)
	link := filepath.Join(base, "link")
	os.Symlink(shared, link)
	if err := Chain(filepath.Join(link, "cache")); err == nil || !strings.HasPrefix(err.Error(), shared+": ") {
		t.Fatalf("through a link: %v", err)
	}
}

// TestFoundSudoUser: root run through sudo trusts what the user who ran
// sudo owns (as git does), and nobody else's.
func TestFoundSudoUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	f := filepath.Join(t.TempDir(), "loom.yaml")
	os.WriteFile(f, nil, 0o644)
	if err := os.Chown(f, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUDO_UID", "")
	if err := Found(f); err == nil {
		t.Fatal("root trusts a file of uid 12345")
	}
	t.Setenv("SUDO_UID", "12345")
	if err := Found(f); err != nil {
		t.Fatalf("root via sudo from uid 12345: %v", err)
	}
	t.Setenv("SUDO_UID", "12346")
	if err := Found(f); err == nil {
		t.Fatal("root via sudo from uid 12346 trusts a file of uid 12345")
	}
	if err := Private(f, mustStat(t, f)); err == nil {
		t.Fatal("the cache rule trusts the sudo user's file")
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
