package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSummaryNamesCause: a summary group of several failed hosts says why
// (the first host's error, with the command and its stderr), for a
// command's exit as for an unreachable host.
func TestSummaryNamesCause(t *testing.T) {
	cfg, _ := lab(t, 3)
	code, _, errs := run("-F", cfg, "-H", "h1,h2,h3", "--", "echo boom-on-stderr >&2; exit 4")
	if code != ExitFailed {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
	var line string
	for _, l := range strings.Split(errs, "\n") {
		if strings.HasPrefix(l, "loom: failed (exit 4)") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, "h[1-3]") || !strings.Contains(line, "first:") ||
		!strings.Contains(line, "exit 4") || !strings.Contains(line, "boom-on-stderr") || !strings.Contains(line, "echo boom") {
		t.Fatalf("summary line does not give the cause and the command: %q\n%s", line, errs)
	}
}

// TestTruncatedOutputMarked: output cut at MaxOutput says so in --json and
// --gather.
func TestTruncatedOutputMarked(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB of output per host")
	}
	cfg, _ := lab(t, 2)
	cmd := "head -c 16777300 /dev/zero | tr '\\0' x"
	code, out, errs := run("-F", cfg, "-H", "h1,h2", "--json", "--", cmd)
	if code != ExitOK {
		t.Fatalf("json: code %d %q", code, errs)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var j map[string]any
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("bad json line: %v", err)
		}
		if j["truncated"] != true {
			t.Fatalf("host %v: output cut without \"truncated\": true", j["host"])
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d json lines", n)
	}
	code, out, errs = run("-F", cfg, "-H", "h1,h2", "--gather", "--", cmd)
	if code != ExitOK || !strings.Contains(out, "output cut at") {
		t.Fatalf("gather: code %d, no mark of the cut in %q / %q", code, out[:min(len(out), 200)], errs)
	}
	code, out, _ = run("-F", cfg, "-H", "h1,h2", "--json", "--", "echo short")
	if code != ExitOK || strings.Contains(out, "truncated") {
		t.Fatalf("a short output is marked truncated: %q", out)
	}
}
