package sshconfig

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	h := resolve(t, "", "web", nil)
	checkFields(t, h, fields{
		"Alias":    "web",
		"HostName": "web",
		"User":     "me",
		"Port":     22,
		"IdentityFiles": []string{
			"/home/me/.ssh/id_rsa", "/home/me/.ssh/id_ecdsa", "/home/me/.ssh/id_ecdsa_sk",
			"/home/me/.ssh/id_ed25519", "/home/me/.ssh/id_ed25519_sk",
		},
		"DefaultIdentities":            true,
		"IdentitiesOnly":               false,
		"CertificateFiles":             []string(nil),
		"IdentityAgent":                "",
		"ConnectTimeout":               time.Duration(0),
		"ServerAliveInterval":          time.Duration(0),
		"ServerAliveCountMax":          3,
		"ConnectionAttempts":           1,
		"AddressFamily":                "any",
		"StrictHostKeyChecking":        "yes",
		"UserKnownHostsFiles":          []string{"/home/me/.ssh/known_hosts", "/home/me/.ssh/known_hosts2"},
		"GlobalKnownHostsFiles":        globalKnownHostsFiles(),
		"HashKnownHosts":               false,
		"HostKeyAlias":                 "",
		"HostKeyAlgorithms":            "",
		"ProxyJump":                    []string(nil),
		"ProxyCommand":                 "",
		"ProxyCommandLine":             "",
		"ForwardAgent":                 false,
		"BatchMode":                    false,
		"PasswordAuthentication":       true,
		"KbdInteractiveAuthentication": true,
		"PubkeyAuthentication":         true,
		"PreferredAuthentications":     []string(nil),
		"NumberOfPasswordPrompts":      3,
		"Unsupported":                  []string(nil),
	})
	if got := h.KnownHostsName(); got != "web" {
		t.Errorf("KnownHostsName = %q", got)
	}
	if got := h.Addr(); got != "web:22" {
		t.Errorf("Addr = %q", got)
	}
}

func TestPrecedence(t *testing.T) {
	const cfg = `
Host web
  Port 1111
  User webuser
Host *
  Port 2222
  User fallback
  HostName %h.example.com
  ConnectTimeout 5
`
	tests := []struct {
		name   string
		target string
		mod    func(*Options)
		want   fields
	}{
		{"first value wins", "web", nil, fields{"Port": 1111, "User": "webuser", "HostName": "web.example.com"}},
		{"later block fills the rest", "db", nil, fields{"Port": 2222, "User": "fallback", "ConnectTimeout": 5 * time.Second}},
		{"-o before files", "web", func(o *Options) { o.Set = []string{"Port=3", "user opt", "ConnectTimeout = 9"} },
			fields{"Port": 3, "User": "opt", "ConnectTimeout": 9 * time.Second}},
		{"first -o wins", "web", func(o *Options) { o.Set = []string{"Port=3", "Port=4"} }, fields{"Port": 3}},
		{"-o keys case-insensitive", "web", func(o *Options) { o.Set = []string{"pOrT=5"} }, fields{"Port": 5}},
		{"-l beats config", "web", func(o *Options) { o.User = "luser" }, fields{"User": "luser"}},
		{"target user beats config", "tuser@web", nil, fields{"User": "tuser"}},
		{"target user beats -l and -o", "tuser@web", func(o *Options) { o.User = "luser"; o.Set = []string{"User=ouser"} },
			fields{"User": "tuser"}},
		{"-l beats -o", "web", func(o *Options) { o.User = "luser"; o.Set = []string{"User=ouser"} }, fields{"User": "luser"}},
		{"-p beats config", "web", func(o *Options) { o.Port = 7 }, fields{"Port": 7}},
		{"target port beats -p", "web:8", func(o *Options) { o.Port = 7 }, fields{"Port": 8}},
		{"ssh URI", "ssh://u@web:9", nil, fields{"Port": 9, "User": "u", "Alias": "web"}},
		{"-o HostName", "web", func(o *Options) { o.Set = []string{"HostName=10.1.2.3"} }, fields{"HostName": "10.1.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, resolve(t, cfg, tt.target, tt.mod), tt.want)
		})
	}
}

