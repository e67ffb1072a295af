//go:build linux || darwin

package peercred

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// Both ends of a Unix socket connection see this process's uid and pid;
// a TCP connection is refused, not read as someone's.
func TestOf(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	for name, conn := range map[string]net.Conn{"client": c, "server": s} {
		uid, pid, err := Of(conn)
		if err != nil || uid != os.Getuid() || pid != os.Getpid() {
			t.Errorf("%s end: uid %d pid %d %v; want %d %d", name, uid, pid, err, os.Getuid(), os.Getpid())
		}
	}
	tl, _ := net.Listen("tcp", "127.0.0.1:0")
	defer tl.Close()
	tc, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, _, err := Of(tc); err == nil {
		t.Error("a TCP connection's peer was read")
	}
}
