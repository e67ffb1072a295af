package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// selectInventory writes a loom.yaml for h1..h6: web h1-h4, staging h1,
// h2, h5, db h5, h6.
func selectInventory(t *testing.T) string {
	t.Helper()
	inv := filepath.Join(t.TempDir(), "loom.yaml")
	os.WriteFile(inv, []byte(`hosts:
  h[1-4]: {roles: [web]}
  h[5-6]: {roles: [db]}
  h1: {roles: [staging]}
  h2: {roles: [staging]}
  h5: {roles: [staging]}
`), 0o600)
	return inv
}

// dryHosts returns the hosts --dry-run lists for args.
func dryHosts(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errs := run(append(append([]string{"-F", "none", "--dry-run"}, args...), "--", "true")...)
	if code != ExitOK {
		return "", errs
	}
	var names []string
	for _, ln := range strings.Split(out, "\n") {
		if f := strings.Fields(ln); len(f) > 0 && f[0] != "#" {
			names = append(names, f[0])
		}
	}
	return strings.Join(names, " "), errs
}

// TestSelectionAlgebra: -R takes unions, intersections and exclusions
// of roles, hosts, ranges and globs, and the implicit role all.
func TestSelectionAlgebra(t *testing.T) {
	inv := selectInventory(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-R", "web&staging,!db"}, "h1 h2"},
		{[]string{"-R", "staging,!db"}, "h1 h2"},
		{[]string{"-R", "web&staging", "-R", "db"}, "h1 h2 h5 h6"},
		{[]string{"-R", "all&!web"}, "h5 h6"},
		{[]string{"-R", "!staging"}, "h3 h4 h6"},
		{[]string{"-R", "h*&!h[1-3]"}, "h4 h5 h6"},
		{[]string{"-R", "db", "-H", "h1"}, "h1 h5 h6"},
		{[]string{"-R", "all", "-x", "h[2-6]"}, "h1"},
	} {
		got, errs := dryHosts(t, append([]string{"-I", inv}, tc.args...)...)
		if got != tc.want {
			t.Errorf("%q: hosts %q, want %q (%s)", tc.args, got, tc.want, errs)
		}
	}
	code, _, errs := run("-F", "none", "-I", inv, "-R", "web&stagin", "--", "true")
	if code != ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `-R web&stagin: unknown role "stagin"`) || !strings.Contains(errs, "did you mean staging?") {
		t.Errorf("typo: exit %d, %q", code, errs)
	}
	// Globs stay refused in -H, where nothing is matched.
	if code, _, errs := run("-F", "none", "-I", inv, "-H", "h*", "--", "true"); code != ExitUsage || !strings.Contains(errs, "-R") {
		t.Errorf("-H glob: exit %d, %q", code, errs)
	}
}

// TestPick: --pick N takes a random sample, in the hosts' order; --seed
// makes it the same each time; bad values are usage errors.
func TestPick(t *testing.T) {
	inv := selectInventory(t)
	a, _ := dryHosts(t, "-I", inv, "-R", "all", "--pick", "3", "--seed", "7")
	b, _ := dryHosts(t, "-I", inv, "-R", "all", "--pick", "3", "--seed", "7")
	if a != b || len(strings.Fields(a)) != 3 {
		t.Fatalf("--seed 7 twice: %q and %q", a, b)
	}
	order := strings.Fields(a)
	for i := 1; i < len(order); i++ {
		if order[i-1] > order[i] {
			t.Errorf("sample out of order: %q", a)
		}
	}
	seen := map[string]bool{}
	for seed := range 20 {
		s, _ := dryHosts(t, "-I", inv, "-R", "all", "--pick", "50%", "--seed", string(rune('0'+seed%10))+"1")
		if len(strings.Fields(s)) != 3 {
			t.Fatalf("--pick 50%% of 6: %q", s)
		}
		seen[s] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 seeds gave one sample: %v", seen)
	}
	code, _, errs := run("-F", "none", "-I", inv, "-R", "all", "--pick", "2", "-v", "--dry-run", "--", "true")
	if code != ExitOK || !strings.Contains(errs, "--pick 2: 2 of 6 hosts (--seed ") {
		t.Errorf("-v does not say the seed: %q", errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pick", "7"}, "--pick 7: only 6 hosts selected"},
		{[]string{"--pick", "0"}, "--pick 0: want at least 1"},
		{[]string{"--seed", "3"}, "--seed is the seed of --pick's sample"},
		{[]string{"--pick", "x"}, "--pick x:"},
	} {
		code, _, errs := run(append(append([]string{"-F", "none", "-I", inv, "-R", "all"}, tc.args...), "--", "true")...)
		if code != ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, %q", tc.args, code, errs)
		}
	}
}
