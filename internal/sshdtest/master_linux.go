package sshdtest

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/sshmux"
)

// Master is a real OpenSSH ControlMaster (`ssh -M -S Socket -N`) connected
// to a Server, as a user's own `ssh` with ControlMaster would start one.
type Master struct {
	// Socket is the master's control socket.
	Socket string
	// PID is the ssh process.
	PID int

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // its exit, once done is closed
}

// StartMaster starts `ssh -F config -M -S socket -N alias` as a child of
// the test, and returns once the master answers an alive check on
// socket. config must reach the Server as alias (WriteSSHConfig). The
// master is killed at cleanup (or by Kill).
func (s *Server) StartMaster(t testing.TB, config, alias, socket string) *Master {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ssh", "-F", config, "-M", "-S", socket, "-o", "ControlPersist=no", "-N", alias)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("sshdtest: starting the OpenSSH master: %v", err)
	}
	m := &Master{Socket: socket, PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go func() { m.err = cmd.Wait(); close(m.done) }()
	t.Cleanup(m.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		// The event waited for: the master answers on its socket.
		if c, err := sshmux.Dial(ctx, socket); err == nil {
			c.Close()
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("sshdtest: the OpenSSH master exited before listening (%v): %s", m.err, stderr.String())
		case <-ctx.Done():
			m.Kill() // then its stderr is complete
			t.Fatalf("sshdtest: the OpenSSH master did not answer on %s: %s", socket, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Kill kills the master (SIGKILL: its socket stays behind, as after a
// crash) and waits for it to exit.
func (m *Master) Kill() {
	m.cmd.Process.Kill()
	<-m.done
}
