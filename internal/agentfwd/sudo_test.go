package agentfwd

import (
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/sshdtest"
)

// TestForwardUnderSudo checks what docs/agent-forwarding.md says about sudo:
// sudo drops SSH_AUTH_SOCK unless told to keep it; root can then use the
// forwarded socket; another user can once the socket and its directory let
// it (the doc uses setfacl; chmod stands in for it here, as setfacl may not
// be installed): sshd does not check who connects.
func TestForwardUnderSudo(t *testing.T) {
	if ok, why := sshdtest.CanSudo(); !ok {
		t.Skip(why)
	}
	host := sshdtest.Start(t, sshdtest.Options{AgentForwarding: true})
	key := newKey(t, "deploy")
	f := startFakeAgent(t, keyring(t, key))
	up := NewUpstream(f.path, 2)
	defer up.Close()
	sess := forwardedSession(t, host, New(up, "host", Policy{}, nil))
	sess.Stdin = strings.NewReader(strings.Repeat(host.Password+"\n", 4))
	// Everything on stdout (2>&1): stdout and stderr arrive on two
	// streams of the channel, in no fixed order between them.
	script := `s() { sudo -S -p '' "$@" 2>&1; }
s -k ssh-add -l; echo plain=$?
s --preserve-env=SSH_AUTH_SOCK ssh-add -l; echo root=$?
s --preserve-env=SSH_AUTH_SOCK -u nobody ssh-add -l; echo nobody-before=$?
chmod o+x "$(dirname "$SSH_AUTH_SOCK")" && chmod o+rw "$SSH_AUTH_SOCK"
s --preserve-env=SSH_AUTH_SOCK -u nobody ssh-add -l; echo nobody-after=$?
`
	outb, err := sess.CombinedOutput(script)
	out := string(outb)
	t.Logf("on the host:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Could not open a connection to your authentication agent.\nplain=2", // sudo reset the environment
		key.fp + " deploy (ED25519)\nroot=0",                                 // root uses the socket as it is
		"Permission denied\nnobody-before=2",                                 // another user may not
		key.fp + " deploy (ED25519)\nnobody-after=0",                         // until allowed: sshd checks no uid
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
