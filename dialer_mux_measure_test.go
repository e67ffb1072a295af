//go:build linux

package loom_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// TestMeasureMuxLatency measures, through a 50 ms round trip
// (bench/delayproxy), a one-command run and a further command on the
// Conn, directly and through an OpenSSH master, and ssh -S itself. It is
// a measurement, not a check: LOOM_MEASURE=1 go test -run
// TestMeasureMuxLatency -v .
func TestMeasureMuxLatency(t *testing.T) {
	if os.Getenv("LOOM_MEASURE") == "" {
		t.Skip("a measurement: LOOM_MEASURE=1 runs it")
	}
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	pport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1\n"), 0o600)
	bin := filepath.Join(dir, "delayproxy")
	if out, err := exec.Command("go", "build", "-o", bin, "./bench/delayproxy").CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	px := exec.Command(bin, "-h", hosts, "-port", fmt.Sprint(pport), "-to", fmt.Sprint(s.Port), "-delay", "25ms")
	out, _ := px.StdoutPipe()
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Process.Kill(); px.Wait() })
	bufio.NewReader(out).ReadString('\n')
	f, _ := os.OpenFile(s.KnownHosts, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(s.KnownHostsLine(fmt.Sprintf("127.0.0.1:%d", pport)) + "\n")
	f.Close()
	base := fmt.Sprintf("Host far\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  BatchMode yes\n", pport, s.User, s.ClientKey, s.KnownHosts)
	direct := filepath.Join(dir, "direct_config")
	os.WriteFile(direct, []byte(base), 0o600)
	mux := filepath.Join(dir, "mux_config")
	sock := filepath.Join(dir, "m.sock")
	os.WriteFile(mux, []byte(base+"  ControlPath "+sock+"\n"), 0o600)
	s.StartMaster(t, mux, "far", sock)

	measure := func(cfg string) (first, warm time.Duration) {
		n := 10
		var total time.Duration
		for i := 0; i < n; i++ {
			d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
			st := time.Now()
			c, err := d.Dial(context.Background(), "far")
			if err != nil {
				t.Fatal(err)
			}
			if r := c.Run("true"); r.Err != nil {
				t.Fatal(r.Err)
			}
			total += time.Since(st)
			if i == n-1 {
				var w time.Duration
				for j := 0; j < n; j++ {
					st := time.Now()
					c.Run("true")
					w += time.Since(st)
				}
				warm = w / time.Duration(n)
			}
			c.Close()
			d.Close()
		}
		return total / time.Duration(n), warm
	}
	df, dw := measure(direct)
	mf, mw := measure(mux)
	ssh := func(args ...string) time.Duration {
		var tot time.Duration
		for i := 0; i < 10; i++ {
			st := time.Now()
			if out, err := exec.Command("ssh", args...).CombinedOutput(); err != nil {
				t.Fatal(err, string(out))
			}
			tot += time.Since(st)
		}
		return tot / 10
	}
	sm := ssh("-F", mux, "far", "true")
	t.Logf("50 ms RTT: run (dial+true) direct %v, through the OpenSSH master %v; a further command on the Conn: direct %v, master %v; ssh -S (OpenSSH's own mux client) %v",
		df.Round(time.Millisecond), mf.Round(time.Millisecond), dw.Round(time.Millisecond), mw.Round(time.Millisecond), sm.Round(time.Millisecond))
}