func TestHostPatterns(t *testing.T) {
	const cfg = `
Host *.example.com !bad.example.com
  User corp
Host !bad.corp *.corp
  User corp2
Host !nothing
  Port 1
Host db? web*
  Port 2
Host Upper
  Port 3
Host "with space" other
  Port 4
`
	tests := []struct {
		target string
		want   fields
	}{
		{"good.example.com", fields{"User": "corp", "Port": 22}},
		{"bad.example.com", fields{"User": "me"}},
		{"example.com", fields{"User": "me"}},
		{"good.corp", fields{"User": "corp2"}},
		{"bad.corp", fields{"User": "me"}}, // a negated match wins wherever it is
		{"nothing", fields{"Port": 22}},    // a negated pattern alone never matches
		{"db1", fields{"Port": 2}},
		{"db10", fields{"Port": 22}},
		{"webfront", fields{"Port": 2}},
		{"web", fields{"Port": 2}},
		{"upper", fields{"Port": 22}}, // Host patterns are case-sensitive
		{"Upper", fields{"Port": 3}},
		{"other", fields{"Port": 4}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			checkFields(t, resolve(t, cfg, tt.target, nil), tt.want)
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		target string
		mod    func(*Options)
		want   fields
	}{
		{"host matches HostName", `
Host web
  HostName 10.0.0.5
Match host 10.0.0.*
  User viahost
Match host web
  Port 1
`, "web", nil, fields{"User": "viahost", "Port": 22}},
		{"originalhost matches the alias", `
Host web
  HostName 10.0.0.5
Match originalhost web
  Port 2200
`, "web", nil, fields{"Port": 2200}},
		{"host before HostName is the alias", `
Match host web
  Port 7
Host web
  HostName other
`, "web", nil, fields{"Port": 7, "HostName": "other"}},
		{"host with %h", `
Host *
  HostName %h.corp
Match host *.corp
  Port 8
`, "web", nil, fields{"Port": 8, "HostName": "web.corp"}},
		{"host and originalhost are case-insensitive", `
Match originalhost WEB
  User a
Match host WEB
  Port 9
`, "Web", nil, fields{"User": "a", "Port": 9}},
		{"user from target", `
Match user root
  Port 1
Match user deploy,admin
  Port 2
`, "deploy@h", nil, fields{"Port": 2}},
		{"user defaults to the local user", `
Match user deploy
  Port 2
Match user me
  Port 3
`, "h", nil, fields{"Port": 3}},
		{"user from an earlier User", `
Host h
  User deploy
Match user deploy
  Port 2
`, "h", nil, fields{"Port": 2, "User": "deploy"}},
		{"user from -l", `
Match user deploy
  Port 2
`, "h", func(o *Options) { o.User = "deploy" }, fields{"Port": 2}},
		{"user pattern list with negation", `
Match user !root,*
  Port 2
`, "root@h", nil, fields{"Port": 22}},
		{"localuser", `
Match localuser other
  Port 1
Match localuser m?
  Port 2
`, "h", nil, fields{"Port": 2}},
		{"criteria are AND-ed (all hold)", `
Match host *.prod user deploy
  Port 9
`, "deploy@a.prod", nil, fields{"Port": 9}},
		{"criteria are AND-ed (user fails)", `
Match host *.prod user deploy
  Port 9
`, "bob@a.prod", nil, fields{"Port": 22}},
		{"criteria are AND-ed (host fails)", `
Match host *.prod user deploy
  Port 9
`, "deploy@a.dev", nil, fields{"Port": 22}},
		{"negated criterion", `
Match !host *.prod
  Port 9
`, "a.dev", nil, fields{"Port": 9}},
		{"negated criterion fails", `
Match !host *.prod
  Port 9
`, "a.prod", nil, fields{"Port": 22}},
		{"all", `
Match all
  Port 9
`, "x", nil, fields{"Port": 9}},
		{"!all", `
Match !all
  Port 9
`, "x", nil, fields{"Port": 22}},
		{"canonical never matches without a final pass", `
Match canonical all
  Port 9
Match !canonical
  User notcanon
`, "x", nil, fields{"Port": 22, "User": "notcanon"}},
		{"Match ends a Host block", `
Host x
  Port 1
Match host nomatch
  User u
`, "x", nil, fields{"Port": 1, "User": "me"}},
		{"comma list in host", `
Match host a,b,c
  Port 5
`, "b", nil, fields{"Port": 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, resolve(t, tt.cfg, tt.target, tt.mod), tt.want)
		})
	}
}

