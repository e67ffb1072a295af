package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/loomssh/loom/internal/testkit"
)

// TestStdinNeverDropped: piped stdin on a multi-host run is refused unless
// --stdin (every host gets all of it) or -n (none does) says what is meant.
func TestStdinNeverDropped(t *testing.T) {
	cfg, _ := lab(t, 3)
	runIn := func(stdin string, args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := Run(context.Background(), append([]string{"-F", cfg}, args...), Env{Stdin: strings.NewReader(stdin), Stdout: &o, Stderr: &e})
		return code, o.String(), e.String()
	}
	code, out, errs := runIn("data\n", "-H", "h1,h2,h3", "--", "cat")
	if code != ExitUsage || !strings.Contains(errs, "--stdin") || strings.Count(strings.TrimSpace(errs), "\n") != 0 || out != "" {
		t.Fatalf("piped stdin, 3 hosts, no --stdin: code %d out %q err %q; want one usage line naming --stdin", code, out, errs)
	}
	code, out, errs = runIn("line one\nline two\n", "-H", "h1,h2,h3", "--stdin", "--gather", "--", "cat")
	if code != ExitOK || !strings.Contains(out, "line one\nline two\n") || !strings.Contains(out, "h[1-3]") {
		t.Fatalf("--stdin: code %d out %q err %q", code, out, errs)
	}
	code, out, errs = runIn("ignored\n", "-H", "h1,h2", "-n", "--", "wc -c")
	if code != ExitOK || strings.Count(out, ": 0") != 2 && strings.Count(out, "| 0") != 2 {
		t.Fatalf("-n: code %d out %q err %q", code, out, errs)
	}
	code, out, errs = runIn("one host\n", "-H", "h1", "--", "cat")
	if code != ExitOK || out != "one host\n" {
		t.Fatalf("one host: code %d out %q err %q", code, out, errs)
	}
	var o, e bytes.Buffer
	code = Run(context.Background(), []string{"-F", cfg, "-H", "h1,h2", "--stdin", "--", "cat"}, Env{Stdout: &o, Stderr: &e})
	if code != ExitUsage || !strings.Contains(e.String(), "--stdin") {
		t.Fatalf("--stdin with nothing piped: code %d err %q", code, e.String())
	}
	code, _, errs = runIn("x", "put", "-H", "h1,h2", "--stdin", "a", "b")
	if code != ExitUsage || !strings.Contains(errs, "--stdin") {
		t.Fatalf("--stdin with put: code %d err %q", code, errs)
	}
}

// TestStdinLargeReplayed sends more than the in-memory part to every host
// and checks each got exactly the bytes.
func TestStdinLargeReplayed(t *testing.T) {
	cfg, _ := lab(t, 2)
	data := make([]byte, 10<<20+7)
	rand.Read(data)
	var o, e bytes.Buffer
	code := Run(context.Background(), []string{"-F", cfg, "-H", "h1,h2", "--stdin", "--", "sha256sum"},
		Env{Stdin: bytes.NewReader(data), Stdout: &o, Stderr: &e})
	want, err := exec.Command("sh", "-c", "sha256sum < "+writeTemp(t, data)).Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Fields(string(want))[0]
	if code != ExitOK || strings.Count(o.String(), sum) != 2 {
		t.Fatalf("code %d: want %s from both hosts, got %q (err %q)", code, sum, o.String(), e.String())
	}
}

