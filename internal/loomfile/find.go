package loomfile

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/loomssh/loom/internal/trust"
)

// DirName is the name of a directory of loomfiles: every .go file in it is a
// loomfile, with or without the loom build tag.
const DirName = "loomfiles"

// Tag is the build tag that marks a loomfile outside a loomfiles directory:
// a file starting with //go:build loom.
const Tag = "loom"

// ErrNotFound is returned, wrapped, by [Find] when no loomfile exists in the
// directory or any parent.
var ErrNotFound = errors.New("no loomfile found")

// Project is a set of loomfiles: the files of one package main whose
// exported functions are tasks.
type Project struct {
	// Dir is the absolute path of the directory holding the files.
	Dir string
	// Files are the absolute paths of the loomfiles, sorted.
	Files []string
	// Tagged reports that the files were chosen by the loom build tag
	// (the loomfile.go convention) among other Go files of Dir, rather
	// than being all the Go files of a loomfiles directory.
	Tagged bool
	// OwnModule reports that the files are a whole directory (not a tagged
	// subset) and that directory holds a go.mod: the loomfiles are a module
	// of their own, with their own requirements and Loom version, and the
	// application's go.mod is left alone.
	OwnModule bool
	// GoMod is the go.mod of the module Dir belongs to: Dir's own, or the
	// nearest one above it; empty when Dir is in no module (say, a Django
	// or Rails project).
	GoMod string
	// Package is the files' package name. Find accepts only "main".
	Package string

	// wd is the directory Find started from. Positions in errors and in
	// Task.Pos name files relative to it, as the go command does.
	wd string
}

// display is how messages name path: relative to the directory Find
// started from when there is one, else as given.
func (p *Project) display(path string) string {
	if p.wd == "" {
		return path
	}
	if rel, err := filepath.Rel(p.wd, path); err == nil {
		return rel
	}
	return path
}

// Find locates the loomfiles to use.
//
// With file set (the -f flag), it names a .go file (used alone) or a
// directory: all the Go files of a directory named loomfiles, else the
// directory's Go files tagged loom if it has any, else all its Go files. A
// relative file is taken relative to dir.
//
// Without file, Find searches dir and then each parent directory up to the
// file system root. In each it looks for a loomfiles subdirectory and for Go
// files carrying the loom build tag (files that are built with the tag and
// not without it, so //go:build loom && linux counts and //go:build !loom
// does not); the first directory with either wins (a search starting inside
// a loomfiles directory finds that directory). Finding both in one
// directory is an error: -f chooses. In every case _test.go files, files
// starting with _ or ., and files excluded by GOOS/GOARCH file name
// suffixes or build constraints are left out, and the files must all be
// package main. A file whose package clause cannot be read is kept in a
// loomfiles directory, so that Parse reports its syntax error, and is
// skipped elsewhere.
//
// Loomfiles found by the search are used only when the files, their
// directory and the go.mod they build with are owned by the user or root
// and writable by nobody else (see package trust); otherwise Find returns
// an error saying why and that -f names them. Files named with -f are
// used as given.
//
// When nothing is found the error wraps [ErrNotFound] and says where Find
// looked and how to start one.
func Find(dir, file string) (*Project, error) {
	return find(dir, file, "")
}

// find is Find with a directory where the upward search stops (after
// looking in it); "" means the file system root. Tests use it to keep a
// stray loomfile in a parent of the temporary directory from being found.
func find(dir, file, stop string) (*Project, error) {
	if dir == "" {
		dir = "."
	}
	wd, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(wd)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	m := newMatcher()
	if file != "" {
		return findExplicit(m, wd, file)
	}
	for d := wd; ; {
		p, err := lookIn(m, wd, d)
		if p != nil && err == nil {
			err = trustFound(p)
		}
		if err != nil {
			return nil, err
		}
		if p != nil {
			return p, nil
		}
		parent := filepath.Dir(d)
		if d == stop || parent == d {
			break
		}
		d = parent
	}
	return nil, fmt.Errorf("%w in %s or any parent directory (looked for a %s/ directory and for *.go files with //go:build %s): run loom init to write one, or name one with -f", ErrNotFound, wd, DirName, Tag)
}