// TestMatchFinal checks the second pass ssh(1) makes once the host name
// is known, when a Match line asks for it: Host lines then match the host
// name, and "final" and "canonical" hold. Verified against OpenSSH 9.2.
func TestMatchFinal(t *testing.T) {
	const cfg = `
Host web
  HostName 10.1.1.1
Match final host 10.1.1.1
  User fin
  HostName ignored
Match canonical
  IdentityFile ~/.ssh/canon
Host 10.1.1.1
  Port 7
Match !final
  IdentityFile ~/.ssh/first
`
	checkFields(t, resolve(t, cfg, "web", nil), fields{
		"User":          "fin",
		"Port":          7,
		"HostName":      "10.1.1.1",
		"IdentityFiles": []string{"/home/me/.ssh/first", "/home/me/.ssh/canon"},
	})
	// CanonicalizeHostname also triggers the second pass (and is reported).
	h := resolve(t, "CanonicalizeHostname yes\nMatch canonical\n  Port 6\n", "x", nil)
	checkFields(t, h, fields{"Port": 6, "Unsupported": []string{"CanonicalizeHostname"}})
}

func TestMatchUnsupported(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		target string
		want   fields
	}{
		{"tagged", "Match tagged prod\n  Port 9\n", "h",
			fields{"Port": 22, "Unsupported": []string{"Match tagged"}}},
		{"following blocks still work", "Match tagged x\n  Port 9\nHost *\n  Port 10\n", "h",
			fields{"Port": 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, resolve(t, tt.cfg, tt.target, nil), tt.want)
		})
	}
}

func TestTokens(t *testing.T) {
	const cfg = `
Host web
  HostName Web.Example.COM
  User deploy
  Port 2222
  IdentityFile ~/.ssh/%h_%r_%p_%n_%u_%i_%L_%l_%k_%%
  IdentityFile %d/keys/%C
  IdentityFile ${KEYS}/id_%r
  IdentityFile ~alice/shared_key
  CertificateFile ~/.ssh/%n-cert.pub
  UserKnownHostsFile ~/.ssh/kh_%h %d/other
  IdentityAgent ~/agent.%u
  HostKeyAlias Alias-%h
`
	h := resolve(t, cfg, "web", nil)
	// sha1("box.example.com" + "web.example.com" + "2222" + "deploy")
	const c = "cd3c1b4a6862c6c0a56ab2ff5f0d33ce0d518847"
	checkFields(t, h, fields{
		"HostName": "web.example.com",
		"IdentityFiles": []string{
			"/home/me/.ssh/web.example.com_deploy_2222_web_me_1000_box_box.example.com_alias-%h_%",
			"/home/me/keys/" + c,
			"/srv/keys/id_deploy",
			"/home/alice/shared_key",
		},
		"DefaultIdentities":   false,
		"CertificateFiles":    []string{"/home/me/.ssh/web-cert.pub"},
		"UserKnownHostsFiles": []string{"/home/me/.ssh/kh_web.example.com", "/home/me/other"},
		"IdentityAgent":       "/home/me/agent.me",
		"HostKeyAlias":        "alias-%h",
	})
}

func TestTokenHash(t *testing.T) {
	// Computed independently: printf 'box.example.comweb.example.com2222deploy' | sha1sum
	h := resolve(t, "IdentityFile /k/%C\n", "deploy@web.example.com:2222", nil)
	want := "/k/cd3c1b4a6862c6c0a56ab2ff5f0d33ce0d518847"
	if h.IdentityFiles[0] != want {
		t.Errorf("%%C = %s, want %s", h.IdentityFiles[0], want)
	}
}

