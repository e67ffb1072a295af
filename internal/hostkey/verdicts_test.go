package hostkey

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

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
	e := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newECDSA(t).PublicKey())))
	hp := "[127.0.0.1]:" + port
	cases := []struct {
		name, alias, file string
		strict            string // StrictHostKeyChecking; "" for yes
	}{
		{"literal port line beats a port-22 wildcard", "", hp + " " + x + "\n127.0.0.* " + k + "\n", ""},
		{"wildcard port-22 line alone", "", "127.0.0.* " + k + "\n", ""},
		{"port-less line for another port", "", "127.0.0.1 " + k + "\n", ""},
		{"any-port pattern", "", "[127.0.0.1]:* " + k + "\n", ""},
		{"port pattern with ?", "", "[127.0.0.1]:" + port[:len(port)-1] + "? " + k + "\n", ""},
		{"star matches the bracketed name", "", hp + " " + x + "\n* " + k + "\n", ""},
		{"other key only", "", hp + " " + x + "\n", ""},
		{"pattern case", "webhost", "WEBHOST " + k + "\n", ""},
		{"pattern case, wildcard", "webhost", "WEB* " + k + "\n", ""},
		{"negated pattern", "webhost", "web*,!webhost " + k + "\n", ""},
		{"malformed line skipped", "", "this is not a key line\n" + hp + " ssh-ed25519 AAAAnot-base64!\n" + hp + " " + k + "\n", ""},
		{"@revoked other key", "", "@revoked * " + x + "\n" + hp + " " + k + "\n", ""},
		{"@revoked elsewhere", "", "@revoked 10.9.9.9 " + k + "\n" + hp + " " + k + "\n", ""},
		{"@revoked here", "", "@revoked " + hp + " " + k + "\n" + hp + " " + k + "\n", ""},
		{"@revoked by wildcard", "", "@revoked 127.* " + k + "\n" + hp + " " + k + "\n", ""},
		{"@revoked by star", "", "@revoked * " + k + "\n" + hp + " " + k + "\n", ""},
		{"@revoked for another port", "", "@revoked [127.0.0.1]:1 " + k + "\n" + hp + " " + k + "\n", ""},
		{"@revoked, port-less look-up", "", "@revoked 127.0.0.1 " + k + "\n127.0.0.1 " + k + "\n", ""},
		{"@revoked, port-less look-up, accept-new", "", "@revoked 127.0.0.1 " + k + "\n127.0.0.1 " + k + "\n", "accept-new"},
		{"unknown, accept-new", "", "127.0.0.2 " + k + "\n", "accept-new"},
		{"other key type only, accept-new", "", hp + " " + e + "\n", "accept-new"},
		{"port-less line with another key, accept-new", "", "127.0.0.1 " + x + "\n", "accept-new"},
		{"port-less line with another key", "", "127.0.0.1 " + x + "\n", ""},
		{"port-less line, port line of another type", "", hp + " " + e + "\n127.0.0.1 " + k + "\n", ""},
		{"port-less line, port line with another key", "", hp + " " + x + "\n127.0.0.1 " + k + "\n", ""},
		{"[host]:22 is not the port-less name", "", "[127.0.0.1]:22 " + k + "\n", ""},
		{"host:port without brackets", "", "127.0.0.1:" + port + " " + k + "\n", ""},
		{"other key type only", "", hp + " " + e + "\n", ""},
		{"trailing star matches nothing", "webhost", "webhost* " + k + "\n", ""},
		{"hashed port line", "", xknownhosts.HashHostname(hp) + " " + k + "\n", ""},
		{"hashed port-less line", "", xknownhosts.HashHostname("127.0.0.1") + " " + k + "\n", ""},
		{"hashed name in capitals", "webhost", xknownhosts.HashHostname("WEBHOST") + " " + k + "\n", ""},
		{"negated port", "", "[127.0.0.1]:*,!" + hp + " " + k + "\n", ""},
		{"negation wins over a literal line", "", hp + "," + "!127.0.0.? " + k + "\n", ""},
		{"two lines, second matches", "", hp + " " + x + "\n" + hp + " " + k + "\n", ""},
		{"wildcard line with another key, literal line matches", "", "* " + x + "\n" + hp + " " + k + "\n", ""},
		{"malformed @revoked line skipped", "", "@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n" + hp + " " + k + "\n", ""},
		{"unknown marker skipped", "", "@revokd * " + k + "\n" + hp + " " + k + "\n", ""},
		{"stray bracket is a name", "", "[127.0.0.1 " + k + "\n" + hp + " " + k + "\n", ""},
	}
	// Differences found and not yet fixed: each is logged, and the test
	// fails on any other difference, or when one of these is fixed without
	// being taken off the list.
	open := map[string]bool{}
	// Differences kept on purpose (docs/ssh_config.md): a key revoked for
	// the name without the port is refused as revoked; ssh refuses it only
	// as unknown, so that StrictHostKeyChecking=accept-new records it.
	intended := map[string]string{
		"@revoked, port-less look-up, accept-new": "revoked",
	}
	agree := 0
	for i, tc := range cases {
		kh := filepath.Join(dir, fmt.Sprintf("kh%d", i))
		loomKH := kh + ".loom" // ssh writes keys it accepts under accept-new
		for _, f := range []string{kh, loomKH} {
			if err := os.WriteFile(f, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		args := []string{"-F", "none", "-o", "UserKnownHostsFile=" + kh, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=" + cmp.Or(tc.strict, "yes"), "-o", "BatchMode=yes", "-o", "CheckHostIP=no",
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

		db, err := Open([]string{loomKH}, nil)
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
		pol, err := ParsePolicy(cmp.Or(tc.strict, "yes"))
		if err != nil {
			t.Fatal(err)
		}
		cb, _ := db.Callback(name, p, pol, nil)
		got := verdictOf(cb(name, nil, s.HostKey))
		if w, ok := intended[tc.name]; ok {
			if got != w || want == w {
				t.Errorf("%s: Loom %s, OpenSSH %s; the intended difference is Loom %s", tc.name, got, want, w)
			}
			t.Logf("intended difference: %s: Loom %s, OpenSSH %s", tc.name, got, want)
			continue
		}
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
	t.Logf("known_hosts verdicts: Loom and OpenSSH agree on %d of %d (%d differences intended)", agree, len(cases), len(intended))
}
