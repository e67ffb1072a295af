package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHostSetsThatAreNoHosts: ClusterShell's @group, a glob, or an @FILE
// that does not exist given to -H is a one-line usage error, never a host
// name that no host has.
func TestHostSetsThatAreNoHosts(t *testing.T) {
	cfg, _ := lab(t, 1)
	missing := filepath.Join(t.TempDir(), "web")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-H", "@" + missing}, `loom: -H @` + missing + `: no such hosts file "` + missing + `"`},
		{[]string{"-H", "h1", "-x", "@" + missing}, `loom: -x @` + missing + `: no such hosts file`},
		{[]string{"-H", "h1,@web"}, `loom: -H @web: no such hosts file "web" (-H @FILE reads hosts from FILE; for ClusterShell's @group, select inventory roles with -R)`},
		{[]string{"-H", "h*"}, `host pattern "h*": '*' and '?' are globs`},
		{[]string{"-H", "nova0??"}, `"nova0??"`},
	} {
		code, _, errs := run(append(append([]string{"-F", cfg}, tt.args...), "--", "true")...)
		if code != ExitUsage || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want usage error containing %q", tt.args, code, errs, tt.want)
		}
	}
}
