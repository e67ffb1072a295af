package loomfile

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomssh/loom"
)

// benchBuildProject writes benchLoomfile(30) to a directory that is in no
// Go module (so it builds apart, against Loom's embedded source, as in a
// Django or Rails project), and returns it found and parsed, with a build
// configuration whose cache is a fresh directory.
func benchBuildProject(b *testing.B) (*Project, *Info, BuildConfig) {
	b.Helper()
	root := b.TempDir()
	write(b, root, benchLoomfile(30))
	p, err := Find(root, "")
	if err != nil {
		b.Fatal(err)
	}
	if p.GoMod != "" {
		b.Skipf("the temporary directory is inside a Go module (%s)", p.GoMod)
	}
	info, err := Parse(p)
	if err != nil {
		b.Fatal(err)
	}
	return p, info, BuildConfig{CacheDir: b.TempDir(), Version: "bench", Source: loom.Source()}
}

// sourceSize is the number of bytes of the files of src.
func sourceSize(b *testing.B, src fs.FS) int64 {
	var n int64
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkCacheKey measures the cache key of a loomfile of 30 tasks in
// no module, with the hash of Loom's source already known (it is hashed
// once per process: see BenchmarkSourceHash).
func BenchmarkCacheKey(b *testing.B) {
	p, info, cfg := benchBuildProject(b)
	bl, err := newBuilder(p, info, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bl.cacheKey(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSourceHash measures hashing Loom's embedded source, which every
// loom process that builds, or looks in the cache for, a loomfile in no
// module does once.
func BenchmarkSourceHash(b *testing.B) {
	src := loom.Source()
	b.SetBytes(sourceSize(b, src))
	b.ReportAllocs()
	for b.Loop() {
		sourceHashes.Delete(src)
		sourceHash(src)
	}
}

// BenchmarkCachedBuild measures what the loom command does for `loom
// TASK` before it execs the compiled program, when the program is cached:
// find and parse the loomfile (30 tasks), generate main, hash Loom's source
// (as a new process would: not remembered between iterations) and the
// rest of the cache key, and find the program. Nothing is compiled: the
// cache holds a stand-in file under the key.
func BenchmarkCachedBuild(b *testing.B) {
	p, info, cfg := benchBuildProject(b)
	bl, err := newBuilder(p, info, cfg)
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(bl.cache, "bin", bl.key)
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sourceHashes.Delete(cfg.Source)
		p, err := Find(p.Dir, "")
		if err != nil {
			b.Fatal(err)
		}
		info, err := Parse(p)
		if err != nil {
			b.Fatal(err)
		}
		got, built, err := Build(ctx, p, info, cfg)
		if err != nil || built || got != bin {
			b.Fatalf("Build: %s, built %v, %v; want the cached %s", got, built, err, bin)
		}
	}
}

// BenchmarkGenerate measures generating the main of a loomfile of 30
// tasks: its task table as JSON, and gofmt'ed source.
func BenchmarkGenerate(b *testing.B) {
	_, info, _ := benchBuildProject(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(info); err != nil {
			b.Fatal(err)
		}
	}
}