func TestHostName(t *testing.T) {
	tests := []struct{ cfg, target, want string }{
		{"", "Web", "web"},
		{"HostName Real-X\n", "x", "real-x"},
		{"HostName %h.example.com\n", "a", "a.example.com"},
		{"HostName 100%%\n", "a", "100%"},
		{"HostName FE80::1\n", "x", "fe80::1"},
		{"HostName 0:0::1\n", "x", "::1"},
		{"", "2001:DB8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		h := resolve(t, tt.cfg, tt.target, nil)
		if h.HostName != tt.want {
			t.Errorf("%q / %q: HostName = %q, want %q", tt.cfg, tt.target, h.HostName, tt.want)
		}
	}
}

func TestIdentityFiles(t *testing.T) {
	const cfg = `
Host *
  IdentityFile ~/.ssh/a
  IdentityFile ~/.ssh/b
  IdentityFile ~/.ssh/a
`
	h := resolve(t, cfg, "h", func(o *Options) {
		o.IdentityFiles = []string{"~/cli", "/abs/key"}
		o.Set = []string{"IdentityFile=~/.ssh/o", "IdentityFile ~/.ssh/b"}
	})
	checkFields(t, h, fields{
		"IdentityFiles":     []string{"/home/me/cli", "/abs/key", "/home/me/.ssh/o", "/home/me/.ssh/b", "/home/me/.ssh/a"},
		"DefaultIdentities": false,
	})
	// "IdentityFile none" gives no file and no defaults.
	checkFields(t, resolve(t, "IdentityFile none\n", "h", nil), fields{
		"IdentityFiles": []string(nil), "DefaultIdentities": false,
	})
	// -i alone replaces the defaults.
	checkFields(t, resolve(t, "", "h", func(o *Options) { o.IdentityFiles = []string{"/k"} }), fields{
		"IdentityFiles": []string{"/k"}, "DefaultIdentities": false,
	})
}

func TestProxyJump(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		mod  func(*Options)
		want fields
	}{
		{"chain", "ProxyJump a,u@b:2222,ssh://c@d:3,[::1]:4\n", nil,
			fields{"ProxyJump": []string{"a", "u@b:2222", "c@d:3", "[::1]:4"}, "ProxyCommand": ""}},
		{"none", "ProxyJump none\n", nil, fields{"ProxyJump": []string(nil)}},
		{"tokens", "HostName real.%h\nUser deploy\nPort 2200\nProxyJump %r@jump-%n,%%x@j2-%h:22\n", nil,
			fields{"ProxyJump": []string{"deploy@jump-h", "%x@j2-real.h:22"}}},
		{"none wins when first", "Host h\n  ProxyJump none\nHost *\n  ProxyJump bastion\n", nil,
			fields{"ProxyJump": []string(nil)}},
		{"-o beats files", "ProxyJump bastion\n", func(o *Options) { o.Set = []string{"ProxyJump=none"} },
			fields{"ProxyJump": []string(nil)}},
		{"ProxyCommand first wins", "ProxyCommand nc %h %p\nProxyJump j\n", nil,
			fields{"ProxyJump": []string(nil), "ProxyCommand": "nc %h %p", "ProxyCommandLine": "nc h 22", "Unsupported": []string(nil)}},
		{"ProxyJump first wins", "ProxyJump j\nProxyCommand nc %h %p\n", nil,
			fields{"ProxyJump": []string{"j"}, "ProxyCommand": "", "Unsupported": []string(nil)}},
		{"ProxyJump none does not block ProxyCommand", "ProxyJump none\nProxyCommand nc\n", nil,
			fields{"ProxyJump": []string(nil), "ProxyCommand": "nc"}},
		{"ProxyCommand none blocks ProxyJump", "ProxyCommand none\nProxyJump j\n", nil,
			fields{"ProxyJump": []string(nil), "ProxyCommand": "", "Unsupported": []string(nil)}},
		{"ProxyCommand tokens", "HostName real.%h\nUser deploy\nPort 2200\nHostKeyAlias kA\nProxyCommand ssh -W %h:%p %r@j-%n -o X=%k %%\n", nil,
			fields{"ProxyCommand": "ssh -W %h:%p %r@j-%n -o X=%k %%", "ProxyCommandLine": "ssh -W real.h:2200 deploy@j-h -o X=ka %"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, resolve(t, tt.cfg, "h", tt.mod), tt.want)
		})
	}
}

