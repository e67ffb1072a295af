package sshconfig

import (
	"slices"
	"testing"
)

// TestUseKeychain: Apple's UseKeychain is accepted on every system (a Mac
// user's config is often shared), and "yes" is listed as not supported so
// that -v says Loom asks for the passphrase where ssh would take it from
// the keychain.
func TestUseKeychain(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want bool
	}{
		{"Host *\n  UseKeychain yes\n  AddKeysToAgent yes\n", true},
		{"Host *\n  UseKeychain no\n", false},
	} {
		c := mustParse(t, tc.cfg)
		if w := c.Warnings(); len(w) != 0 {
			t.Errorf("%q: warnings %q", tc.cfg, w)
		}
		h, err := c.Resolve("web1", testOptions())
		if err != nil {
			t.Fatalf("%q: %v", tc.cfg, err)
		}
		if got := slices.Contains(h.Unsupported, "UseKeychain"); got != tc.want {
			t.Errorf("%q: Unsupported = %q", tc.cfg, h.Unsupported)
		}
	}
}
