package sshconfig

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a b\tc", []string{"a", "b", "c"}},
		{`"a b" c`, []string{"a b", "c"}},
		{`'a b'`, []string{"a b"}},
		{`x"a b"y`, []string{"xa by"}},
		{`a\ b`, []string{"a b"}},
		{`"a\"b"`, []string{`a"b`}},
		{`a\\b`, []string{`a\b`}},
		{`a\nb`, []string{`a\nb`}},
		{`a#b # comment`, []string{"a#b"}},
		{`"#x" y`, []string{"#x", "y"}},
		{`""`, []string{""}},
		{`a\`, []string{`a\`}},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`"a`, `'a`, `a"b`} {
		if _, err := splitArgs(bad); err == nil {
			t.Errorf("splitArgs(%q): no error", bad)
		}
	}
}

func TestSyntax(t *testing.T) {
	tests := []struct {
		name, cfg string
		want      fields
	}{
		{"space", "Port 2201", fields{"Port": 2201}},
		{"equals", "Port=2201", fields{"Port": 2201}},
		{"spaced equals", "Port = 2201", fields{"Port": 2201}},
		{"tabs and comment", "\tPort\t=\t2201   # the port", fields{"Port": 2201}},
		{"case-insensitive keyword", "pORT 2201", fields{"Port": 2201}},
		{"quoted value", `User "a b"`, fields{"User": "a b"}},
		{"single quotes", `User 'a b'`, fields{"User": "a b"}},
		{"escaped space", `User a\ b`, fields{"User": "a b"}},
		{"hash inside word", "User a#b", fields{"User": "a#b"}},
		{"quoted port", `Port "2200"`, fields{"Port": 2200}},
		{"CRLF", "Host h\r\n  Port 2201\r\n\r\n", fields{"Port": 2201}},
		{"form feed at end", "Port 2201\f", fields{"Port": 2201}},
		{"no final newline", "# c\n\nHost *\n Port 2201", fields{"Port": 2201}},
		{"Host=pattern", "Host=h\nPort 2201", fields{"Port": 2201}},
		{"quoted Host pattern", "Host \"h\"\nPort 2201", fields{"Port": 2201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, resolve(t, tt.cfg, "h", nil), tt.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"BatchMode maybe", `test.conf:1: BatchMode: invalid value "maybe" (want yes or no)`},
		{"# comment\n\nHost x\n  ForwardX11 sometimes", `test.conf:4: ForwardX11: invalid value "sometimes" (want yes or no)`},
		{"\r\n\r\nPort 0\r\n", `test.conf:3: Port: invalid port "0" (want 1 to 65535)`},
		{"Port ssh", `test.conf:1: Port: invalid port "ssh" (want 1 to 65535)`},
		{"Port 70000", `test.conf:1: Port: invalid port "70000" (want 1 to 65535)`},
		{"Port 22 23", `test.conf:1: Port: extra arguments at end of line`},
		{"IdentityFile \"a b\" c", `test.conf:1: IdentityFile: extra arguments at end of line`},
		{"User", `test.conf:1: User: missing argument`},
		{"User \"\"", `test.conf:1: User: missing argument`},
		{"User \"a", `test.conf:1: User: unbalanced quotes`},
		{"User a\x01b", `test.conf:1: User: invalid character '\x01' in user "a\x01b"`},
		{"User -oProxyCommand=x", `test.conf:1: User: invalid user "-oProxyCommand=x": must not start with '-'`},
		{"Host", `test.conf:1: Host: missing pattern`},
		{"Host \"\"", `test.conf:1: Host: empty pattern`},
		{"Match", `test.conf:1: Match: missing criteria`},
		{"Match foo bar", `test.conf:1: Match: unknown criterion "foo"`},
		{"Match host", `test.conf:1: Match: criterion "host" needs an argument`},
		{"Match !user", `test.conf:1: Match: criterion "user" needs an argument`},
		{"Match all host x", `test.conf:1: Match: 'all' cannot be combined with other criteria`},
		{"Match host a user b all", `test.conf:1: Match: 'all' cannot be combined with other criteria`},
		{"ConnectTimeout -1", `test.conf:1: ConnectTimeout: invalid time "-1" (want seconds, or a time like 1m30s)`},
		{"ConnectTimeout 5x", `test.conf:1: ConnectTimeout: invalid time "5x" (want seconds, or a time like 1m30s)`},
		{"ConnectTimeout 99999999999", `test.conf:1: ConnectTimeout: invalid time "99999999999" (want seconds, or a time like 1m30s)`},
		{"ServerAliveInterval m", `test.conf:1: ServerAliveInterval: invalid time "m" (want seconds, or a time like 1m30s)`},
		{"NumberOfPasswordPrompts -1", `test.conf:1: NumberOfPasswordPrompts: invalid number "-1"`},
		{"StrictHostKeyChecking maybe", `test.conf:1: StrictHostKeyChecking: invalid value "maybe" (want yes, accept-new, no or ask)`},
		{"AddressFamily ipx", `test.conf:1: AddressFamily: invalid value "ipx" (want any, inet, inet6)`},
		{"PubkeyAuthentication sometimes", `test.conf:1: PubkeyAuthentication: invalid value "sometimes" (want yes, no, unbound or host-bound)`},
		{"ProxyJump a,,b", `test.conf:1: ProxyJump: invalid jump host: empty target`},
		{"ProxyJump -oProxyCommand=x", `test.conf:1: ProxyJump: invalid jump host: invalid host "-oProxyCommand=x": must not start with '-' in target "-oProxyCommand=x"`},
		{"ProxyJump a b", `test.conf:1: ProxyJump: extra arguments at end of line`},
		{"ProxyJump u@h:x", `test.conf:1: ProxyJump: invalid jump host: invalid port "x" in target "u@h:x"`},
		{"IdentityAgent $1BAD", `test.conf:1: IdentityAgent: invalid environment variable name "1BAD"`},
		{"ProxyCommand", `test.conf:1: ProxyCommand: missing argument`},
		{"Include", `test.conf:1: Include: missing argument`},
		{"RevokedHostKeys none /etc/revoked", `test.conf:1: RevokedHostKeys: "none" must appear alone`},
		// Lines are validated even in blocks that match no host, as ssh does.
		{"Host nothing-matches-this\n  Compression perhaps", `test.conf:2: Compression: invalid value "perhaps" (want yes or no)`},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.cfg), "test.conf")
		if err == nil {
			t.Errorf("%q: no error, want %s", tt.cfg, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.cfg, err, tt.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.File != "test.conf" || e.Line < 1 {
			t.Errorf("%q: %v is not an *Error with a place", tt.cfg, err)
		}
	}
}

func TestWarnings(t *testing.T) {
	c := mustParse(t, `
Fooo bar
IgnoreUnknown UseKeychainX,Bar*
UseKeychainX yes
Barrier 1
Zap 2
Host *
  Port 2
`)
	want := []string{
		`test.conf:2: unknown keyword "Fooo" ignored`,
		`test.conf:6: unknown keyword "Zap" ignored`,
	}
	if got := c.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Warnings = %q, want %q", got, want)
	}
	// Unknown keywords do not stop the rest from applying.
	h, err := c.Resolve("h", testOptions())
	if err != nil || h.Port != 2 {
		t.Errorf("Resolve: %v, port %d", err, h.Port)
	}
	// Keywords from other OpenSSH versions and vendors are known.
	c = mustParse(t, "UseKeychain yes\nTag x\nObscureKeystrokeTiming no\nEnableEscapeCommandline no\nGSSAPIKexAlgorithms x\nProtocol 2\n")
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("Warnings = %q, want none", w)
	}
}