func TestProxyCommandErrors(t *testing.T) {
	c, err := Parse(strings.NewReader("Host other\n  ProxyCommand nc %x\nHost h\n  ProxyCommand nc %C %h\n"), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve("other", Options{}); err == nil || err.Error() != `test.conf:2: ProxyCommand: unknown token %x in "nc %x"` {
		t.Errorf("other: %v", err)
	}
	if _, err := c.Resolve("h", Options{}); err == nil || err.Error() != `test.conf:4: ProxyCommand: unknown token %C in "nc %C %h"` {
		t.Errorf("h: %v", err)
	}
}

func TestProxyJumpErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"ProxyJump j-%x\n":             `test.conf:1: ProxyJump: unknown token %x in "j-%x"`,
		"ProxyJump %r@j:%p\n":          `test.conf:1: ProxyJump: invalid jump host: invalid port "%p" in target "%r@j:%p"`,
		"HostName a:b\nProxyJump %h\n": `test.conf:2: ProxyJump: invalid port "b" in target "a:b"`,
	} {
		c, err := Parse(strings.NewReader(cfg), "test.conf")
		if err == nil {
			_, err = c.Resolve("h", testOptions())
		}
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", cfg, err, want)
		}
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		cfg  string
		want fields
	}{
		{"StrictHostKeyChecking ask", fields{"StrictHostKeyChecking": "yes"}},
		{"StrictHostKeyChecking Yes", fields{"StrictHostKeyChecking": "yes"}},
		{"StrictHostKeyChecking true", fields{"StrictHostKeyChecking": "yes"}},
		{"StrictHostKeyChecking accept-new", fields{"StrictHostKeyChecking": "accept-new"}},
		{"StrictHostKeyChecking off", fields{"StrictHostKeyChecking": "no"}},
		{"StrictHostKeyChecking false", fields{"StrictHostKeyChecking": "no"}},
		{"StrictHostKeyChecking no", fields{"StrictHostKeyChecking": "no"}},
		{"ConnectTimeout 10", fields{"ConnectTimeout": 10 * time.Second}},
		{"ConnectTimeout 1m30s", fields{"ConnectTimeout": 90 * time.Second}},
		{"ConnectTimeout 0", fields{"ConnectTimeout": time.Duration(0)}},
		{"ServerAliveInterval 1h", fields{"ServerAliveInterval": time.Hour}},
		{"ServerAliveInterval 1w2D3H4M5", fields{"ServerAliveInterval": (7+2)*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second}},
		{"ProtocolKeepAlives 15", fields{"ServerAliveInterval": 15 * time.Second}},
		{"ServerAliveCountMax 0", fields{"ServerAliveCountMax": 0}},
		{"NumberOfPasswordPrompts 1", fields{"NumberOfPasswordPrompts": 1}},
		{"ConnectionAttempts 4", fields{"ConnectionAttempts": 4}},
		{"ConnectionAttempts 0", fields{"ConnectionAttempts": 1}},
		{"AddressFamily INET6", fields{"AddressFamily": "inet6"}},
		{"BatchMode yes", fields{"BatchMode": true}},
		{"IdentitiesOnly TRUE", fields{"IdentitiesOnly": true}},
		{"PasswordAuthentication no", fields{"PasswordAuthentication": false}},
		{"ChallengeResponseAuthentication no", fields{"KbdInteractiveAuthentication": false}},
		{"KbdInteractiveAuthentication no", fields{"KbdInteractiveAuthentication": false}},
		{"PubkeyAuthentication host-bound", fields{"PubkeyAuthentication": true}},
		{"PubkeyAuthentication no", fields{"PubkeyAuthentication": false}},
		{"PreferredAuthentications publickey,password", fields{"PreferredAuthentications": []string{"publickey", "password"}}},
		{"HashKnownHosts yes", fields{"HashKnownHosts": true}},
		{"HostKeyAlgorithms +ssh-rsa", fields{"HostKeyAlgorithms": "+ssh-rsa"}},
		{"HostKeyAlias MyAlias", fields{"HostKeyAlias": "myalias"}},
		{"RevokedHostKeys ~/.ssh/revoked", fields{"RevokedHostKeys": []string{"/home/me/.ssh/revoked"}}},
		{"RevokedHostKeys ~/a /b", fields{"RevokedHostKeys": []string{"/home/me/a", "/b"}}},
		{"RevokedHostKeys none", fields{"RevokedHostKeys": []string(nil)}},
		{"RevokedHostKeys NONE", fields{"RevokedHostKeys": []string(nil)}},
		{"UserKnownHostsFile none", fields{"UserKnownHostsFiles": []string(nil)}},
		{"UserKnownHostsFile /a \"/b c\"", fields{"UserKnownHostsFiles": []string{"/a", "/b c"}}},
		{"GlobalKnownHostsFile none", fields{"GlobalKnownHostsFiles": []string(nil)}},
		{"GlobalKnownHostsFile ~/g /etc/g", fields{"GlobalKnownHostsFiles": []string{"/home/me/g", "/etc/g"}}},
		{"IdentityAgent SSH_AUTH_SOCK", fields{"IdentityAgent": ""}},
		{"IdentityAgent none", fields{"IdentityAgent": "none"}},
		{"IdentityAgent $AGENT", fields{"IdentityAgent": "/run/agent.sock"}},
		{"IdentityAgent $UNSET", fields{"IdentityAgent": "none"}},
		{"IdentityAgent ${AGENT}.2", fields{"IdentityAgent": "/run/agent.sock.2"}},
		{"ForwardAgent yes", fields{"ForwardAgent": true, "ForwardAgentSocket": ""}},
		{"ForwardAgent no", fields{"ForwardAgent": false}},
		{"ForwardAgent ~/fwd.sock", fields{"ForwardAgent": true, "ForwardAgentSocket": "/home/me/fwd.sock"}},
		{"ForwardAgent $AGENT", fields{"ForwardAgent": true, "ForwardAgentSocket": "/run/agent.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			checkFields(t, resolve(t, tt.cfg+"\n", "h", nil), tt.want)
		})
	}
}