func writeTemp(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAdHocRunsDoNotKeepConnections: a command's run closes each host's
// connection when the host is done (memory grows with -P, not with the
// hosts: 82 MB instead of 28 MB at 1,000 hosts when they were kept);
// tasks share one connection per host for the whole invocation.
func TestAdHocRunsDoNotKeepConnections(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		share bool
	}{
		{[]string{"-H", "h1", "--", "true"}, false},
		{[]string{"put", "-H", "h1", "a", "b"}, false},
		{[]string{"-H", "h1", "deploy"}, true},
	} {
		args := tc.args
		if args[0] == "put" {
			args = args[1:]
		}
		o, _, err := parseFlags(args, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if tc.args[0] == "put" {
			o.sub = "put"
		}
		e, err := newEngine(o, Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
		if err != nil {
			t.Fatal(err)
		}
		if e.d.ShareConnections != tc.share {
			t.Errorf("%q: ShareConnections %v, want %v", tc.args, e.d.ShareConnections, tc.share)
		}
		e.close()
	}
}

// TestSudoPasswordStdinRestNotDropped: with --sudo-password-stdin, input
// after the password's line is sent to the command with --stdin, and is
// otherwise refused before anything runs — from memory, a regular file or
// a pipe already holding it — never dropped without a word. Before, the
// rest was dropped.
func TestSudoPasswordStdinRestNotDropped(t *testing.T) {
	cfg, _ := lab(t, 2)
	const refusal = "loom: --sudo-password-stdin: stdin has more than the password's line; give --stdin to send the rest to the command, or -n to send it none\n"
	run := func(stdin io.Reader, args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := Run(context.Background(), append([]string{"-F", cfg, "--sudo-password-stdin"}, args...), Env{Stdin: stdin, Stdout: &o, Stderr: &e})
		return code, o.String(), e.String()
	}
	code, out, errs := run(strings.NewReader("secret\nthe rest\n"), "-H", "h1", "--", "cat")
	if code != ExitUsage || errs != refusal || out != "" {
		t.Fatalf("rest in memory: code %d out %q err %q; want the refusal", code, out, errs)
	}
	file := filepath.Join(t.TempDir(), "in")
	os.WriteFile(file, []byte("secret\nthe rest\n"), 0o600)
	f, _ := os.Open(file)
	defer f.Close()
	if code, _, errs := run(f, "-H", "h1,h2", "--", "cat"); code != ExitUsage || errs != refusal {
		t.Fatalf("rest in a file: code %d err %q; want the refusal", code, errs)
	}
	if runtime.GOOS == "linux" {
		r, w, _ := os.Pipe()
		w.WriteString("secret\nthe rest\n")
		if code, _, errs := run(r, "-H", "h1", "--", "cat"); code != ExitUsage || errs != refusal {
			t.Fatalf("rest in a pipe: code %d err %q; want the refusal", code, errs)
		}
		r.Close()
		w.Close()
	}
	code, out, errs = run(strings.NewReader("secret\nthe rest\n"), "-H", "h1,h2", "--stdin", "--gather", "--", "cat")
	if code != ExitOK || !strings.Contains(out, "the rest\n") || strings.Contains(out+errs, "secret") {
		t.Fatalf("--stdin: code %d out %q err %q", code, out, errs)
	}
	if code, out, errs := run(strings.NewReader("secret\n"), "-H", "h1,h2", "--", "echo ran"); code != ExitOK || strings.Count(out, "ran") != 2 {
		t.Fatalf("the password alone: code %d out %q err %q", code, out, errs)
	}
	if code, _, errs := run(strings.NewReader("secret\nthe rest\n"), "-H", "h1", "-n", "--", "true"); code != ExitOK {
		t.Fatalf("-n: code %d err %q", code, errs)
	}
}

// More input arriving on a pipe after the password's line, while the run
// goes on, is said in one line (it is not sent without --stdin).
func TestSudoPasswordStdinLateInputSaid(t *testing.T) {
	cfg, _ := lab(t, 1)
	dir := t.TempDir()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	w.WriteString("secret\n")
	var o, e testkit.SyncBuffer
	done := make(chan int)
	go func() {
		script := "touch " + dir + "/started; while [ ! -e " + dir + "/go ]; do sleep 0.05; done"
		done <- Run(context.Background(), []string{"-F", cfg, "--sudo-password-stdin", "-H", "h1", "--", script}, Env{Stdin: r, Stdout: &o, Stderr: &e})
	}()
	testkit.WaitFor(t, "the command to start", func() bool { _, err := os.Stat(dir + "/started"); return err == nil })
	w.WriteString("late input\n")
	const warning = "loom: warning: --sudo-password-stdin: more input came after the password's line; it is not sent to the command (give --stdin to send it)"
	testkit.WaitFor(t, "the warning", func() bool { return strings.Contains(e.String(), warning) })
	os.WriteFile(dir+"/go", nil, 0o600)
	if code := <-done; code != ExitOK {
		t.Fatalf("code %d, stderr %q", code, e.String())
	}
}
