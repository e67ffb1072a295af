package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const completionLoomfile = `//go:build loom

package main

import "github.com/loomssh/loom"

// Deploy deploys VERSION.
func Deploy(c *loom.Conn, version string, wait *int) error { return nil }

// DB holds database tasks.
type DB loom.Namespace

// Migrate migrates.
func (DB) Migrate(c *loom.Conn, steps int) error { return nil }

var Aliases = map[string]any{"d": Deploy}
`

// completionDir makes a project with a loomfile, a loom.yaml and an
// ssh_config, and moves into it.
func completionDir(t *testing.T) (cfg string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(completionLoomfile), 0o644)
	os.WriteFile(filepath.Join(dir, "loom.yaml"), []byte("hosts:\n  web[1-2]: {roles: [web]}\n  db1: {roles: [db, staging]}\n"), 0o600)
	cfg = filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte("Host bastion jump-*\n  User x\nHost *.internal\nHost=gw\n"), 0o600)
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(dir)
	return cfg
}

// TestComplete: flags, subcommands, tasks and aliases, a task's named
// arguments, roles within an -R expression, hosts of the inventory and
// of ssh_config, and file names where a path goes.
func TestComplete(t *testing.T) {
	cfg := completionDir(t)
	for _, tc := range []struct {
		line string
		want []string // all of these, and nothing that does not match
		not  []string
	}{
		{"loom ", []string{"deploy", "db:migrate", "d", "put", "ssh", "completion"}, nil},
		{"loom de", []string{"deploy"}, []string{"db:migrate", "put"}},
		{"loom db:", []string{"db:migrate"}, []string{"deploy"}},
		{"loom -R web de", []string{"deploy"}, nil},
		{"loom --ba", []string{"--batch"}, []string{"--json"}},
		{"loom -", []string{"-H", "--hosts", "--pause", "--pick", "--echo", "--"}, nil},
		{"loom deploy v1 --", []string{"--version=", "--wait="}, []string{"--batch"}},
		{"loom db:migrate --st", []string{"--steps="}, nil},
		{"loom -R ", []string{"web", "db", "staging", "all"}, nil},
		{"loom -R web&st", []string{"web&staging"}, []string{"web"}},
		{"loom --roles=web,!d", []string{"--roles=web,!db"}, nil},
		{"loom -F " + cfg + " -H ", []string{"web1", "web2", "db1", "bastion", "gw", "@failed"}, []string{"jump-*", "*.internal"}},
		{"loom -F " + cfg + " ssh b", []string{"bastion"}, []string{"web1"}},
		{"loom -f ", []string{filesMarker}, nil},
		{"loom put ", []string{filesMarker}, nil},
		{"loom completion ", []string{"bash", "zsh", "fish"}, nil},
		{"loom help d", []string{"deploy", "db:migrate", "d"}, nil},
		{"loom -H web1 -- ", nil, []string{"deploy"}},
		{"loom --hide std", []string{"stdout", "stderr"}, nil},
	} {
		got := complete(tc.line, nil)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %v lacks %q", tc.line, got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("%q: %v has %q", tc.line, got, w)
			}
		}
	}
}

// TestCompletionScripts: the bash, zsh and fish scripts load in their
// shells, and bash's (and zsh's, through its function) completes a task
// name through the loom command.
func TestCompletionScripts(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	bin := filepath.Join(t.TempDir(), "loom")
	build := exec.Command("go", "build", "-o", bin, "./cmd/loom")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	completionDir(t)
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	script := func(shell string) string {
		var out bytes.Buffer
		if code := Run(context.Background(), []string{"completion", shell}, Env{Stdout: &out, Stderr: &out}); code != 0 {
			t.Fatalf("completion %s: %d %s", shell, code, out.String())
		}
		f := filepath.Join(t.TempDir(), "loom."+shell)
		os.WriteFile(f, out.Bytes(), 0o600)
		return f
	}
	if _, err := exec.LookPath("bash"); err == nil {
		f := script("bash")
		cmd := exec.Command("bash", "--norc", "-c", `source "$0" || exit 9
COMP_LINE="loom db:mi"; COMP_POINT=${#COMP_LINE}
COMP_WORDS=(loom db : mi); COMP_CWORD=3
_loom
printf '%s\n' "${COMPREPLY[@]}"
COMP_LINE="loom dep"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(loom dep); COMP_CWORD=1
_loom
printf '%s\n' "${COMPREPLY[@]}"
complete -p loom`, f)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "migrate\n") || !strings.Contains(string(out), "deploy\n") || !strings.Contains(string(out), "complete -o default -F _loom loom") {
			t.Errorf("bash: %v\n%s", err, out)
		}
	} else {
		t.Log("no bash")
	}
	if _, err := exec.LookPath("zsh"); err == nil {
		f := script("zsh")
		cmd := exec.Command("zsh", "-f", "-c", `autoload -Uz compinit && compinit -u -D || exit 8
source "$0" || exit 9
(( $+functions[_loom] )) || exit 7
[[ "$_comps[loom]" == _loom ]] || exit 6
compadd() { shift $(( ${@[(i)--]} )); print -l -- "$@"; }
LBUFFER="loom dep" _loom`, f)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "deploy") {
			t.Errorf("zsh: %v\n%s", err, out)
		}
	} else {
		t.Log("no zsh")
	}
	if _, err := exec.LookPath("fish"); err == nil {
		f := script("fish")
		cmd := exec.Command("fish", "--no-config", "-c", "source $argv[1]; and complete -C'loom dep'", f)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "deploy") {
			t.Errorf("fish: %v\n%s", err, out)
		}
	}
}

// moduleRoot is the directory of go.mod, from this package's.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
