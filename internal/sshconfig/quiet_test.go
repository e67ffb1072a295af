package sshconfig

import (
	"slices"
	"strings"
	"testing"
)

// Every quiet directive is an unsupported one (a typo in the list would
// make nothing quiet, and a supported keyword there would mean nothing).
func TestQuietUnsupportedAreUnsupported(t *testing.T) {
	all := map[string]bool{}
	for _, d := range UnsupportedDirectives() {
		all[strings.ToLower(d)] = true
	}
	for name := range quietUnsupported {
		if !all[name] {
			t.Errorf("quietUnsupported lists %q, which is not an unsupported directive", name)
		}
	}
	for _, loud := range []string{"RemoteForward", "DynamicForward", "KnownHostsCommand", "LocalForward", "PKCS11Provider", "BindAddress", "ProxyUseFdpass", "Match tagged"} {
		if QuietUnsupported(loud) {
			t.Errorf("%s is quiet; ignoring it changes what the user asked for", loud)
		}
	}
}

// Host.Env: the variables of environ a SendEnv pattern names, in environ's
// order, then SetEnv's pairs (a value may hold '=' and spaces).
func TestHostEnv(t *testing.T) {
	h := &Host{SendEnv: []string{"LC_*", "LANG"}, SetEnv: []string{"A=1=2", "B=two words"}}
	got := h.Env([]string{"LANG=C.UTF-8", "HOME=/root", "LC_ALL=C", "=junk", "LC_=x", "noequals"})
	want := []EnvVar{{"LANG", "C.UTF-8"}, {"LC_ALL", "C"}, {"LC_", "x"}, {"A", "1=2"}, {"B", "two words"}}
	if !slices.Equal(got, want) {
		t.Errorf("Env = %v, want %v", got, want)
	}
	if got := (&Host{}).Env([]string{"LANG=C"}); got != nil {
		t.Errorf("no SendEnv, no SetEnv: %v", got)
	}
}
