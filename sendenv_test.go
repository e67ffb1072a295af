package loom_test

import (
	"os"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/sshdtest"
)

// ssh_config's SendEnv and SetEnv are sent with each command as ssh sends
// them, and OpenSSH's sshd takes those its AcceptEnv allows: a variable
// a SendEnv pattern names, not one "-PATTERN" took back (it removes the
// patterns listed before that match it, as in ssh), and SetEnv's values. Before, both were ignored (said with -v only).
func TestSSHDSendEnvSetEnv(t *testing.T) {
	_, d := target(t, sshdtest.Options{Extra: "AcceptEnv LOOM_SE_* GREETING\n"})
	f, _ := os.OpenFile(d.ConfigFile, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("  SendEnv LOOM_SE_A LOOM_SE_SECRET NOT_ACCEPTED\n  SendEnv -LOOM_SE_S*\n  SetEnv GREETING=\"hello there\"\n")
	f.Close()
	t.Setenv("LOOM_SE_A", "from here")
	t.Setenv("LOOM_SE_SECRET", "kept back")
	t.Setenv("NOT_ACCEPTED", "refused by sshd")
	c := dial(t, d, "target")
	want := "from here|unset|unset|hello there\n"
	for _, pty := range []bool{false, true} {
		cc := c
		if pty {
			cc = c.Pty()
		}
		r := cc.Shell(`echo "$LOOM_SE_A|${LOOM_SE_SECRET:-unset}|${NOT_ACCEPTED:-unset}|$GREETING"`)
		got := r.Stdout
		if pty {
			got = strings.ReplaceAll(got, "\r\n", "\n")
		}
		if r.Err != nil || got != want {
			t.Errorf("pty %v: %q, %v; want %q", pty, r.Stdout, r.Err, want)
		}
	}
}
