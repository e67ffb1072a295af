package sshconfig

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestGeneratedConfigsAgainstSSHG resolves seeded random configurations
// (Host and Match blocks, negations, the "=" forms, first-obtained-wins,
// IdentityFile accumulating, ProxyJump against ProxyCommand) for a set of
// targets, and compares each with `ssh -G` keyword by keyword. Every
// difference fails the test; the agreement figure is logged.
// LOOM_SSHG_CONFIGS sets how many configurations (default 120).
func TestGeneratedConfigsAgainstSSHG(t *testing.T) {
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("ssh not installed: skipping the comparison with ssh -G")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	u, err := user.Current()
	if err != nil {
		t.Skip("no current user:", err)
	}
	hostname, _ := os.Hostname()
	n := 120
	if v := os.Getenv("LOOM_SSHG_CONFIGS"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal("LOOM_SSHG_CONFIGS:", err)
		}
	}
	targets := []string{"web1", "web2", "WEB1", "db1", "x.example.com", "bad.example.com", "10.0.0.5", "u@web1", "bastion"}
	dir := t.TempDir()
	var resolutions, keywords, loops, intended int
	differ := map[string]int{} // keyword → resolutions where it differs
	for seed := range uint64(n) {
		cfg := genConfig(rand.New(rand.NewPCG(seed, 14)), u.Username)
		file := filepath.Join(dir, fmt.Sprintf("config%d", seed))
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(u.HomeDir, File{Path: file})
		if err != nil {
			t.Errorf("seed %d: Load: %v\n%s", seed, err, cfg)
			continue
		}
		for _, tg := range targets {
			var stderr strings.Builder
			cmd := exec.Command(sshPath, "-G", "-F", file, tg)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil && strings.Contains(stderr.String(), "jumphost loop") {
				// ssh -G refuses a host that jumps through itself; Loom
				// resolves it and refuses it when connecting (the
				// transport's loop check).
				loops++
				continue
			}
			if err != nil {
				t.Fatalf("seed %d: ssh -G %s: %v: %s\n%s", seed, tg, err, stderr.String(), cfg)
			}
			h, err := c.Resolve(tg, Options{LocalUser: u.Username, HomeDir: u.HomeDir, LocalHostname: hostname, UID: u.Uid})
			if err != nil {
				t.Errorf("seed %d, %s: Resolve: %v (ssh -G resolves it)\n%s", seed, tg, err, cfg)
				continue
			}
			resolutions++
			k, diffs := sshGDiffs(cfg, string(out), h, u.HomeDir)
			keywords += k
			for _, d := range diffs {
				if h.BatchMode && d == `serveraliveinterval: Loom "0", ssh -G "300"` {
					// Intended (docs/ssh_config.md): Debian's ssh turns on
					// a 300 s keepalive with BatchMode; Loom keeps its own
					// default (15 s) whatever BatchMode says.
					intended++
					continue
				}
				name, _, _ := strings.Cut(d, ":")
				differ[name]++
				if differ[name] <= 3 {
					t.Errorf("seed %d, %s: %s\n%s", seed, tg, d, cfg)
				}
			}
		}
	}
	total := 0
	var names []string
	for k, v := range differ {
		total += v
		names = append(names, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(names)
	t.Logf("ssh -G: %d generated configurations, %d resolutions compared (%d more are jump loops ssh -G refuses), %d keyword comparisons, %d differ as intended (BatchMode keepalive), %d otherwise %v",
		n, resolutions, loops, keywords, intended, total, names)
}

// genConfig writes a random ssh_config from a small vocabulary that both
// ssh and Loom read, for targets like TestGeneratedConfigsAgainstSSHG's.
func genConfig(r *rand.Rand, localUser string) string {
	pick := func(l ...string) string { return l[r.IntN(len(l))] }
	names := []string{"web1", "web2", "web*", "db?", "*.example.com", "10.0.0.*", "bastion", "*", "x.example.com", "WEB1"}
	hostPatterns := func() string {
		var ps []string
		for range 1 + r.IntN(3) {
			p := pick(names...)
			if r.IntN(5) == 0 {
				p = "!" + p
			}
			ps = append(ps, p)
		}
		return strings.Join(ps, pick(" ", ","))
	}
	criterion := func() string {
		neg := ""
		if r.IntN(5) == 0 {
			neg = "!"
		}
		eq := pick(" ", "=")
		switch r.IntN(9) {
		case 0:
			return neg + "all"
		case 1:
			return neg + "user" + eq + pick("u", "root", "deploy,u", localUser)
		case 2:
			return neg + "localuser" + eq + pick(localUser, "nobody")
		case 3:
			return neg + "originalhost" + eq + strings.ReplaceAll(hostPatterns(), " ", ",")
		case 4:
			return neg + "final"
		default:
			return neg + "host" + eq + strings.ReplaceAll(hostPatterns(), " ", ",")
		}
	}
	directive := func() string {
		switch r.IntN(23) {
		case 21:
			return "ControlPath " + pick("~/.ssh/cm-%C", "/tmp/%r@%h:%p", "none", "/tmp/cm-%i-%L-%l-%n-%u-%%-${HOME}", "~/.ssh/%C-%d-%k", "'/tmp/a b/%C'")
		case 0:
			return "Port " + strconv.Itoa(1+r.IntN(65535))
		case 1:
			return "User " + pick("alice", "bob", "deploy", "Mixed")
		case 2:
			return "HostName " + pick("h1.example.com", "10.0.0.9", "%h.internal", "Real.Example.COM", "bastion")
		case 3:
			return "ConnectTimeout " + pick("5", "30", "1m", "1m30s", "0")
		case 4:
			return "ServerAliveInterval " + strconv.Itoa(r.IntN(120))
		case 5:
			return "ServerAliveCountMax " + strconv.Itoa(r.IntN(10))
		case 6:
			return "ConnectionAttempts " + strconv.Itoa(1+r.IntN(5))
		case 7:
			return "NumberOfPasswordPrompts " + strconv.Itoa(r.IntN(5))
		case 8:
			return pick("ForwardAgent", "IdentitiesOnly", "BatchMode", "PasswordAuthentication",
				"KbdInteractiveAuthentication", "PubkeyAuthentication", "HashKnownHosts") + " " + pick("yes", "no")
		case 9:
			return "StrictHostKeyChecking " + pick("yes", "no", "accept-new", "ask")
		case 10:
			return "ProxyJump " + pick("none", "bastion", "u@j1:2222", "j1,j2")
		case 11:
			return "ProxyCommand " + pick("none", "nc %h %p", "ssh -W %h:%p bastion")
		case 12:
			return "HostKeyAlias " + pick("alias1", "Alias2")
		case 13:
			return "AddressFamily " + pick("any", "inet", "inet6")
		case 14:
			return "IdentityFile ~/.ssh/key" + strconv.Itoa(r.IntN(4))
		case 15:
			return "UserKnownHostsFile " + pick("~/.ssh/kh1", "~/.ssh/kh1 /tmp/kh2", "/tmp/kh_%h_%p")
		case 16:
			return "GlobalKnownHostsFile " + pick("/etc/g1", "/g1 /g2")
		case 17:
			return "PreferredAuthentications " + pick("publickey", "password,publickey", "keyboard-interactive")
		case 18:
			return "HostKeyAlgorithms " + pick("ssh-ed25519", "ssh-ed25519,rsa-sha2-512", "ecdsa-sha2-nistp256")
		case 19:
			return "SendEnv " + pick("LANG LC_*", "-LC_*", "DEPLOY_?", "-*", "GIT_* -GIT_DIR", "LC_ALL")
		case 20:
			return "SetEnv " + pick("A=1", "A=2 B=x", `C="two words"`, "A=3 A=4")
		}
		return "Port=" + strconv.Itoa(1+r.IntN(65535))
	}
	var b strings.Builder
	for range r.IntN(3) {
		b.WriteString(directive() + "\n") // before any Host line: every host
	}
	for range 1 + r.IntN(6) {
		if r.IntN(3) == 0 {
			var cs []string
			for range 1 + r.IntN(2) {
				cs = append(cs, criterion())
			}
			// "all" stands alone in ssh.
			if strings.Contains(strings.Join(cs, " "), "all") {
				cs = []string{pick("all", "final all", "canonical all")}
			}
			b.WriteString("Match " + strings.Join(cs, " ") + "\n")
		} else {
			b.WriteString("Host " + hostPatterns() + "\n")
		}
		for range 1 + r.IntN(4) {
			b.WriteString("  " + directive() + "\n")
		}
	}
	return b.String()
}
