package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshconfig"
	"github.com/loomssh/loom/internal/sshdtest"
)

// resolveConfig resolves alias from ssh_config text.
func resolveConfig(t *testing.T, config, alias string) *sshconfig.Host {
	t.Helper()
	cfg, err := sshconfig.Parse(strings.NewReader(config), "test")
	if err != nil {
		t.Fatal(err)
	}
	h, err := cfg.Resolve(alias, sshconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sshdConfig is an ssh_config block for s, with extra lines.
func sshdConfig(s *sshdtest.Server, kh string, extra ...string) string {
	return fmt.Sprintf("Host target\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n  %s\n",
		s.Host, s.Port, s.User, s.ClientKey, kh, strings.Join(extra, "\n  "))
}

// TestSSHDRevokedHostKeys: ssh_config's RevokedHostKeys refuses a host
// whose key is listed, even when known_hosts trusts it and even with
// StrictHostKeyChecking no; a file that cannot be read refuses every host,
// as ssh(1) does.
func TestSSHDRevokedHostKeys(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	revoked := filepath.Join(dir, "revoked")
	os.WriteFile(revoked, []byte("# revoked\n"+string(ssh.MarshalAuthorizedKey(s.HostKey))), 0o600)
	notListed := filepath.Join(dir, "not-listed")
	os.WriteFile(notListed, []byte("# nothing revoked\n"), 0o600)
	for _, tt := range []struct {
		name, extra, want string // want "": connects
	}{
		{"listed", "RevokedHostKeys " + revoked, "is REVOKED in " + revoked + ":2"},
		{"listed, checking off", "RevokedHostKeys " + revoked + "\n  StrictHostKeyChecking no", "is REVOKED in " + revoked + ":2"},
		{"missing file", "RevokedHostKeys " + filepath.Join(dir, "missing"), "cannot read RevokedHostKeys file " + filepath.Join(dir, "missing")},
		{"not listed", "RevokedHostKeys " + notListed, ""},
		{"none", "RevokedHostKeys none", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := resolveConfig(t, sshdConfig(s, s.KnownHosts, tt.extra), "target")
			d := &Dialer{}
			defer d.Close()
			c, err := d.Dial(context.Background(), h)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("connected; want %q", tt.want)
			}
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Reason != HostKey || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want a one-line host key error with %q", err, tt.want)
			}
		})
	}
}

// TestSSHDHashKnownHosts: with HashKnownHosts yes, the key accept-new
// records is written under a hashed name, which OpenSSH's ssh accepts and
// ssh-keygen -F finds.
func TestSSHDHashKnownHosts(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	h := resolveConfig(t, sshdConfig(s, kh, "StrictHostKeyChecking accept-new", "HashKnownHosts yes"), "target")
	var warnings []string
	d := &Dialer{Warnf: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }}
	defer d.Close()
	c, err := d.Dial(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	data, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	name := fmt.Sprintf("[%s]:%d", s.Host, s.Port)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "|1|") || strings.Contains(string(data), s.Host) {
		t.Fatalf("known_hosts holds %q, want one hashed line", data)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "added host key") {
		t.Errorf("warnings %q", warnings)
	}
	// Loom reads it back: a strict second run connects.
	h2 := resolveConfig(t, sshdConfig(s, kh, "StrictHostKeyChecking yes"), "target")
	d2 := &Dialer{}
	defer d2.Close()
	c, err = d2.Dial(context.Background(), h2)
	if err != nil {
		t.Fatalf("strict dial with the hashed line: %v", err)
	}
	c.Close()

	if keygen, err := exec.LookPath("ssh-keygen"); err == nil {
		out, err := exec.Command(keygen, "-F", name, "-f", kh).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "found: line 1") {
			t.Errorf("ssh-keygen -F %s: %v\n%s", name, err, out)
		}
	}
	if sshBin, err := exec.LookPath("ssh"); err == nil {
		out, err := exec.Command(sshBin, "-F", "/dev/null", "-p", fmt.Sprint(s.Port), "-l", s.User,
			"-i", s.ClientKey, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
			s.Host, "echo ok").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("ssh with Loom's hashed line: %v\n%s", err, out)
		}
	}
}
