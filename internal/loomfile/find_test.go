package loomfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const tagged = "//go:build loom\n\npackage main\n\n// Up brings it up.\nfunc Up() {}\n"

func rels(t *testing.T, base string, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		r, err := filepath.Rel(base, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(r))
	}
	return out
}

func TestFindTaggedUpward(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"go.mod":           "module example.com/shop\n",
		"app.go":           "package shop\n",
		"loomfile.go":      tagged,
		"db.go":            "// Copyright\n\n//go:build loom && !plan9\n\npackage main\n\nfunc Db() {}\n",
		"notloom.go":       "//go:build !loom\n\npackage main\n",
		"other_tag.go":     "//go:build mage\n\npackage main\n",
		"win_windows.go":   "//go:build loom\n\npackage main\n",
		"loomfile_test.go": "//go:build loom\n\npackage main\n",
		"_hidden.go":       "//go:build loom\n\npackage main\n",
		"broken.go":        "//go:build loom\n\npackage main\n\nfunc Broken( {\n",
		"a/b/c.txt":        "",
		"a/b/nothing.go":   "package b\n",
		"a/unrelated/x.go": "//go:build loom\n\npackage main\n",
	})
	p, err := Find(filepath.Join(root, "a", "b"), "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Dir != root || !p.Tagged || p.OwnModule || p.Package != "main" || p.GoMod != filepath.Join(root, "go.mod") {
		t.Errorf("project = %+v", p)
	}
	if got, want := rels(t, root, p.Files), []string{"broken.go", "db.go", "loomfile.go"}; !reflect.DeepEqual(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	// The broken file is found, and Parse names it, relative to where Find started.
	_, err = Parse(p)
	if err == nil || !strings.HasPrefix(err.Error(), filepath.FromSlash("../../broken.go:5:")) {
		t.Errorf("Parse error = %v, want one at ../../broken.go:5", err)
	}

	os.Remove(filepath.Join(root, "broken.go"))
	p, err = Find(root, "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Tasks) != 2 || info.Tasks[1].Pos != "loomfile.go:6" {
		t.Errorf("tasks = %+v %+v", info.Tasks[0], info.Tasks[1])
	}
}

