package sshconfig

import (
	"strings"
	"testing"
)

// TestAlgorithmListErrors: a name OpenSSH does not know is an error naming
// file:line or the -o option, as in ssh(1); known names, patterns of key
// algorithms and '-' lists are accepted. Before, every list was accepted
// and ignored.
func TestAlgorithmListErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"HostKeyAlgorithms ssh-foo\n":                          `test.conf:1: HostKeyAlgorithms: unknown key algorithm "ssh-foo" (ssh -Q lists the known ones)`,
		"\nCiphers +aes128-cbc,rot13\n":                        `test.conf:2: Ciphers: unknown cipher "rot13" (ssh -Q lists the known ones)`,
		"KexAlgorithms curve25519-*\n":                         `test.conf:1: KexAlgorithms: unknown key exchange algorithm "curve25519-*" (ssh -Q lists the known ones)`,
		"MACs hmac-sha2-256,,hmac-sha1\n":                      `test.conf:1: MACs: "hmac-sha2-256,,hmac-sha1": empty name in the list`,
		"PubkeyAcceptedKeyTypes +nothing-*\n":                  `test.conf:1: PubkeyAcceptedAlgorithms: unknown key algorithm "nothing-*" (ssh -Q lists the known ones)`,
		"CASignatureAlgorithms ssh-rsa-cert-v01@openssh.com\n": `test.conf:1: CASignatureAlgorithms: unknown signature algorithm "ssh-rsa-cert-v01@openssh.com" (ssh -Q lists the known ones)`,
		"RequiredRSASize 512\n":                                `test.conf:1: RequiredRSASize: invalid size "512": want a number of bits, at least 1024`,
	} {
		_, err := Parse(strings.NewReader(cfg), "test.conf")
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", cfg, err, want)
		}
	}
	for _, ok := range []string{
		"HostKeyAlgorithms +ssh-rsa\n", "HostKeyAlgorithms ssh-ed25519*,rsa-sha2-*\n", "Ciphers -*cbc,3des*\n",
		"KexAlgorithms ^diffie-hellman-group14-sha1\n", "MACs umac-64-etm@openssh.com\n", "RequiredRSASize 2048\n",
	} {
		if _, err := Parse(strings.NewReader(ok), "test.conf"); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	c := mustParse(t, "")
	if _, err := c.Resolve("h", Options{Set: []string{"Ciphers=aes128-ctr,foo"}}); err == nil || !strings.Contains(err.Error(), `command-line option "Ciphers=aes128-ctr,foo": Ciphers: unknown cipher "foo"`) {
		t.Errorf("-o: %v", err)
	}
}

// TestAssembleAlgorithms: '+', '-', '^', patterns and plain lists as
// OpenSSH's kex_assemble_names, narrowed to what can be spoken.
func TestAssembleAlgorithms(t *testing.T) {
	def := []string{"a-ctr", "b-gcm", "c-ctr"}
	all := []string{"x-cbc", "a-ctr", "b-gcm", "c-ctr", "y-cbc", "u-mac"}
	speak := []string{"x-cbc", "a-ctr", "b-gcm", "c-ctr", "y-cbc"}
	for _, tt := range []struct{ spec, want, dropped string }{
		{"", "a-ctr,b-gcm,c-ctr", ""},
		{"+x-cbc", "a-ctr,b-gcm,c-ctr,x-cbc", ""},
		{"+a-ctr", "a-ctr,b-gcm,c-ctr", ""},
		{"^y-cbc,b-gcm", "y-cbc,b-gcm,a-ctr,c-ctr", ""},
		{"-*-ctr", "b-gcm", ""},
		{"-*,!b-gcm", "b-gcm", ""},
		{"*-cbc", "x-cbc,y-cbc", ""},
		{"c-ctr,u-mac,a-ctr", "c-ctr,a-ctr", "u-mac"},
		{"u-mac", "", "u-mac"},
	} {
		got, dropped := AssembleAlgorithms(tt.spec, def, all, speak)
		if strings.Join(got, ",") != tt.want || strings.Join(dropped, ",") != tt.dropped {
			t.Errorf("%q: %q dropped %q, want %q dropped %q", tt.spec, got, dropped, tt.want, tt.dropped)
		}
	}
}
