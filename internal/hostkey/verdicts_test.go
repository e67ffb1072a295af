package hostkey

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshdtest"
)

// verdict names what a client decided about a host key.
func verdictOf(err error) string {
	var e *Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e) && e.Kind == Changed:
		return "changed"
	case errors.As(err, &e) && e.Kind == Revoked:
		return "revoked"
	case errors.As(err, &e) && e.Kind == Unknown:
		return "unknown"
	}
	return "error: " + err.Error()
}

// sshVerdict reads what OpenSSH's ssh decided from its exit and stderr.
func sshVerdict(err error, stderr string) string {
	switch {
	case err == nil:
		return "ok"
	case strings.Contains(stderr, "REVOKED"):
		return "revoked"
	case strings.Contains(stderr, "HAS CHANGED"), strings.Contains(stderr, "differs from the key for the IP"):
		return "changed"
	case strings.Contains(stderr, "No ") && strings.Contains(stderr, "host key is known"),
		strings.Contains(stderr, "Host key verification failed"):
		return "unknown"
	}
	return "error: " + stderr
}

// TestKnownHostsVerdictsAgainstOpenSSH gives Loom's known_hosts check and
// OpenSSH's ssh, connecting to a real sshd on a port other than 22, the
// same known_hosts files, and wants the same verdict: literal [host]:port
// lines against wildcard lines, port patterns, case, malformed lines and
// @revoked.
func TestKnownHostsVerdictsAgainstOpenSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH client not installed")
	}
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	port := strconv.Itoa(s.Port)
	k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
	x := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newEd25519(t).PublicKey())))
	hp := "[127.0.0.1]:" + port
	cases := []struct {
		name, alias, file string
	}{
		{"literal port line beats a port-22 wildcard", "", hp + " " + x + "\n127.0.0.* " + k + "\n"},
		{"wildcard port-22 line alone", "", "127.0.0.* " + k + "\n"},
		{"port-less line for another port", "", "127.0.0.1 " + k + "\n"},
		{"any-port pattern", "", "[127.0.0.1]:* " + k + "\n"},
		{"port pattern with ?", "", "[127.0.0.1]:" + port[:len(port)-1] + "? " + k + "\n"},
		{"star matches the bracketed name", "", hp + " " + x + "\n* " + k + "\n"},
		{"other key only", "", hp + " " + x + "\n"},
		{"pattern case", "webhost", "WEBHOST " + k + "\n"},
		{"pattern case, wildcard", "webhost", "WEB* " + k + "\n"},
		{"negated pattern", "webhost", "web*,!webhost " + k + "\n"},
		{"malformed line skipped", "", "this is not a key line\n" + hp + " ssh-ed25519 AAAAnot-base64!\n" + hp + " " + k + "\n"},
		{"@revoked other key", "", "@revoked * " + x + "\n" + hp + " " + k + "\n"},
		{"@revoked elsewhere", "", "@revoked 10.9.9.9 " + k + "\n" + hp + " " + k + "\n"},
		{"@revoked here", "", "@revoked " + hp + " " + k + "\n" + hp + " " + k + "\n"},
		{"@revoked by wildcard", "", "@revoked 127.* " + k + "\n" + hp + " " + k + "\n"},
	}
	// Differences found and not yet fixed (issue 14): each is logged, and
	// the test fails on any other difference, or when one of these is
	// fixed without being taken off the list.
	open := map[string]bool{
		"literal port line beats a port-22 wildcard": true, // security: Loom accepts the wildcard line's key
		"port-less line for another port":            true,
		"any-port pattern":                           true,
		"port pattern with ?":                        true,
		"pattern case":                               true,
		"pattern case, wildcard":                     true,
		"malformed line skipped":                     true,
		"@revoked elsewhere":                         true,
		"@revoked by wildcard":                       true,
	}
	agree := 0
	for i, tc := range cases {
		kh := filepath.Join(dir, fmt.Sprintf("kh%d", i))
		os.WriteFile(kh, []byte(tc.file), 0o600)
		args := []string{"-F", "none", "-o", "UserKnownHostsFile=" + kh, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "CheckHostIP=no",
			"-o", "HostKeyAlgorithms=ssh-ed25519", "-o", "IdentitiesOnly=yes", "-i", s.ClientKey,
			"-o", "IdentityAgent=none", "-p", port, "-l", s.User}
		if tc.alias != "" {
			args = append(args, "-o", "HostKeyAlias="+tc.alias)
		}
		args = append(args, "127.0.0.1", "true")
		var stderr strings.Builder
		cmd := exec.Command(sshBin, args...)
		cmd.Stderr = &stderr
		want := sshVerdict(cmd.Run(), stderr.String())

		db, err := Open([]string{kh}, nil)
		if err != nil {
			if open[tc.name] {
				t.Logf("open difference: %s: Loom refuses the file (%v), OpenSSH %s", tc.name, err, want)
			} else {
				t.Errorf("%s: Open: %v", tc.name, err)
			}
			continue
		}
		name, p := "127.0.0.1", s.Port
		if tc.alias != "" {
			name, p = tc.alias, 22
		}
		cb, _ := db.Callback(name, p, Strict, nil)
		got := verdictOf(cb(name, nil, s.HostKey))
		switch {
		case got == want && open[tc.name]:
			agree++
			t.Errorf("%s: now agrees with OpenSSH (%s): take it off the open list", tc.name, got)
		case got == want:
			agree++
		case open[tc.name]:
			t.Logf("open difference: %s: Loom %s, OpenSSH %s", tc.name, got, want)
		default:
			t.Errorf("%s: Loom %s, OpenSSH %s\n%s", tc.name, got, want, tc.file)
		}
	}
	t.Logf("known_hosts verdicts: Loom and OpenSSH agree on %d of %d", agree, len(cases))
}
