package sshconfig

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCompatSSHG compares Resolve with `ssh -G` from the OpenSSH client
// installed on this machine, on configurations where Loom means to behave
// exactly like ssh(1). It is skipped when ssh is not installed.
func TestCompatSSHG(t *testing.T) {
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
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inc/a.conf": "Host inca\n  Port 1001\n  User incuser\n",
		"inc/b.conf": "Host *\n  ServerAliveCountMax 9\n",
		"block.conf": "Port 1002\nHost db\n  User dbuser\n",
	})
	configs := []string{
		"",
		`
Host web
  HostName Web.Example.COM
  Port 2222
  User deploy
  IdentityFile ~/.ssh/web_key
  IdentityFile ~/.ssh/second
Host !bad.example.com *.example.com
  User corp
  ConnectTimeout 1m30s
Host *
  Port 2200
  ServerAliveInterval 15
  ServerAliveCountMax 5
  UserKnownHostsFile ~/.ssh/kh_%h_%p_%r /tmp/%n-%C-%u-%l-%L-%i-%d-%k
  StrictHostKeyChecking accept-new
`,
		`
Host web
  HostName 10.0.0.5
Match host 10.0.0.*
  User viahost
Match originalhost web
  Port 2300
Match host web
  IdentityFile ~/never
Match user deploy,admin host *.prod
  Port 2400
Match !user root localuser ` + u.Username + `
  ConnectionAttempts 3
Match all
  NumberOfPasswordPrompts 1
`,
		`
Host web
  HostName 10.1.1.1
Match final host 10.1.1.1
  User fin
Match canonical
  IdentityFile ~/.ssh/canon
Host 10.1.1.1
  Port 7
Match !final
  IdentityFile ~/.ssh/first
`,
		`
Host j1
  ProxyJump a,u@b:2222,ssh://c@d:3
Host j2
  ProxyCommand nc %h %p
  ProxyJump x
Host j3
  ProxyJump none
  ProxyCommand nc
Host j4
  ProxyCommand none
  ProxyJump x
Host *
  ProxyJump bastion
`,
		`
Include ` + dir + `/inc/*.conf
Host web
  Include ` + dir + `/block.conf
Host *
  ForwardAgent yes
  HostKeyAlias Some-Alias
  IdentitiesOnly yes
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  PubkeyAuthentication yes
  HashKnownHosts yes
  AddressFamily inet
  PreferredAuthentications publickey,password
  HostKeyAlgorithms ssh-ed25519,rsa-sha2-512
`,
		"Port=2201\nUser = \"a b\"\nHostName \"x\"   # comment\nGlobalKnownHostsFile /g1 /g2\n",
		// The "=" form of Match criteria.
		"Match host=web,db user= deploy\n  Port 2345\nMatch originalhost=web\n  User eq\n",
		// "Match !final" asks for the final pass too.
		"Host web\n  HostName realweb\nMatch !final\n  ConnectionAttempts 4\nHost realweb\n  Port 77\n",
		// ControlPath: "~", every token it takes (%C is a hash), ${VAR};
		// with a ProxyJump %C also hashes the jump host from OpenSSH 9.6.
		"Host j*\n  ProxyJump u@Hop1:2222,hop2\nHost *\n  ControlPath ~/.ssh/cm-%%-%C-%h-%i-%L-%l-%n-%p-%r-%u-%d-%k-${HOME}\n",
		"Host web\n  ControlPath none\nHost *\n  ControlPath /tmp/%C\n",
		// Match exec, its tokens, and a command skipped after a failed criterion.
		"Match exec \"test %h = web\"\n  Port 2001\nMatch host nothere exec false\n  Port 2002\nMatch !exec \"test %n = db\"\n  User notdb\n",
	}
	targets := []struct {
		target string
		args   []string // extra ssh arguments, after the destination
		opts   func(*Options)
	}{
		{target: "web"},
		{target: "Web"},
		{target: "db"},
		{target: "good.example.com"},
		{target: "bad.example.com"},
		{target: "deploy@a.prod"},
		{target: "root@a.prod"},
		{target: "inca"},
		{target: "j1"}, {target: "j2"}, {target: "j3"}, {target: "j4"}, {target: "j5"},
		{target: "tuser@web", args: []string{"-l", "luser"}, opts: func(o *Options) { o.User = "luser" }},
		{target: "web", args: []string{"-p", "9", "-o", "User=ouser"}, opts: func(o *Options) { o.Port = 9; o.Set = []string{"User=ouser"} }},
		{target: "ssh://u@web:2022"},
		{target: "10.0.0.5"},
	}
	for ci, cfg := range configs {
		file := filepath.Join(dir, "config"+strconv.Itoa(ci))
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(u.HomeDir, File{Path: file})
		if err != nil {
			t.Fatalf("config %d: %v", ci, err)
		}
		for _, tg := range targets {
			args := append([]string{"-G", "-F", file, tg.target}, tg.args...)
			out, err := exec.Command(sshPath, args...).Output()
			if err != nil {
				t.Fatalf("ssh %q: %v", args, err)
			}
			o := Options{LocalUser: u.Username, HomeDir: u.HomeDir, LocalHostname: hostname, UID: u.Uid}
			if tg.opts != nil {
				tg.opts(&o)
			}
			h, err := c.Resolve(tg.target, o)
			if err != nil {
				t.Fatalf("config %d, %s: %v", ci, tg.target, err)
			}
			compareSSHG(t, "config "+strconv.Itoa(ci)+", ssh "+strings.Join(args[3:], " "), cfg, string(out), h, u.HomeDir)
		}
	}
}

