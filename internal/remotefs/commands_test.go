package remotefs

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// shellHost is a Host on this machine whose commands are recorded, then
// run with /bin/sh (sudo is left out: the scripts run as the test's
// user), or, with recordOnly, answered with success.
type shellHost struct {
	fakeHost
	recordOnly bool
}

func (h *shellHost) Run(ctx context.Context, c Cmd) Result {
	var in []byte
	if c.Stdin != nil {
		in, _ = io.ReadAll(c.Stdin)
	}
	h.cmds = append(h.cmds, Cmd{Args: c.Args, Script: c.Script, Sudo: c.Sudo, Stdin: bytes.NewReader(in)})
	if h.recordOnly {
		if c.Args != nil && c.Args[0] == "getent" { // the test's own ids, which SFTP can give a file
			return Result{Stdout: fmt.Sprintf("%s:x:%d:%d::/:/bin/false\n", c.Args[2], os.Getuid(), os.Getgid())}
		}
		return Result{}
	}
	var cmd *exec.Cmd
	if c.Args != nil {
		cmd = exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", c.Script)
	}
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String(), Err: err}
	if ee, ok := err.(*exec.ExitError); ok {
		r.ExitCode, r.Exited = ee.ExitCode(), true
	}
	return r
}

// The commands and scripts the engine composes for the host (sudo
// writes and reads, sha256sum, removals, the helpers) are kept in
// testdata/commands.golden; every one of them is run, or parsed by sh -n.
func TestComposedCommands(t *testing.T) {
	T := t.TempDir()
	local, remote := filepath.Join(T, "local"), filepath.Join(T, "remote dir")
	os.MkdirAll(filepath.Join(local, "sub"), 0o755)
	os.MkdirAll(remote, 0o755)
	for _, f := range []string{"a.conf", "sub/b.conf"} {
		os.WriteFile(filepath.Join(local, f), []byte("new "+f+"\n"), 0o644)
	}
	os.WriteFile(filepath.Join(remote, "a.conf"), []byte("old a.conf\n"), 0o644) // same size, other content
	os.WriteFile(filepath.Join(remote, "gone"), []byte("x"), 0o644)
	tmpl := filepath.Join(T, "app.conf.tmpl")
	os.WriteFile(tmpl, []byte("workers={{.}}\n"), 0o644)
	for i := 0; i < batchFiles; i++ {
		os.MkdirAll(filepath.Join(T, "many"), 0o755)
		os.WriteFile(filepath.Join(T, "many", fmt.Sprint(i)), []byte("x"), 0o644)
	}

	cases := []struct {
		name       string
		recordOnly bool
		o          Options
		run        func(*Op) error
	}{
		{"put-sudo-mode", false, Options{Sudo: true, Mode: 0o640, ModeSet: true}, func(op *Op) error { return op.Put(filepath.Join(local, "a.conf"), remote+"/put.conf") }},
		{"put-sudo-owner", true, Options{Sudo: true, User: "www-data", Group: "www-data"}, func(op *Op) error { return op.Put(local, remote+"/tree") }},
		{"put-owner-by-name", true, Options{User: "www-data"}, func(op *Op) error { return op.Put(filepath.Join(local, "a.conf"), remote+"/owned.conf") }},
		{"put-many-sync-f", false, Options{}, func(op *Op) error { return op.Put(filepath.Join(T, "many"), remote+"/many") }},
		{"get-sudo-file", false, Options{Sudo: true}, func(op *Op) error { return op.Get(remote+"/a.conf", filepath.Join(T, "got", "{basename}")) }},
		{"get-sudo-glob", false, Options{Sudo: true}, func(op *Op) error { return op.Get(remote+"/*.conf", filepath.Join(T, "globbed", "{basename}")) }},
		{"sync-checksum", false, Options{Checksum: true}, func(op *Op) error { return op.Sync(local, remote) }},
		{"sync-sudo-delete", false, Options{Sudo: true, Delete: true}, func(op *Op) error { return op.Sync(local, remote) }},
		{"template-sudo", false, Options{Sudo: true}, func(op *Op) error { return op.Template(tmpl, remote+"/app.conf", 4) }},
		{"template-sudo-chmod", false, Options{Sudo: true, Mode: 0o600, ModeSet: true}, func(op *Op) error { return op.Template(tmpl, remote+"/app.conf", 4) }},
		{"exists-sudo", false, Options{Sudo: true}, func(op *Op) error { _, err := op.Exists(remote + "/a.conf"); return err }},
		{"mkdir-sudo", true, Options{Sudo: true, User: "app"}, func(op *Op) error { return op.EnsureDir(remote+"/d", 0o2775) }},
		{"symlink-sudo", true, Options{Sudo: true, Group: "app"}, func(op *Op) error { return op.Symlink("releases/1", remote+"/current") }},
	}
	random := regexp.MustCompile(`loom-[0-9a-f]{16}`)
	var b strings.Builder
	for _, c := range cases {
		h := &shellHost{fakeHost: fakeHost{name: "web1"}, recordOnly: c.recordOnly}
		op := New(h, c.name, c.o)
		if _, err := op.Finish(c.run(op)); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		fmt.Fprintf(&b, "=== %s\n", c.name)
		for _, cmd := range h.cmds {
			if cmd.Script != "" {
				if out, err := exec.Command("sh", "-n", "-c", cmd.Script).CombinedOutput(); err != nil {
					t.Errorf("%s: the script does not parse: %v: %s\n%s", c.name, err, out, cmd.Script)
				}
			}
			in, _ := io.ReadAll(cmd.Stdin)
			text := cmd.Script
			if cmd.Args != nil {
				text = fmt.Sprintf("argv %q", cmd.Args)
			}
			fmt.Fprintf(&b, "--- sudo=%v stdin=%s\n%s\n", cmd.Sudo, stdinText(in), strings.TrimSuffix(text, "\n"))
		}
		h.slot.Close()
	}
	fmt.Fprintf(&b, "=== janitor\n--- stdin=the temporary files, one a line\n%s\n", janitorScript)
	if out, err := exec.Command("sh", "-n", "-c", janitorScript).CombinedOutput(); err != nil {
		t.Errorf("the janitor script does not parse: %v: %s", err, out)
	}
	got := random.ReplaceAllString(strings.ReplaceAll(b.String(), T, "$T"), "loom-RANDOM")
	golden := filepath.Join("testdata", "commands.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Fatalf("composed commands differ from %s at line %d:\n got: %q\nwant: %q\n(run with -update if the change is meant)", golden, i+1, g[i], w[i])
			}
		}
		t.Fatalf("composed commands differ from %s in length (%d lines, want %d)", golden, len(g), len(w))
	}
}

// stdinText describes a command's input for the golden file: NUL-separated
// path lists as they are, a tar archive by its size.
func stdinText(in []byte) string {
	switch {
	case len(in) == 0:
		return "none"
	case len(in) >= 512 && bytes.Contains(in[257:263], []byte("ustar")):
		return "tar"
	}
	return fmt.Sprintf("%q", in)
}
