package sshconfig

import (
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
	for _, loud := range []string{"SetEnv", "SendEnv", "KnownHostsCommand", "LocalForward", "PKCS11Provider", "BindAddress", "ProxyUseFdpass", "Match tagged"} {
		if QuietUnsupported(loud) {
			t.Errorf("%s is quiet; ignoring it changes what the user asked for", loud)
		}
	}
}
