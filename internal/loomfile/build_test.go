package loomfile

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRequirements(t *testing.T) {
	gomod := []byte(`module example.com/app // the app

go 1.26

require github.com/loomssh/loom v1.2.3
require (
	golang.org/x/crypto v0.59.0 // indirect
	// a comment
	github.com/pkg/sftp v1.13.12
)
replace example.com/x => ../x
`)
	if got := modulePath(gomod); got != "example.com/app" {
		t.Fatalf("modulePath: %q", got)
	}
	want := [][2]string{{"github.com/loomssh/loom", "v1.2.3"}, {"golang.org/x/crypto", "v0.59.0"}, {"github.com/pkg/sftp", "v1.13.12"}}
	if got := requirements(gomod); !slices.Equal(got, want) {
		t.Fatalf("requirements: %v", got)
	}
	if !requires(gomod, LoomPath) || requires(gomod, "example.com/x") {
		t.Fatal("requires")
	}
}

func TestGenerate(t *testing.T) {
	info := &Info{Tasks: []*Task{
		{Name: "deploy", Func: "Deploy", Kind: Host},
		{Name: "db:migrate", Func: "DB.Migrate", Namespace: "DB", Kind: Host},
	}}
	src, err := Generate(info)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "gen.go", src, 0); err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, src)
	}
	for _, want := range []string{`Func("deploy", Deploy)`, `Func("db:migrate", new(DB).Migrate)`, `"` + TaskMainPath + `"`, "DO NOT EDIT"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("generated code lacks %s:\n%s", want, src)
		}
	}
}