// sshHashesJump reports whether the installed ssh hashes the jump host
// into %C (OpenSSH 9.6 and later).
var sshHashesJump = sync.OnceValue(func() bool {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(string(out), "OpenSSH_"), "%d.%d", &major, &minor); err != nil {
		return true
	}
	return major > 9 || major == 9 && minor >= 6
})

func compareSSHG(t *testing.T, what, cfg, out string, h *Host, home string) {
	t.Helper()
	_, diffs := sshGDiffs(cfg, out, h, home)
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

// sshGDiffs compares a resolved host with the output of ssh -G for it,
// keyword by keyword: it returns how many keywords it compared and one
// line for each that differs.
func sshGDiffs(cfg, out string, h *Host, home string) (checked int, diffs []string) {
	g := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, " ")
		g[k] = append(g[k], v)
	}
	one := func(k string) string {
		if len(g[k]) == 0 {
			return ""
		}
		return g[k][0]
	}
	yesno := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	check := func(name, ours, theirs string) {
		checked++
		if ours != theirs {
			diffs = append(diffs, fmt.Sprintf("%s: Loom %q, ssh -G %q", name, ours, theirs))
		}
	}
	check("user", h.User, one("user"))
	check("hostname", h.HostName, one("hostname"))
	check("port", strconv.Itoa(h.Port), one("port"))
	check("userknownhostsfile", strings.Join(h.UserKnownHostsFiles, " "), one("userknownhostsfile"))
	check("globalknownhostsfile", strings.Join(h.GlobalKnownHostsFiles, " "), one("globalknownhostsfile"))
	strict := map[string]string{"true": "yes", "ask": "yes", "false": "no", "accept-new": "accept-new"}[one("stricthostkeychecking")]
	check("stricthostkeychecking", h.StrictHostKeyChecking, strict)
	ct := one("connecttimeout")
	if ct == "none" {
		ct = "0"
	}
	check("connecttimeout", secs(h.ConnectTimeout), ct)
	check("serveraliveinterval", secs(h.ServerAliveInterval), one("serveraliveinterval"))
	check("serveralivecountmax", strconv.Itoa(h.ServerAliveCountMax), one("serveralivecountmax"))
	check("connectionattempts", strconv.Itoa(h.ConnectionAttempts), one("connectionattempts"))
	check("numberofpasswordprompts", strconv.Itoa(h.NumberOfPasswordPrompts), one("numberofpasswordprompts"))
	check("proxyjump", strings.Join(h.ProxyJump, ","), one("proxyjump"))
	cp := h.ControlPath
	if h.ControlPathLegacy != "" && !sshHashesJump() {
		cp = h.ControlPathLegacy
	}
	check("controlpath", cp, one("controlpath"))
	check("proxycommand", h.ProxyCommand, one("proxycommand"))
	check("forwardagent", yesno(h.ForwardAgent), one("forwardagent"))
	check("hostkeyalias", h.HostKeyAlias, one("hostkeyalias"))
	check("identitiesonly", yesno(h.IdentitiesOnly), one("identitiesonly"))
	check("batchmode", yesno(h.BatchMode), one("batchmode"))
	check("passwordauthentication", yesno(h.PasswordAuthentication), one("passwordauthentication"))
	check("kbdinteractiveauthentication", yesno(h.KbdInteractiveAuthentication), one("kbdinteractiveauthentication"))
	pk := map[string]string{"true": "yes", "false": "no", "unbound": "yes", "host-bound": "yes"}[one("pubkeyauthentication")]
	check("pubkeyauthentication", yesno(h.PubkeyAuthentication), pk)
	check("hashknownhosts", yesno(h.HashKnownHosts), one("hashknownhosts"))
	check("addressfamily", h.AddressFamily, one("addressfamily"))
	check("sendenv", strings.Join(h.SendEnv, " "), strings.Join(g["sendenv"], " "))
	check("setenv", strings.Join(h.SetEnv, " "), strings.Join(g["setenv"], " "))
	if h.PreferredAuthentications != nil {
		check("preferredauthentications", strings.Join(h.PreferredAuthentications, ","), one("preferredauthentications"))
	}
	if h.HostKeyAlgorithms != "" {
		check("hostkeyalgorithms", h.HostKeyAlgorithms, one("hostkeyalgorithms"))
	}
	// ssh -G prints identity files unexpanded, and its defaults include
	// key types Loom leaves out; compare explicit, token-free ones.
	if !h.DefaultIdentities && !strings.Contains(cfg, "IdentityFile %") {
		var theirs []string
		for _, f := range g["identityfile"] {
			f, _ = expandTilde(f, home, nil)
			if !slices.Contains(theirs, f) {
				theirs = append(theirs, f)
			}
		}
		check("identityfile", strings.Join(h.IdentityFiles, " "), strings.Join(theirs, " "))
	}
	return checked, diffs
}
