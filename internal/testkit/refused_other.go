//go:build !unix

package testkit

import (
	"net"
	"testing"
)

// refusedAddr elsewhere: a listener closed at once (its port may be reused
// by a later server, which the Unix version rules out).
func refusedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
