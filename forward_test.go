package loom_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/sshdtest"
	"github.com/loomssh/loom/internal/testkit"
)

// echoServer answers each line with "echo: LINE".
func echoServer(t *testing.T) string { return testkit.EchoServer(t) }

func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, msg+"\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read through tunnel: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestSSHDPortForwarding(t *testing.T) {
	_, d := target(t, sshdtest.Options{})
	c := dial(t, d, "target")
	echo := echoServer(t)

	// Local: a listener here reaching a service as the host sees it.
	tun, err := c.ForwardLocal("127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if got := roundTrip(t, tun.Addr(), "ping"); got != "echo: ping" {
			t.Fatalf("local forward: %q", got)
		}
	}
	tun.Close()
	if _, err := net.DialTimeout("tcp", tun.Addr(), time.Second); err == nil {
		t.Fatal("tunnel still listening after Close")
	}

	// Remote: a listener on the host reaching a service here.
	rt, err := c.ForwardRemote("127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, rt.Addr(), "pong"); got != "echo: pong" {
		t.Fatalf("remote forward: %q", got)
	}
	rt.Close()

	// Scoped to a function.
	var seen string
	err = c.WithTunnel(echo, func(addr string) error {
		seen = roundTrip(t, addr, "scoped")
		return nil
	})
	if err != nil || seen != "echo: scoped" {
		t.Fatalf("WithTunnel: %v %q", err, seen)
	}

	// Scoped to a context.
	ctx, cancel := context.WithCancel(context.Background())
	ct, err := c.WithContext(ctx).ForwardLocal("127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := net.DialTimeout("tcp", ct.Addr(), time.Second); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tunnel outlived its context")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
