package sshconfig

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want Target
	}{
		{"host", Target{Host: "host"}},
		{"web.example.com", Target{Host: "web.example.com"}},
		{"user@host", Target{User: "user", Host: "host"}},
		{"user@host:2222", Target{User: "user", Host: "host", Port: 2222}},
		{"host:22", Target{Host: "host", Port: 22}},
		{"host:022", Target{Host: "host", Port: 22}},
		{"a@b@host", Target{User: "a@b", Host: "host"}},
		{"[::1]:2222", Target{Host: "::1", Port: 2222}},
		{"[::1]", Target{Host: "::1"}},
		{"::1", Target{Host: "::1"}},
		{"fe80::1%eth0", Target{Host: "fe80::1%eth0"}},
		{"root@[2001:db8::1]:22", Target{User: "root", Host: "2001:db8::1", Port: 22}},
		{"root@2001:db8::1", Target{User: "root", Host: "2001:db8::1"}},
		{"[host]:2", Target{Host: "host", Port: 2}},
		{"10.0.0.1:65535", Target{Host: "10.0.0.1", Port: 65535}},
		{"ssh://host", Target{Host: "host"}},
		{"ssh://user@host:2200", Target{User: "user", Host: "host", Port: 2200}},
		{"SSH://user@host:2200/", Target{User: "user", Host: "host", Port: 2200}},
		{"ssh://user;fingerprint=SHA256:abc@host", Target{User: "user", Host: "host"}},
		{"ssh://a%40corp@[::1]:23", Target{User: "a@corp", Host: "::1", Port: 23}},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `empty target`},
		{"h:x", `invalid port "x" in target "h:x"`},
		{"h:", `invalid port "" in target "h:"`},
		{"h:0", `invalid port "0" in target "h:0"`},
		{"h:65536", `invalid port "65536" in target "h:65536"`},
		{"h:-1", `invalid port "-1" in target "h:-1"`},
		{"h:+22", `invalid port "+22" in target "h:+22"`},
		{"user@", `empty host in target "user@"`},
		{"@host", `empty user in target "@host"`},
		{"a b", `invalid character ' ' in target "a b"`},
		{"host\n", `invalid character '\n' in target "host\n"`},
		{"ho\x1bst", `invalid character '\x1b' in target "ho\x1bst"`},
		{"-oProxyCommand=x", `invalid host "-oProxyCommand=x": must not start with '-' in target "-oProxyCommand=x"`},
		{"u@-h", `invalid host "-h": must not start with '-' in target "u@-h"`},
		{"-l@h", `invalid user "-l" in target "-l@h": must not start with '-'`},
		{"a:b:c", `invalid host "a:b:c" in target "a:b:c" (write an IPv6 address with a port as [addr]:port)`},
		{"::1:22x", `invalid host "::1:22x" in target "::1:22x" (write an IPv6 address with a port as [addr]:port)`},
		{"[::1", `missing ']' in target "[::1"`},
		{"[::1]x", `unexpected "x" after ']' in target "[::1]x"`},
		{"[]:22", `empty host in target "[]:22"`},
		{"h/x", `invalid character '/' in host "h/x" in target "h/x"`},
		{"a,b", `invalid character ',' in host "a,b" in target "a,b"`},
		{"ssh://h/path", `invalid ssh URI "ssh://h/path": a path is not allowed`},
		{"ssh://%zz@h", `invalid user in target "ssh://%zz@h": invalid URL escape "%zz"`},
		{"ssh://a%0Ab@h", `invalid character '\n' in user of target "ssh://a%0Ab@h"`},
		{"ssh://-x@h", `invalid user "-x" in target "ssh://-x@h": must not start with '-'`},
		{"a/b@h", `invalid user "a/b" in target "a/b@h": must not contain '/'`},
	}
	for _, tt := range tests {
		_, err := ParseTarget(tt.in)
		if err == nil {
			t.Errorf("ParseTarget(%q): no error, want %s", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseTarget(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
		if strings.Contains(err.Error(), "\n") && !strings.Contains(tt.in, "\n") {
			t.Errorf("ParseTarget(%q): multi-line error", tt.in)
		}
	}
}

func TestTargetString(t *testing.T) {
	tests := []struct {
		t    Target
		want string
	}{
		{Target{Host: "h"}, "h"},
		{Target{User: "u", Host: "h", Port: 2}, "u@h:2"},
		{Target{Host: "::1", Port: 22}, "[::1]:22"},
		{Target{Host: "::1"}, "::1"},
		{Target{User: "a@b", Host: "h"}, "a@b@h"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.t, got, tt.want)
		}
		back, err := ParseTarget(tt.want)
		if err != nil || back != tt.t {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tt.want, back, err, tt.t)
		}
	}
}
