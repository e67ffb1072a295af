package loom_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/sshdtest"
)

// TestSSHDProxyCommandDial: a host whose ssh_config reaches it through a
// ProxyCommand is dialled through it. Before, Dial refused every
// ProxyCommand ("not supported by Loom").
func TestSSHDProxyCommandDial(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	marker := filepath.Join(dir, "ran")
	s.WriteSSHConfig(cfg, "target")
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`  ProxyCommand sh -c 'echo %n > ` + marker + `; exec bash -c "exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3"'` + "\n")
	f.Close()
	d := &loom.Dialer{ConfigFile: cfg, AgentSocket: "/nonexistent"}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Dial(ctx, "target")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, _ := os.ReadFile(marker); strings.TrimSpace(string(b)) != "target" {
		t.Errorf("ProxyCommand did not run (marker %q)", b)
	}
}
