package sshconfig

import (
	"io/fs"
	"net"
	"path"
	"sort"
	"strings"
	"testing"
)

// mapFS is an in-memory file system for the loader.
type mapFS map[string]string

func (m mapFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := path.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m mapFS) ReadFile(name string, _ bool) ([]byte, error) {
	d, ok := m[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(d), nil
}

var fuzzSeeds = []string{
	"",
	"Host *\n  Port 2\n",
	"Host web\n  HostName %h.example.com\n  User u\nMatch host *.example.com user u\n  Port 3\n",
	"Match final\n  IdentityFile ~/.ssh/%C\nHost 10.*\n  Port 7\n",
	"Include inc.conf\nInclude self\nHost x\n  Include *\n",
	"ProxyJump a,b@c:2,ssh://d@[::1]:3\nProxyCommand nc %h %p\n",
	"Port=22\nUser = \"a b\"\nIdentityFile 'x y'\n  # c\r\nKey\\ x y\n",
	"Match exec \"true\" !host x\nMatch all\nMatch canonical all\nMatch !localuser me\n",
	"IdentityAgent $AGENT\nForwardAgent ${KEYS}/x\nUserKnownHostsFile ${NOPE} %d/%u\n",
	"CanonicalizeHostname yes\nControlMaster auto\nLocalForward 1 h:2\nSendEnv *\nRefuseConnection no\n",
	"HostName %%\nHostKeyAlias X\nStrictHostKeyChecking accept-new\nConnectTimeout 1w2d\n",
	"Host !a !b *\nHost ?\x00\n IgnoreUnknown *\nUnknownThing 1\n",
}

// FuzzParse parses and resolves arbitrary configurations, with Includes
// served from memory. It must never panic, and what it returns must be
// usable.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		l := newLoader("/home/me")
		l.fs = mapFS{
			"/home/me/.ssh/config":   data,
			"/home/me/.ssh/self":     data,
			"/home/me/.ssh/inc.conf": "Host x\n  Port 2\nMatch final\n",
		}
		c, err := l.load([]File{{Path: "/home/me/.ssh/config", Kind: UserConfig}})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		o := testOptions()
		first, _, _ := strings.Cut(data, "\n")
		for i, target := range []string{"h", "x", "u@web.example.com:2222", "[::1]:2200"} {
			if i == 1 {
				o.Set = []string{first} // the first line as a -o option
			}
			h, err := c.Resolve(target, o)
			if err != nil {
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("multi-line error %q", err)
				}
				continue
			}
			checkHostInvariants(t, h)
		}
	})
}

func checkHostInvariants(t *testing.T, h *Host) {
	t.Helper()
	if h.Port < 1 || h.Port > 65535 {
		t.Fatalf("port %d", h.Port)
	}
	if err := checkHost(h.HostName); err != nil {
		t.Fatalf("HostName: %v", err)
	}
	if h.User == "" || strings.HasPrefix(h.User, "-") {
		t.Fatalf("user %q", h.User)
	}
	if hh, _, err := net.SplitHostPort(h.Addr()); err != nil || hh != h.HostName {
		t.Fatalf("Addr %q: %v", h.Addr(), err)
	}
	switch h.StrictHostKeyChecking {
	case "yes", "no", "accept-new":
	default:
		t.Fatalf("StrictHostKeyChecking %q", h.StrictHostKeyChecking)
	}
	if h.DefaultIdentities && len(h.IdentityFiles) != len(defaultIdentities) {
		t.Fatalf("default identities %q", h.IdentityFiles)
	}
	for _, j := range h.ProxyJump {
		if _, err := ParseTarget(j); err != nil {
			t.Fatalf("ProxyJump hop %q: %v", j, err)
		}
	}
	if h.ConnectionAttempts < 1 || h.ServerAliveCountMax < 0 || h.ConnectTimeout < 0 || h.ServerAliveInterval < 0 {
		t.Fatalf("bad numbers in %+v", h)
	}
}

// FuzzParseTarget checks that accepted targets are safe to use and that
// Target.String round-trips.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"h", "u@h:22", "[::1]:2222", "::1", "fe80::1%eth0", "ssh://u@h:1/", "ssh://a%40b;x=y@[h]:2",
		"-oProxyCommand=x", "a@b@c", "h:", "[]", "u@[::1", "é@ü:3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if err := checkHost(tg.Host); err != nil {
			t.Fatalf("%q: host %q: %v", s, tg.Host, err)
		}
		if tg.Port < 0 || tg.Port > 65535 {
			t.Fatalf("%q: port %d", s, tg.Port)
		}
		if strings.HasPrefix(tg.User, "-") || strings.ContainsAny(tg.User, " \t\r\n/") {
			t.Fatalf("%q: user %q", s, tg.User)
		}
		back, err := ParseTarget(tg.String())
		if err != nil || back != tg {
			t.Fatalf("%q: String %q parses to %+v, %v; want %+v", s, tg.String(), back, err, tg)
		}
	})
}