// trustFound refuses loomfiles found by searching upward that someone
// other than the user (or root) owns or could have written: the files,
// the directory holding them, and the go.mod they build with. This is
// git's safe.directory rule (a repository another user owns is not used
// unless named) with modes added, since a loomfile is code that runs as
// the user. The files and their directory are both checked: another
// user's file is their code, and a directory others may write lets them
// add a loomfile or replace one. Named with -f, loomfiles are used as
// given.
func trustFound(p *Project) error {
	paths := append(slices.Clone(p.Files), p.Dir)
	if p.GoMod != "" {
		paths = append(paths, p.GoMod, filepath.Dir(p.GoMod))
	}
	for _, path := range paths {
		if err := trust.Found(path); err != nil {
			name := p.Dir
			if len(p.Files) == 1 && p.Tagged {
				name = p.Files[0]
			}
			return fmt.Errorf("%v: loomfiles found by searching upward are used only when they are yours (or root's) and nobody else may write them, as git does with a repository; if you trust them, name them: -f %s", err, name)
		}
	}
	return nil
}

// findExplicit handles -f PATH.
func findExplicit(m *matcher, wd, file string) (*Project, error) {
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(wd, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", file, unwrapPath(err))
	}
	if fi.IsDir() {
		mode := preferTagged
		if filepath.Base(path) == DirName {
			mode = allFiles
		}
		files, tagged, err := goFiles(m, path, mode)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("-f %s: no .go files in the directory", file)
		}
		return newProject(wd, path, files, tagged)
	}
	if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
		return nil, fmt.Errorf("-f %s: a loomfile is a .go file (not a _test.go file) or a directory", file)
	}
	_, loomOnly := m.match(path, true)
	return newProject(wd, filepath.Dir(path), []string{path}, loomOnly)
}

// lookIn looks for loomfiles in dir: a loomfiles subdirectory or tagged
// files. It returns nil, nil when there are neither.
func lookIn(m *matcher, wd, dir string) (*Project, error) {
	if filepath.Base(dir) == DirName {
		// Started inside a loomfiles directory: it is the whole set,
		// tagged files or not.
		if files, _, err := goFiles(m, dir, allFiles); err == nil && len(files) > 0 {
			return newProject(wd, dir, files, false)
		}
	}
	sub := filepath.Join(dir, DirName)
	hasSub := false
	if fi, err := os.Stat(sub); err == nil && fi.IsDir() {
		hasSub = true
	}
	tagged, _, err := goFiles(m, dir, taggedOnly)
	if err != nil {
		tagged = nil // an unreadable parent directory is not ours to report
	}
	switch {
	case hasSub && len(tagged) > 0:
		return nil, fmt.Errorf("%s: both a %s/ directory and files tagged //go:build %s (%s): remove one, or choose with -f", dir, DirName, Tag, filepath.Base(tagged[0]))
	case len(tagged) > 0:
		return newProject(wd, dir, tagged, true)
	case hasSub:
		files, _, err := goFiles(m, sub, allFiles)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no .go files in the directory (run loom init to write a loomfile)", sub)
		}
		return newProject(wd, sub, files, false)
	}
	return nil, nil
}

// selection says which Go files of a directory are loomfiles.
type selection int

const (
	taggedOnly   selection = iota // files carrying the loom tag (searching upward)
	allFiles                      // every file built with the tag (a loomfiles directory)
	preferTagged                  // the tagged files if any, else all (-f DIR)
)

// goFiles returns the Go files of dir that are loomfiles under mode, and
// whether they were chosen by the tag.
func goFiles(m *matcher, dir string, mode selection) (files []string, tagged bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	var all, only []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		with, loomOnly := m.match(path, mode != taggedOnly)
		if loomOnly {
			only = append(only, path)
		}
		if with {
			all = append(all, path)
		}
	}
	if mode == taggedOnly || mode == preferTagged && len(only) > 0 {
		return only, len(only) > 0, nil
	}
	return all, false, nil
}

