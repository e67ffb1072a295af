package loom_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomssh/loom"
)

// TestProxyJumpLoop: a jump host that reaches itself (Host * / ProxyJump
// bastion, then -H bastion: the everyday case) or two hosts jumping through
// each other are a clear error at once, as ssh's "jumphost loop", never a
// hang.
func TestProxyJumpLoop(t *testing.T) {
	addr := refusedAddr(t) // nothing is ever dialled
	host, port, _ := strings.Cut(addr, ":")
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Host bastion a b c
  HostName %s
  Port %s
Host a
  ProxyJump b
Host b
  ProxyJump a
Host c
  ProxyJump b
Host *
  ProxyJump bastion
`, host, port)), 0o600)
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d.Close()
	for _, tc := range []struct{ target, chain string }{
		{"bastion", "bastion -> bastion"},
		{"a", "a -> b -> a"},
		{"c", "c -> b -> a"}, // a is c's login by the same jump host
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		_, err := d.Dial(ctx, tc.target)
		cancel()
		var ce *loom.ConnectError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), "ProxyJump loop") || !strings.Contains(err.Error(), tc.chain) {
			t.Errorf("%s: %v (after %v), want a ProxyJump loop error naming %q", tc.target, err, time.Since(start), tc.chain)
		}
	}
}

// TestJumpWaitEndsWithContext: a target waiting for a jump host that is
// being dialled gives up when its context ends.
func TestJumpWaitEndsWithContext(t *testing.T) {
	addr, accepted := blackhole(t)
	host, port, _ := strings.Cut(addr, ":")
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host jump\n  HostName %s\n  Port %s\nHost t1 t2\n  HostName 127.0.0.1\n  ProxyJump jump\n", host, port)), 0o600)
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent", ConnectTimeout: 10 * time.Minute}
	defer d.Close()
	first := make(chan error, 1)
	go func() {
		_, err := d.Dial(context.Background(), "t1") // holds the jump host's dial
		first <- err
	}()
	select { // t1 is in the jump host's handshake, holding it
	case <-accepted:
	case <-time.After(time.Minute):
		t.Fatal("the jump host was never dialled")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := d.Dial(ctx, "t2")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("dial through a hung jump host succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("a cancelled dial still waits for the jump host")
	}
}

// blackhole listens on loopback and accepts connections that never say a
// word; accepted gets a value for each.
func blackhole(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ln.Addr().String(), ch
}

// TestProxyJumpLoopIsAConfigError: the CLI resolves every host before it
// runs anything; a loop is found there (exit 2), with the chain named.
func TestProxyJumpLoopIsAConfigError(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte("Host bastion\n  HostName 127.0.0.1\nHost *\n  ProxyJump bastion\n"), 0o600)
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d.Close()
	_, err := d.ResolveHost(loom.Host{Name: "bastion"})
	if err == nil || !strings.Contains(err.Error(), "bastion -> bastion") {
		t.Fatalf("resolve: %v, want the loop", err)
	}
	// Every host's jump host then jumps through itself (OpenSSH 9.2 spawns
	// ssh processes without end here).
	if _, err := d.ResolveHost(loom.Host{Name: "web1"}); err == nil || !strings.Contains(err.Error(), "web1 -> bastion -> bastion") {
		t.Fatalf("web1: %v, want the loop of its jump host", err)
	}
	os.WriteFile(cfg, []byte("Host bastion\n  HostName 127.0.0.1\nHost * !bastion\n  ProxyJump bastion\n"), 0o600)
	d2 := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d2.Close()
	for _, h := range []string{"web1", "bastion"} {
		if _, err := d2.ResolveHost(loom.Host{Name: h}); err != nil {
			t.Fatalf("%s with Host * !bastion: %v", h, err)
		}
	}
}
