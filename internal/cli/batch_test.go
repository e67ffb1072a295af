package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestBatchRampAndPause: --batch 1,2,50% --pause runs the hosts in waves
// of 1, 2, 6 and 3 (the last size repeats), each wave starting at least
// the pause after the previous one, as the --json start times show.
func TestBatchRampAndPause(t *testing.T) {
	cfg, _ := lab(t, 12)
	const pause = 500 * time.Millisecond
	code, out, errs := run("-F", cfg, "-H", "h[1-12]", "--json", "--batch", "1,2,50%", "--pause", pause.String(), "--", "true")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var starts []time.Time
	for _, ln := range strings.Split(strings.TrimSpace(out), "\n") {
		var j struct {
			Host  string
			Start string
		}
		if err := json.Unmarshal([]byte(ln), &j); err != nil {
			t.Fatalf("%q: %v", ln, err)
		}
		at, err := time.Parse(time.RFC3339Nano, j.Start)
		if err != nil {
			t.Fatalf("%s: start %q: %v", j.Host, j.Start, err)
		}
		starts = append(starts, at)
	}
	if len(starts) != 12 {
		t.Fatalf("%d hosts reported, want 12:\n%s", len(starts), out)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	// The waves are the runs of starts separated by more than the pause.
	var waves []int
	n := 1
	for i := 1; i < len(starts); i++ {
		if starts[i].Sub(starts[i-1]) >= pause {
			waves, n = append(waves, n), 0
		}
		n++
	}
	waves = append(waves, n)
	if got := fmt.Sprint(waves); got != "[1 2 6 3]" {
		t.Fatalf("waves %v, want [1 2 6 3]; starts %v", waves, starts)
	}
}

// TestBatchFlagErrors: a ramp with a size of 0, --pause without --batch,
// and a per-batch max-fail that is not a limit are one-line usage errors.
func TestBatchFlagErrors(t *testing.T) {
	cfg, _ := lab(t, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch", "1,0,25%"}, "--batch 1,0,25%: a batch of 0: want at least 1 host"},
		{[]string{"--batch", "1,,5"}, "--batch 1,,5: invalid count"},
		{[]string{"--pause", "2s"}, "--pause 2s waits between batches: give --batch too"},
		{[]string{"--batch", "1", "--pause", "-2s"}, "--pause -2s: want a positive duration"},
		{[]string{"--max-fail-batch", "x"}, "--max-fail-batch x:"},
	} {
		args := append(append([]string{"-F", cfg, "-H", "h1"}, tc.args...), "--", "true")
		code, _, errs := run(args...)
		if code != ExitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestMaxFailBatchStops: --max-fail-batch counts in each batch.
func TestMaxFailBatchStops(t *testing.T) {
	cfg, _ := lab(t, 6)
	code, _, errs := run("-F", cfg, "-P", "1", "--batch", "3", "--max-fail-batch", "0", "-H", "h[1-6]", "--", "exit 1")
	if code != ExitFailed || !strings.Contains(errs, "1 failed") || !strings.Contains(errs, "loom: not started: h[2-6] (5 hosts)") {
		t.Fatalf("code %d: %s", code, errs)
	}
}

// TestDryRunShowsThePlan: --dry-run says the batches and the pause.
func TestDryRunShowsThePlan(t *testing.T) {
	code, out, errs := run("-F", "none", "-I", "none", "--dry-run", "-H", "h[1-40]", "--batch", "1,5,25%", "--pause", "2s", "--", "true")
	if code != ExitOK || !strings.Contains(out, "batches of 1, 5, 10 ×3, 4 with 2s between") {
		t.Fatalf("code %d: %s%s", code, out, errs)
	}
}
