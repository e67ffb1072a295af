package transport

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// dropFirst listens on loopback and closes the first n connections at once;
// later ones are relayed to target. It returns the port.
func dropFirst(t *testing.T, n int32, target string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var seen atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if seen.Add(1) <= n {
				c.Close()
				continue
			}
			go func() {
				u, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(u, c); u.Close() }()
				io.Copy(c, u)
				c.Close()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// rewriteKnownHosts copies kh with port from replaced by port to.
func rewriteKnownHosts(t *testing.T, kh string, from, to int) string {
	b, _ := os.ReadFile(kh)
	out := strings.ReplaceAll(string(b), "]:"+strconv.Itoa(from)+" ", "]:"+strconv.Itoa(to)+" ")
	p := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(p, []byte(out), 0o600)
	return p
}
