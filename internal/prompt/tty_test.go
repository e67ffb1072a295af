//go:build linux

package prompt

import (
	"bufio"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/ptytest"
)

// terminal is the master side of a pty, with what it showed so far.
type terminal struct {
	master, slave *os.File
	mu            sync.Mutex
	shown         strings.Builder
	more          chan struct{}
}

func openPty(t *testing.T) *terminal {
	t.Helper()
	master, slave, err := ptytest.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	tm := &terminal{master: master, slave: slave, more: make(chan struct{}, 1)}
	t.Cleanup(func() { slave.Close(); master.Close() })
	go func() {
		b := make([]byte, 1024)
		for {
			n, err := master.Read(b)
			tm.mu.Lock()
			tm.shown.Write(b[:n])
			tm.mu.Unlock()
			select {
			case tm.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return tm
}

// waitShown waits until the terminal has shown s.
func (tm *terminal) waitShown(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		tm.mu.Lock()
		ok := strings.Contains(tm.shown.String(), s)
		tm.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-tm.more:
		case <-deadline:
			t.Fatalf("the terminal never showed %q", s)
		}
	}
}

func (tm *terminal) String() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.shown.String()
}

// TestAskOnPty: a secret is read with echo off (and echo is back on
// afterwards); an answer that may be shown is echoed.
func TestAskOnPty(t *testing.T) {
	tm := openPty(t)
	ans := make(chan string, 1)
	go func() {
		a, err := Ask(context.Background(), tm.slave, "Passphrase: ", false)
		if err != nil {
			t.Error(err)
		}
		ans <- a
	}()
	tm.waitShown(t, "Passphrase: ") // echo is off before the question is shown
	io.WriteString(tm.master, "s3cret\n")
	if a := <-ans; a != "s3cret" {
		t.Fatalf("answer %q", a)
	}
	if on, err := ptytest.Echo(tm.slave); err != nil || !on {
		t.Fatalf("echo left off after the answer (%v)", err)
	}
	go func() {
		a, _ := Ask(context.Background(), tm.slave, "Code: ", true)
		ans <- a
	}()
	tm.waitShown(t, "Code: ")
	io.WriteString(tm.master, "1234\n")
	if a := <-ans; a != "1234" {
		t.Fatalf("answer %q", a)
	}
	tm.waitShown(t, "Code: 1234")
	if s := tm.String(); strings.Contains(s, "s3cret") {
		t.Fatalf("the secret was echoed: %q", s)
	}
}

// TestAskCancelled: when the context ends, Ask returns at once with echo
// restored, and a line typed afterwards is left for whoever reads next
// (not taken by the abandoned question, as a sudo password would be).
func TestAskCancelled(t *testing.T) {
	tm := openPty(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Ask(ctx, tm.slave, "Passphrase: ", false)
		errc <- err
	}()
	tm.waitShown(t, "Passphrase: ")
	cancel()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ask did not return when its context ended")
	}
	if on, err := ptytest.Echo(tm.slave); err != nil || !on {
		t.Fatalf("echo left off after a cancelled question (%v)", err)
	}
	tm.slave.SetReadDeadline(time.Time{})
	io.WriteString(tm.master, "next line\n")
	line, err := bufio.NewReader(tm.slave).ReadString('\n')
	if err != nil || line != "next line\n" {
		t.Fatalf("the line typed after the cancel: %q, %v", line, err)
	}
}
