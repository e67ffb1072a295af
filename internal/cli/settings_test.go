package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/inventory"
)

// TestSettingKeysHaveFlags: every key of loom.yaml's settings: is a flag
// (shown in the help), so the two cannot drift apart.
func TestSettingKeysHaveFlags(t *testing.T) {
	o, tab, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	_ = o
	var help bytes.Buffer
	tab.usage(&help, "loom", false)
	for _, k := range inventory.SettingKeys {
		if tab.fs.Lookup(flagOf(k)) == nil {
			t.Errorf("setting %s: no flag %s", k, flagOf(k))
		}
		if !strings.Contains(help.String(), "--"+k) {
			t.Errorf("setting %s: --%s is not in the help", k, k)
		}
	}
}

// TestSettingsPrecedence: flag > LOOM_* > loom.yaml's settings: >
// default, said with -v; sudo-user there is --sudo's user, not a sudo
// for every command.
func TestSettingsPrecedence(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "loom.yaml")
	os.WriteFile(inv, []byte("hosts:\n  h[1-9]: {}\nsettings:\n  parallel: 4\n  batch: [1, 50%]\n  pause: 1s\n  sudo-user: app\n  echo: true\n"), 0o600)
	dry := func(args ...string) (string, string) {
		_, out, errs := run(append(append([]string{"-F", "none", "-I", inv, "--dry-run", "-H", "h[1-9]"}, args...), "--", "true")...)
		return out, errs
	}
	if out, errs := dry(); !strings.Contains(out, "# 9 hosts, -P 4, batches of 1, 4 ×2 with 1s between") || strings.Contains(out, "sudo") {
		t.Errorf("loom.yaml: %s%s", out, errs)
	}
	t.Setenv("LOOM_PARALLEL", "6")
	t.Setenv("LOOM_BATCH", "3")
	if out, errs := dry(); !strings.Contains(out, "# 9 hosts, -P 6, batches of 3 ×3 with 1s between") {
		t.Errorf("LOOM_*: %s%s", out, errs)
	}
	out, errs := dry("-P", "2", "-v")
	if !strings.Contains(out, "-P 2,") {
		t.Errorf("flag: %s%s", out, errs)
	}
	for _, want := range []string{"-P 2 (flag)", "--batch 3 (LOOM_BATCH)", "--pause 1s (" + inv + ":6)", "--sudo-user app (" + inv + ":7)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("-v lacks %q: %s", want, errs)
		}
	}
}

// TestSettingsErrors: an unknown key or a bad value in settings: names
// file:line; a bad LOOM_* value names the variable; a near miss of a
// setting's variable is warned about.
func TestSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "loom.yaml")
	for _, tc := range []struct{ yaml, want string }{
		{"settings:\n  paralel: 4\n", inv + `:2: settings: unknown key "paralel"`},
		{"settings:\n  timeout: 5\n", inv + ":2: settings: timeout: 5: needs a unit, e.g. 5s"},
		{"settings:\n  batch: [1, 0]\n", inv + ":2: settings: batch: 1,0: a batch of 0"},
		{"settings:\n  sudo-user: 'a b'\n", inv + `:2: settings: sudo-user: a b: sudo-user "a b": not a user name`},
		{"settings:\n  echo: yes\n", inv + ":2: settings: echo: yes: want true or false"},
		{"settings:\n  hide:\n", inv + ":2: settings: hide has no value"},
	} {
		os.WriteFile(inv, []byte(tc.yaml), 0o600)
		code, _, errs := run("-F", "none", "-I", inv, "-H", "h1", "--dry-run", "--", "true")
		if code != ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, %q; want %q", tc.yaml, code, errs, tc.want)
		}
	}
	os.WriteFile(inv, nil, 0o600)
	t.Setenv("LOOM_HOST_TIMEOUT", "soon")
	code, _, errs := run("-F", "none", "-I", inv, "-H", "h1", "--dry-run", "--", "true")
	if code != ExitUsage || !strings.Contains(errs, "LOOM_HOST_TIMEOUT=soon: want a duration") {
		t.Errorf("bad LOOM_HOST_TIMEOUT: exit %d, %q", code, errs)
	}
	os.Unsetenv("LOOM_HOST_TIMEOUT")
	t.Setenv("LOOM_PARALEL", "5")
	code, _, errs = run("-F", "none", "-I", inv, "-H", "h1", "--dry-run", "--", "true")
	if code != ExitOK || !strings.Contains(errs, "warning: LOOM_PARALEL is not a loom setting (did you mean LOOM_PARALLEL?)") {
		t.Errorf("near miss: exit %d, %q", code, errs)
	}
}