func TestFindLoomfilesDir(t *testing.T) {
	for _, ownMod := range []bool{false, true} {
		t.Run(map[bool]string{false: "no go.mod", true: "own go.mod"}[ownMod], func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{
				"go.mod":                  "module example.com/shop\n",
				"main.go":                 "package main\n",
				"sub/dir/x.go":            "package dir\n",
				"loomfiles/deploy.go":     "package main\n\nfunc Deploy() {}\n",
				"loomfiles/db.go":         tagged,
				"loomfiles/doc_test.go":   "package main\n",
				"loomfiles/README.md":     "",
				"loomfiles/ignored.go":    "//go:build ignore\n\npackage main\n",
				"loomfiles/internal/a.go": "package internal\n",
			}
			if ownMod {
				files["loomfiles/go.mod"] = "module example.com/shop/loomfiles\n"
			}
			write(t, root, files)
			for _, start := range []string{root, filepath.Join(root, "sub", "dir"), filepath.Join(root, "loomfiles")} {
				p, err := Find(start, "")
				if err != nil {
					t.Fatal(err)
				}
				wantMod := filepath.Join(root, "go.mod")
				if ownMod {
					wantMod = filepath.Join(root, "loomfiles", "go.mod")
				}
				if p.Dir != filepath.Join(root, "loomfiles") || p.Tagged || p.OwnModule != ownMod || p.GoMod != wantMod {
					t.Errorf("from %s: project = %+v", start, p)
				}
				if got, want := rels(t, p.Dir, p.Files), []string{"db.go", "deploy.go"}; !reflect.DeepEqual(got, want) {
					t.Errorf("files = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestFindNearestWins(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"loomfile.go":             tagged,
		"svc/loomfiles/main.go":   "package main\n",
		"svc/deep/er/placeholder": "",
	})
	p, err := Find(filepath.Join(root, "svc", "deep", "er"), "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Dir != filepath.Join(root, "svc", "loomfiles") {
		t.Errorf("Dir = %s", p.Dir)
	}
}

func TestFindExplicit(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"ops/deploy.go":      "package main\n\nfunc Deploy() {}\n",
		"ops/db.go":          "package main\n",
		"ops/go.mod":         "module ops\n",
		"mixed/app.go":       "package app\n",
		"mixed/loomfile.go":  tagged,
		"mixed/loomfile2.go": tagged,
		"x/loomfiles/a.go":   "package main\n",
		"x/loomfiles/b.go":   tagged,
		"single/tasks.go":    "package main\n",
		"empty/README":       "",
		"notes.txt":          "",
	})
	for _, tc := range []struct {
		file      string
		dir       string
		files     []string
		tagged    bool
		ownModule bool
	}{
		{"ops", "ops", []string{"db.go", "deploy.go"}, false, true},
		{filepath.Join(root, "ops"), "ops", []string{"db.go", "deploy.go"}, false, true},
		{"ops/deploy.go", "ops", []string{"deploy.go"}, false, true},
		{"mixed", "mixed", []string{"loomfile.go", "loomfile2.go"}, true, false},
		{"mixed/loomfile2.go", "mixed", []string{"loomfile2.go"}, true, false},
		{"x/loomfiles", "x/loomfiles", []string{"a.go", "b.go"}, false, false},
		{"single/tasks.go", "single", []string{"tasks.go"}, false, false},
	} {
		p, err := Find(root, tc.file)
		if err != nil {
			t.Errorf("-f %s: %v", tc.file, err)
			continue
		}
		if p.Dir != filepath.Join(root, tc.dir) || p.Tagged != tc.tagged || p.OwnModule != tc.ownModule {
			t.Errorf("-f %s: project = %+v", tc.file, p)
		}
		if got := rels(t, p.Dir, p.Files); !reflect.DeepEqual(got, tc.files) {
			t.Errorf("-f %s: files = %q, want %q", tc.file, got, tc.files)
		}
	}
	for file, want := range map[string]string{
		"missing.go":   "-f missing.go: no such file or directory",
		"notes.txt":    "-f notes.txt: a loomfile is a .go file (not a _test.go file) or a directory",
		"empty":        "-f empty: no .go files in the directory",
		"mixed/app.go": filepath.FromSlash("mixed/app.go:1: package app: a loomfile is package main"),
	} {
		_, err := Find(root, file)
		if err == nil || err.Error() != want {
			t.Errorf("-f %s: error %v, want %q", file, err, want)
		}
	}
}

func TestFindErrors(t *testing.T) {
	t.Run("not found", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, map[string]string{"a/main.go": "package main\n", "a/b/x.go": "//go:build mage\n\npackage main\n"})
		start := filepath.Join(root, "a", "b")
		_, err := find(start, "", root)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("error %v, want ErrNotFound", err)
		}
		for _, want := range []string{start, "loomfiles/", "//go:build loom", "loom init", "-f"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
	t.Run("both", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, map[string]string{"loomfile.go": tagged, "loomfiles/a.go": "package main\n"})
		_, err := Find(root, "")
		if err == nil || !strings.Contains(err.Error(), "both a loomfiles/ directory and files tagged //go:build loom (loomfile.go)") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("empty loomfiles", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, map[string]string{"loomfiles/README.md": "", "loomfiles/x_test.go": "package main\n"})
		_, err := Find(root, "")
		if err == nil || err.Error() != filepath.Join(root, "loomfiles")+": no .go files in the directory (run loom init to write a loomfile)" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("not main", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, map[string]string{"loomfiles/a.go": "// Package ops.\npackage ops\n"})
		_, err := Find(filepath.Join(root, "loomfiles"), "")
		if err == nil || err.Error() != "a.go:2: package ops: a loomfile is package main" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("start is not a directory", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, map[string]string{"f": ""})
		if _, err := Find(filepath.Join(root, "f"), ""); err == nil {
			t.Error("no error")
		}
		if _, err := Find(filepath.Join(root, "nope"), ""); err == nil {
			t.Error("no error")
		}
	})
}

func TestReadHeader(t *testing.T) {
	for src, want := range map[string]string{
		"package main\n": "main",
		"\ufeff// c\n/* c */ package main; func f(":               "main",
		"//go:build loom\n\n// Package x.\npackage x // trailing": "x",
		"func f() {}\n": "",
		"package\n":     "",
		"":              "",
		// Package clauses beyond the first read, cut by it, and too far.
		"// " + strings.Repeat("x", firstHeader-14) + "\npackage main\n": "main",
		"// " + strings.Repeat("x", firstHeader-12) + "\npackage main\n": "main",
		"/* " + strings.Repeat("x", 10000) + " */\npackage main\n":       "main",
		"/* " + strings.Repeat("x", maxHeader) + " */\npackage main\n":   "",
	} {
		p := filepath.Join(t.TempDir(), "f.go")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := readHeader(p).pkg; got != want {
			t.Errorf("readHeader(%q).pkg = %q, want %q", src, got, want)
		}
	}
}