// ControlMaster and ControlPersist turn holding on for a host, as in ssh;
// ControlPath (OpenSSH's socket, TestControlPath) changes nothing there.
func TestControlPersist(t *testing.T) {
	tests := []struct {
		cfg  string
		hold time.Duration
		ok   bool
	}{
		{"", 0, true},
		{"ControlMaster auto\nControlPersist 10m", 10 * time.Minute, true},
		{"ControlMaster yes\nControlPersist 90", 90 * time.Second, true},
		{"ControlMaster auto\nControlPersist yes", Forever, true},
		{"ControlMaster auto\nControlPersist 0", Forever, true},
		{"ControlMaster auto\nControlPersist no", 0, true},
		{"ControlMaster auto", 0, true},
		{"ControlPersist 10m", 0, true}, // no master: ssh ignores it too
		{"ControlMaster no\nControlPersist 10m", 0, true},
		{"ControlMaster autoask\nControlPersist 10m", 10 * time.Minute, false},
		{"ControlMaster AUTO\nControlPersist 1h\nControlPath ~/.ssh/cm-%C", time.Hour, true},
	}
	for _, tt := range tests {
		h := resolve(t, tt.cfg+"\n", "h", nil)
		d, ok := h.Hold()
		if d != tt.hold || ok != tt.ok {
			t.Errorf("%q: Hold() = %v, %v; want %v, %v", tt.cfg, d, ok, tt.hold, tt.ok)
		}
		if len(h.Unsupported) != 0 {
			t.Errorf("%q: Unsupported = %v", tt.cfg, h.Unsupported)
		}
	}
	for _, bad := range []string{"ControlMaster sometimes", "ControlPersist soon"} {
		if _, err := Parse(strings.NewReader("Host h\n  "+bad+"\n"), "cfg"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// ControlPath is expanded as ssh(1) expands it ("none": unset). With a
// ProxyJump, %C hashes the last hop's host name too (OpenSSH 9.6 and
// later: ssh_connection_hash), and %j is that name; ControlPathLegacy is
// the path of earlier versions. The real ssh -G checks the rest
// (TestCompatSSHG, TestGeneratedConfigsAgainstSSHG).
func TestControlPath(t *testing.T) {
	hash := func(s string) string { return sha1Hex(s) }
	tests := []struct {
		cfg, path, legacy string
	}{
		{"", "", ""},
		{"ControlPath none", "", ""},
		{"ControlPath NONE", "", ""},
		{"ControlPath ~/.ssh/cm-%r@%h:%p", "/home/me/.ssh/cm-me@h:22", ""},
		{"ControlPath ${KEYS}/%C", "/srv/keys/" + hash("box.example.comh22me"), ""},
		{"ProxyJump u@Hop1:2222,hop2\nControlPath /s/%C", "/s/" + hash("box.example.comh22mehop2"), "/s/" + hash("box.example.comh22me")},
		{"ProxyJump u@Hop1:2222\nControlPath /s/%j-%C", "/s/Hop1-" + hash("box.example.comh22meHop1"), ""},
		{"ProxyJump hop\nControlPath /s/%h", "/s/h", ""},
	}
	for _, tt := range tests {
		h := resolve(t, strings.ReplaceAll(tt.cfg, `\n`, "\n")+"\n", "h", nil)
		if h.ControlPath != tt.path || h.ControlPathLegacy != tt.legacy {
			t.Errorf("%q: ControlPath %q, legacy %q; want %q, %q", tt.cfg, h.ControlPath, h.ControlPathLegacy, tt.path, tt.legacy)
		}
	}
	for _, bad := range []string{"ControlPath /s/%T", "ControlPath /s/${NOPE}", "ControlPath /a /b"} {
		c, err := Parse(strings.NewReader("Host h\n  "+bad+"\n"), "cfg")
		if err == nil {
			_, err = c.Resolve("h", testOptions())
		}
		if err == nil || !strings.Contains(err.Error(), "cfg:2: ControlPath") {
			t.Errorf("%q: error %v, want one naming cfg:2 and ControlPath", bad, err)
		}
	}
}

func TestUnsupported(t *testing.T) {
	const cfg = `
Host h
  ControlMaster no
  GSSAPIAuthentication no
  RequestTTY auto
  TCPKeepAlive yes
  LogLevel DEBUG
  VisualHostKey yes
Host *
  ControlMaster auto
  ControlPath ~/.ssh/cm-%C
  ControlPersist 10m
  LocalForward 8080 localhost:80
  SendEnv LANG LC_*
  Ciphers aes256-ctr
  ForwardX11 yes
  TCPKeepAlive no
`
	h := resolve(t, cfg, "h", nil)
	want := []string{"ForwardX11", "LocalForward"}
	checkFields(t, h, fields{"Unsupported": want, "ControlMaster": "no", "ControlPersist": 10 * time.Minute, "SendEnv": []string{"LANG", "LC_*"}})

	// Only directives that apply to the host count.
	h = resolve(t, "Host other\n  ProxyCommand nc %h %p\n", "h", nil)
	checkFields(t, h, fields{"Unsupported": []string(nil), "ProxyCommand": ""})
	h = resolve(t, "", "h", func(o *Options) { o.Set = []string{"ProxyCommand=nc %h %p", "RemoteCommand=uptime"} })
	checkFields(t, h, fields{"Unsupported": []string{"RemoteCommand"}, "ProxyCommand": "nc %h %p"})

	list := UnsupportedDirectives()
	for i := 1; i < len(list); i++ {
		if strings.ToLower(list[i-1]) >= strings.ToLower(list[i]) {
			t.Errorf("UnsupportedDirectives not sorted: %q before %q", list[i-1], list[i])
		}
	}
	for _, n := range []string{"KnownHostsCommand", "LocalForward", "Match tagged", "RemoteForward", "GSSAPIAuthentication"} {
		found := false
		for _, l := range list {
			found = found || l == n
		}
		if !found {
			t.Errorf("UnsupportedDirectives lacks %q", n)
		}
	}
	list[0] = "changed"
	if UnsupportedDirectives()[0] == "changed" {
		t.Error("UnsupportedDirectives returns shared storage")
	}
}

func TestKnownHostsNameAndAddr(t *testing.T) {
	tests := []struct {
		cfg, target, known, addr string
	}{
		{"", "web", "web", "web:22"},
		{"", "web:2222", "[web]:2222", "web:2222"},
		{"", "[::1]:2222", "[::1]:2222", "[::1]:2222"},
		{"", "::1", "::1", "[::1]:22"},
		{"HostKeyAlias Shared\n", "web:2222", "shared", "web:2222"},
		{"HostName 10.0.0.1\nPort 2022\n", "web", "[10.0.0.1]:2022", "10.0.0.1:2022"},
	}
	for _, tt := range tests {
		h := resolve(t, tt.cfg, tt.target, nil)
		if got := h.KnownHostsName(); got != tt.known {
			t.Errorf("%q: KnownHostsName = %q, want %q", tt.target, got, tt.known)
		}
		if got := h.Addr(); got != tt.addr {
			t.Errorf("%q: Addr = %q, want %q", tt.target, got, tt.addr)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name, cfg, target string
		mod               func(*Options)
		want              string
	}{
		{"unknown HostName token", "Host *\n  HostName %n.x\n", "h", nil,
			`test.conf:2: HostName: unknown token %n in "%n.x"`},
		{"invalid HostName", "HostName \"a b\"\n", "h", nil,
			`test.conf:1: HostName: invalid character ' ' in host "a b"`},
		{"HostName starting with -", "HostName -oFoo\n", "h", nil,
			`test.conf:1: HostName: invalid host "-oFoo": must not start with '-'`},
		{"unknown IdentityFile token", "\nIdentityFile ~/%Z\n", "h", nil,
			`test.conf:2: IdentityFile: unknown token %Z in "/home/me/%Z"`},
		{"lone percent", "IdentityFile /k%\n", "h", nil,
			`test.conf:1: IdentityFile: "/k%" ends with a lone '%'`},
		{"unset env", "UserKnownHostsFile ${NOPE}/kh\n", "h", nil,
			`test.conf:1: UserKnownHostsFile: environment variable NOPE is not set (in "${NOPE}/kh")`},
		{"unterminated env", "CertificateFile ${KEYS\n", "h", nil,
			`test.conf:1: CertificateFile: unterminated ${ in "${KEYS"`},
		{"unknown ~user", "IdentityFile ~bob/k\n", "h", nil,
			`test.conf:1: IdentityFile: unknown user "bob" in "~bob/k"`},
		{"Match host expands HostName", "HostName %x\nMatch host y\n", "h", nil,
			`test.conf:1: HostName: unknown token %x in "%x"`},
		{"RefuseConnection", "Host h\n  RefuseConnection yes\n", "h", nil,
			`test.conf:2: RefuseConnection: the configuration refuses connections to "h"`},
		{"bad target", "", "h:x", nil, `invalid port "x" in target "h:x"`},
		{"unknown -o", "", "h", func(o *Options) { o.Set = []string{"Foo=bar"} },
			`command-line option "Foo=bar": unknown option "Foo"`},
		{"bad -o value", "", "h", func(o *Options) { o.Set = []string{"Port=x"} },
			`command-line option "Port=x": Port: invalid port "x" (want 1 to 65535)`},
		{"-o Host", "", "h", func(o *Options) { o.Set = []string{"Host=x"} },
			`command-line option "Host=x": Host is not allowed as a command-line option`},
		{"-o Include", "", "h", func(o *Options) { o.Set = []string{"Include /etc/passwd"} },
			`command-line option "Include /etc/passwd": Include is not allowed as a command-line option`},
		{"empty -o", "", "h", func(o *Options) { o.Set = []string{" "} },
			`command-line option " ": empty option`},
		{"bad -l", "", "h", func(o *Options) { o.User = "-oX" },
			`command line (-l): invalid user "-oX": must not start with '-'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions()
			if tt.mod != nil {
				tt.mod(&o)
			}
			_, err := mustParse(t, tt.cfg).Resolve(tt.target, o)
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
	// Errors at a place are *Error.
	_, err := mustParse(t, "\n\nIdentityFile %Q\n").Resolve("h", testOptions())
	var e *Error
	if !errors.As(err, &e) || e.File != "test.conf" || e.Line != 3 {
		t.Errorf("error %v: want *Error at test.conf:3", err)
	}
}

func TestResolveTarget(t *testing.T) {
	c := mustParse(t, "Host web\n  Port 2\n")
	h, err := c.ResolveTarget(Target{User: "u", Host: "web"}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, h, fields{"User": "u", "Port": 2})
	for _, bad := range []Target{{Host: ""}, {Host: "-x"}, {Host: "h", Port: 70000}, {Host: "h", User: "-u"}} {
		if _, err := c.ResolveTarget(bad, testOptions()); err == nil {
			t.Errorf("ResolveTarget(%+v): no error", bad)
		}
	}
}

// A Config is read-only once loaded: Resolve may run concurrently.
func TestResolveConcurrent(t *testing.T) {
	c := mustParse(t, "Host *\n  HostName %h.example.com\n  IdentityFile ~/.ssh/%h\nMatch final\n  Port 2\n")
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			h, err := c.Resolve("h", testOptions())
			if err != nil {
				done <- err.Error()
				return
			}
			done <- h.IdentityFiles[0]
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != "/home/me/.ssh/h.example.com" {
			t.Errorf("got %s", got)
		}
	}
}

func TestLocalDefaults(t *testing.T) {
	// Without injected values, the current user and host are used.
	h, err := mustParse(t, "").Resolve("h", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h.User == "" || len(h.IdentityFiles) == 0 || !strings.HasSuffix(h.IdentityFiles[0], "/.ssh/id_rsa") {
		t.Errorf("defaults from the current user: User=%q IdentityFiles=%q", h.User, h.IdentityFiles)
	}
}

// docs/ssh_config.md must name every unsupported directive.
func TestDocsListUnsupported(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ssh_config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range UnsupportedDirectives() {
		if !strings.Contains(string(doc), "`"+d) {
			t.Errorf("docs/ssh_config.md does not mention %q", d)
		}
	}
}
