// Package testkit holds the helpers that tests of several packages share:
// a buffer safe for concurrent writes, an address where connections are
// refused, a wait for a condition. Only tests import it.
package testkit

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers and a reader.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Take returns what was written so far and forgets it.
func (s *SyncBuffer) Take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// RefusedAddr returns a loopback address where connections are refused for
// the whole test: a port bound but not listening (on Unix), so that unlike
// a listener closed at once, its port cannot be handed to a server started
// later in the test.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	return refusedAddr(t)
}

// WaitFor polls cond until it holds, failing t after a generous deadline
// (the machines tests run on are shared and loaded) with what it waited for.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// EchoServer listens on loopback and answers each line a client sends
// with "echo: LINE"; it returns its address. It stops with the test.
func EchoServer(t testing.TB) string { return LineServer(t, "echo: ") }

// LineServer listens on loopback and answers each line a client sends
// with prefix and the line; it returns its address.
func LineServer(t testing.TB, prefix string) string {
	return Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			io.WriteString(c, prefix+sc.Text()+"\n")
		}
	})
}

// Serve listens on network and address and runs handle for each
// connection (closed when handle returns); it returns the address it
// listens on. It stops with the test.
func Serve(t testing.TB, network, address string, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}