// newProject checks the files' package clauses and fills in a Project.
func newProject(wd, dir string, files []string, tagged bool) (*Project, error) {
	slices.Sort(files)
	p := &Project{Dir: dir, Files: files, Tagged: tagged, wd: wd}
	for _, f := range files {
		h := readHeader(f)
		if h.pkg == "" {
			// No readable package clause: Parse reports the syntax error.
			continue
		}
		if h.pkg != "main" {
			return nil, fmt.Errorf("%s:%d: package %s: a loomfile is package main", p.display(f), h.line, h.pkg)
		}
		p.Package = "main"
	}
	if p.Package == "" {
		p.Package = "main"
	}
	if !tagged && isFile(filepath.Join(dir, "go.mod")) {
		p.OwnModule = true
	}
	for d := dir; ; d = filepath.Dir(d) {
		if gm := filepath.Join(d, "go.mod"); isFile(gm) {
			p.GoMod = gm
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return p, nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// unwrapPath drops the "stat PATH: " of an *os.PathError, which the caller
// has already said.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// header is what precedes a Go file's declarations: its leading comments
// (where build constraints live) and its package clause.
type header struct {
	text []byte // the leading comments and a clean package clause
	pkg  string // "" when there is no package clause
	line int    // of the package clause
}

// Header reads: most package clauses are within the first few kilobytes;
// a long licence comment may push one further, up to maxHeader.
const (
	firstHeader = 4 << 10
	maxHeader   = 64 << 10
)

// readHeader reads the start of a Go file up to its package clause. Only
// that part is handed to go/build, so a syntax error later in the file
// cannot hide the file from discovery (Parse reports it instead).
func readHeader(path string) header {
	f, err := os.Open(path)
	if err != nil {
		return header{}
	}
	defer f.Close()
	buf := make([]byte, firstHeader)
	n, _ := io.ReadFull(f, buf)
	h, end := scanHeader(path, buf[:n])
	if n == len(buf) && (h.pkg == "" || end >= n) {
		// Cut short: the clause may be further on, or its name cut.
		more, _ := io.ReadAll(io.LimitReader(f, maxHeader-firstHeader))
		h, _ = scanHeader(path, append(buf, more...))
	}
	return h
}

// scanHeader finds the package clause in src, returning the header and
// the offset just after the package name.
func scanHeader(path string, src []byte) (header, int) {
	fset := token.NewFileSet()
	tf := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(tf, src, nil, scanner.ScanComments)
	for {
		pos, tok, _ := s.Scan()
		switch tok {
		case token.COMMENT:
			continue
		case token.PACKAGE:
			npos, tok2, name := s.Scan()
			if tok2 != token.IDENT {
				return header{}, 0
			}
			off := tf.Offset(pos)
			text := append(src[:off:off], "package "+name+"\n"...)
			return header{text: text, pkg: name, line: tf.Line(pos)}, tf.Offset(npos) + len(name)
		default:
			return header{}, 0
		}
	}
}

// matcher decides which files go/build would include, with and without
// the loom tag. It hands go/build each file's header only.
type matcher struct {
	with, without build.Context
	cur           []byte
}

func newMatcher() *matcher {
	m := &matcher{with: build.Default, without: build.Default}
	m.with.BuildTags = append(slices.Clone(build.Default.BuildTags), Tag)
	open := func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(m.cur)), nil
	}
	m.with.OpenFile = open
	m.without.OpenFile = open
	return m
}

// match reports whether path is built with the loom tag, and whether it is
// built only with it (carries the tag). A file without a readable package
// clause counts as built, but not as tagged, when lenient is set (in a
// loomfiles directory, so that Parse reports its syntax error); otherwise
// it does not count at all.
func (m *matcher) match(path string, lenient bool) (with, loomOnly bool) {
	h := readHeader(path)
	if h.pkg == "" {
		return lenient, false
	}
	m.cur = h.text
	dir, name := filepath.Split(path)
	with, err := m.with.MatchFile(dir, name)
	if err != nil || !with {
		return false, false
	}
	without, err := m.without.MatchFile(dir, name)
	if err != nil {
		return true, false
	}
	return true, !without
}