// writeProject writes files (name → content) into a fresh directory and
// finds the loomfiles there.
func writeProject(t *testing.T, files map[string]string) (*Project, *Info) {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := find(dir, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, info
}

const tinyLoomfile = `//go:build loom

package main

import "github.com/loomssh/loom"

// Hello says hello.
func Hello(c *loom.Conn) error { return c.Run("echo", "hello").Err }
`

func TestBuildChoosesItsModule(t *testing.T) {
	cfg := BuildConfig{CacheDir: t.TempDir(), GoCmd: "/bin/true", Source: os.DirFS(".")}
	// In an app's module that does not require Loom: built apart.
	p, info := writeProject(t, map[string]string{"go.mod": "module example.com/app\n\ngo 1.26\n", "loomfile.go": tinyLoomfile})
	b, err := newBuilder(p, info, cfg)
	if err != nil || b.modRoot != "" {
		t.Fatalf("app module without Loom: modRoot %q, %v", b.modRoot, err)
	}
	// ... unless the loomfile imports the app's own packages.
	p, info = writeProject(t, map[string]string{
		"go.mod":      "module example.com/app\n\ngo 1.26\n",
		"loomfile.go": strings.Replace(tinyLoomfile, `import "github.com/loomssh/loom"`, "import (\n\t\"github.com/loomssh/loom\"\n\t_ \"example.com/app/config\"\n)", 1),
	})
	if _, err := newBuilder(p, info, cfg); err == nil || !strings.Contains(err.Error(), "example.com/app/config") || !strings.Contains(err.Error(), "go get") {
		t.Fatalf("app module importing itself: %v", err)
	}
	// A module that requires Loom: built in it.
	p, info = writeProject(t, map[string]string{"go.mod": "module example.com/app\n\ngo 1.26\n\nrequire github.com/loomssh/loom v1.0.0\n", "loomfile.go": tinyLoomfile})
	if b, err := newBuilder(p, info, cfg); err != nil || b.modRoot != p.Dir {
		t.Fatalf("module requiring Loom: %+v %v", b, err)
	}
	// No module, and no source to build with.
	p, info = writeProject(t, map[string]string{"loomfile.go": tinyLoomfile})
	if _, err := newBuilder(p, info, BuildConfig{CacheDir: cfg.CacheDir, GoCmd: "/bin/true"}); err == nil || !strings.Contains(err.Error(), "no source") {
		t.Fatalf("no module, no source: %v", err)
	}
	// A file of the generated file's name is refused.
	p, info = writeProject(t, map[string]string{"loomfile.go": tinyLoomfile, generatedName: "package main\n"})
	if _, err := newBuilder(p, info, cfg); err == nil || !strings.Contains(err.Error(), "rename yours") {
		t.Fatalf("generated name taken: %v", err)
	}
}

func TestCacheKeyFollowsTheSources(t *testing.T) {
	cfg := BuildConfig{CacheDir: t.TempDir(), GoCmd: "/bin/true", Source: os.DirFS("."), Version: "v1"}
	p, info := writeProject(t, map[string]string{"loomfile.go": tinyLoomfile})
	key := func(cfg BuildConfig) string {
		b, err := newBuilder(p, info, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b.key
	}
	k1 := key(cfg)
	if key(cfg) != k1 {
		t.Fatal("the key changes with nothing changed")
	}
	v2 := cfg
	v2.Version = "v2"
	if key(v2) == k1 {
		t.Fatal("the key ignores Loom's version")
	}
	t.Setenv("GOFLAGS", "-race")
	if key(cfg) == k1 {
		t.Fatal("the key ignores GOFLAGS")
	}
	t.Setenv("GOFLAGS", "")
	os.WriteFile(p.Files[0], []byte(tinyLoomfile+"\n// changed\n"), 0o644)
	if key(cfg) == k1 {
		t.Fatal("the key ignores the loomfile")
	}
}

func TestBuildErrorNamesTheUsersFile(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	p, info := writeProject(t, map[string]string{"loomfile.go": tinyLoomfile})
	// A fake go command that fails the way the compiler does, naming the
	// copy of the loomfile in the build directory.
	fake := filepath.Join(t.TempDir(), "go")
	os.WriteFile(fake, []byte("#!/bin/sh\necho '# loomtasks'\necho './loomfile.go:8:3: undefined: nope'\nexit 1\n"), 0o755)
	_, _, err := Build(context.Background(), p, info, BuildConfig{CacheDir: t.TempDir(), GoCmd: fake, Source: os.DirFS("../..")})
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("want a BuildError, got %v", err)
	}
	if want := "loomfile.go:8:3: undefined: nope\n"; be.Output != want { // relative to where Find started
		t.Fatalf("output %q, want %q", be.Output, want)
	}
}

func TestExplainMissing(t *testing.T) {
	out := "go: downloading golang.org/x/crypto v0.59.0\ngo: downloading github.com/pkg/sftp v1.13.12\nsrc/agent.go:13:2: module lookup disabled by GOPROXY=off\n"
	got := explainMissing(out)
	first, rest, _ := strings.Cut(got, "\n")
	if !strings.Contains(first, "golang.org/x/crypto@v0.59.0, github.com/pkg/sftp@v1.13.12") || !strings.Contains(first, "network") || rest != out {
		t.Fatalf("explained: %q", got)
	}
	if plain := "loomfile.go:3:1: undefined: x\n"; explainMissing(plain) != plain {
		t.Fatal("a compile error was changed")
	}
}

func TestPruneKeepsTheRecentAndTheNewest(t *testing.T) {
	cache := t.TempDir()
	bin := filepath.Join(cache, "bin")
	os.MkdirAll(bin, 0o700)
	for i, age := range []time.Duration{0, time.Hour, 40 * 24 * time.Hour, 50 * 24 * time.Hour, 59 * 24 * time.Hour} {
		name := filepath.Join(bin, fmt.Sprintf("p%d", i))
		os.WriteFile(name, nil, 0o700)
		when := time.Now().Add(-age)
		os.Chtimes(name, when, when)
	}
	Prune(cache, 30*24*time.Hour, 3)
	entries, _ := os.ReadDir(bin)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	// p0 and p1 are recent; p2 is old but among the three newest; p3 and p4 go.
	if !slices.Equal(left, []string{"p0", "p1", "p2"}) {
		t.Fatalf("left %v", left)
	}
}
