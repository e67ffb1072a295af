//go:build unix

package trust

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// problem says why fi may not be trusted, or "" when it may: its owner
// must be the user (or root, with rootOK), and nobody else may write it
// (a directory writable by others is fine with stickyOK when it has the
// sticky bit: its entries can then be replaced only by their owners).
func problem(fi fs.FileInfo, rootOK, stickyOK bool) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	me, uid := os.Geteuid(), int(st.Uid)
	if uid != me && !(rootOK && uid == 0) && !(rootOK && me == 0 && uid == sudoUID()) {
		also := ""
		if rootOK && me != 0 {
			also = " or root"
		}
		return fmt.Sprintf("owned by %s, not by you (%s)%s", who(uid), who(me), also)
	}
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 {
		return "" // a link's own mode means nothing; its target is checked
	}
	sticky := stickyOK && mode.IsDir() && mode&fs.ModeSticky != 0
	perm := mode.Perm()
	switch {
	case sticky:
	case perm&0o002 != 0:
		return fmt.Sprintf("writable by every user (mode %04o)", perm)
	case perm&0o020 != 0 && !privateGroup(st.Gid, uid):
		return fmt.Sprintf("writable by group %s (mode %04o)", groupName(st.Gid), perm)
	}
	return ""
}

// who names a user: "uid 1001 (alice)".
func who(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}

// groupFile is read for group members, which os/user does not give.
var groupFile = "/etc/group"

// privateGroup reports whether gid is the private group of user uid: a
// group of the user's name, listed in /etc/group with no member but the
// user. With umask 002 (user private groups, as on Debian and Ubuntu)
// every file a user makes is group-writable, and that group is theirs
// alone. A group /etc/group does not list is not known to be private.
func privateGroup(gid uint32, uid int) bool {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return false
	}
	f, err := os.Open(groupFile)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:gid:member,member
		fields := strings.Split(sc.Text(), ":")
		if len(fields) != 4 || fields[2] != strconv.Itoa(int(gid)) {
			continue
		}
		if fields[0] != u.Username {
			return false
		}
		for _, m := range strings.Split(fields[3], ",") {
			if m = strings.TrimSpace(m); m != "" && m != u.Username {
				return false
			}
		}
		return true
	}
	return false
}

// sudoUID is the user who ran Loom through sudo (SUDO_UID), or -1. Root
// trusts what that user found on disk owns, as git does: they could run
// anything as root already, so their own checkout gives them nothing more.
func sudoUID() int {
	if os.Geteuid() != 0 {
		return -1
	}
	n, err := strconv.Atoi(os.Getenv("SUDO_UID"))
	if err != nil || n <= 0 {
		return -1
	}
	return n
}
