package loomfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loomssh/loom/internal/trust"
)

// CheckArg is the argument with which a compiled loomfile checks its
// task table against its functions and exits: 0 when they agree. Build
// runs it on every program it builds.
const CheckArg = "--loom-check-program"

// BuildConfig says where and with what Build builds.
type BuildConfig struct {
	// CacheDir holds the compiled programs; "": $LOOM_CACHE, else loom
	// in the user's cache directory (~/.cache/loom).
	CacheDir string
	// Version is Loom's version, a part of the cache key.
	Version string
	// Source is Loom's own module (go.mod, go.sum and its packages), for
	// loomfiles in no module that requires Loom: they build against it,
	// without the network. Nil: such loomfiles cannot be built.
	Source fs.FS
	// GoCmd is the go command; "": go, from PATH.
	GoCmd string
	// Building, if set, is called when Build is about to compile
	// (nothing cached), so a slow first build can be announced.
	Building func()
}

// BuildError is a loomfile that does not compile. Output is what the
// compiler said, with files named as the user knows them (relative to the
// working directory), so the first line points at the mistake.
type BuildError struct {
	Output string
}

func (e *BuildError) Error() string {
	return "the loomfile does not build:\n" + strings.TrimRight(e.Output, "\n")
}

// Build returns the path of the program made of p's loomfiles (info, as
// Parse read them) and a generated main. The program is cached under a
// key made of the loomfiles, the go.mod and go.sum in use, the sources of
// the module's own packages they import, the Go toolchain and environment
// and Loom's version, and rebuilt only when one of those changed. built
// reports that it was compiled now.
//
// A loomfile in a module that requires Loom (or in a loomfiles directory
// with a go.mod of its own) is built in its module, as `go build` would
// build it there. A loomfile in no module, or in a module that does not
// require Loom, is built in a module of its own in the cache against
// cfg.Source, Loom's own source at this binary's version, and the
// modules Loom needs from the local module cache, with the network off;
// only when that fails for want of a module (the loomfile imports one
// Loom does not use) is the network allowed.
func Build(ctx context.Context, p *Project, info *Info, cfg BuildConfig) (string, bool, error) {
	b, err := newBuilder(p, info, cfg)
	if err != nil {
		return "", false, err
	}
	if err := b.trustCache(); err != nil {
		return "", false, err
	}
	bin := filepath.Join(b.cache, "bin", b.key+exeSuffix)
	if trustedProgram(bin) {
		now := time.Now()
		os.Chtimes(bin, now, now) // for whoever prunes the cache by age
		return bin, false, nil
	}
	if cfg.Building != nil {
		cfg.Building()
	}
	if err := b.build(ctx, bin); err != nil {
		return "", false, err
	}
	return bin, true, nil
}

// builder is one Build.
type builder struct {
	p       *Project
	cfg     BuildConfig
	cache   string
	gocmd   string
	gen     []byte
	modRoot string // the module the loomfiles build in; "": their own, in the cache
	key     string
}

func newBuilder(p *Project, info *Info, cfg BuildConfig) (*builder, error) {
	b := &builder{p: p, cfg: cfg, cache: cfg.CacheDir, gocmd: cfg.GoCmd}
	if b.cache == "" {
		b.cache = os.Getenv("LOOM_CACHE")
	}
	if b.cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache directory for compiled loomfiles (set LOOM_CACHE): %v", err)
		}
		b.cache = filepath.Join(dir, "loom")
	}
	if abs, err := filepath.Abs(b.cache); err == nil {
		b.cache = abs
	}
	if b.gocmd == "" {
		gocmd, err := exec.LookPath("go")
		if err != nil {
			return nil, errors.New("loomfiles are compiled with Go, and no go command is in PATH: install Go (https://go.dev/dl) or use a loom --compile'd program")
		}
		b.gocmd = gocmd
	}
	if isFile(filepath.Join(p.Dir, generatedName)) {
		return nil, fmt.Errorf("%s: loom adds a file of that name to build the loomfiles: rename yours", p.display(filepath.Join(p.Dir, generatedName)))
	}
	gen, err := Generate(info)
	if err != nil {
		return nil, err
	}
	b.gen = gen
	if err := b.chooseModule(info); err != nil {
		return nil, err
	}
	if b.modRoot == "" && cfg.Source == nil {
		return nil, fmt.Errorf("%s: in no module that requires %s, and this loom carries no source of its own to build it with: add a go.mod", p.display(p.Dir), LoomPath)
	}
	key, err := b.cacheKey()
	if err != nil {
		return nil, err
	}
	b.key = key
	return b, nil
}

// chooseModule decides where the loomfiles build: in their module when
// it requires Loom (or is a loomfiles module), else in one of their own.
func (b *builder) chooseModule(info *Info) error {
	p := b.p
	if p.GoMod == "" {
		return nil
	}
	gomod, err := os.ReadFile(p.GoMod)
	if err != nil {
		return err
	}
	mod := modulePath(gomod)
	if p.OwnModule || mod == LoomPath || requires(gomod, LoomPath) {
		b.modRoot = filepath.Dir(p.GoMod)
		return nil
	}
	for _, imp := range info.Imports {
		if mod != "" && (imp == mod || strings.HasPrefix(imp, mod+"/")) {
			return fmt.Errorf("the loomfiles import %s from module %s, whose go.mod (%s) does not require %s: run `go get %s` there, or move the loomfiles to a loomfiles/ directory with a go.mod of its own",
				imp, mod, p.display(p.GoMod), LoomPath, LoomPath)
		}
	}
	return nil // build apart, so the application's go.mod stays as it is
}

var (
	moduleLine  = regexp.MustCompile(`(?m)^\s*module\s+("?)([^\s"]+)("?)\s*(//.*)?$`)
	requireLine = regexp.MustCompile(`^\s*(?:require\s+)?([^\s()"]+)\s+(v[^\s]+)`)
)

// modulePath returns the module path a go.mod declares.
func modulePath(gomod []byte) string {
	m := moduleLine.FindSubmatch(gomod)
	if m == nil {
		return ""
	}
	return string(m[2])
}

// requirements returns the module requirements of a go.mod, as
// "path version" lines, in order.
func requirements(gomod []byte) [][2]string {
	var out [][2]string
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		t := strings.TrimSpace(line)
		switch {
		case t == "require (":
			inBlock = true
			continue
		case inBlock && t == ")":
			inBlock = false
			continue
		case !inBlock && !strings.HasPrefix(t, "require "):
			continue
		}
		if m := requireLine.FindStringSubmatch(t); m != nil {
			out = append(out, [2]string{m[1], m[2]})
		}
	}
	return out
}

// requires reports whether a go.mod requires module mod.
func requires(gomod []byte, mod string) bool {
	for _, r := range requirements(gomod) {
		if r[0] == mod {
			return true
		}
	}
	return false
}

// cacheKey hashes everything the program depends on.
func (b *builder) cacheKey() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "loom build 1\nversion %s\n", b.cfg.Version)
	// The toolchain: the go command's identity and the environment that
	// changes what it builds.
	gocmd, err := filepath.EvalSymlinks(b.gocmd)
	if err != nil {
		gocmd = b.gocmd
	}
	if fi, err := os.Stat(gocmd); err == nil {
		fmt.Fprintf(h, "go %s %d %d\n", gocmd, fi.Size(), fi.ModTime().UnixNano())
	}
	for _, v := range []string{"GOOS", "GOARCH", "GOAMD64", "GOARM", "GOFLAGS", "CGO_ENABLED", "GOEXPERIMENT", "GOTOOLCHAIN", "GOROOT", "GOWORK"} {
		fmt.Fprintf(h, "env %s=%s\n", v, os.Getenv(v))
	}
	fmt.Fprintf(h, "generated %d\n%s\n", len(b.gen), b.gen)
	for _, f := range b.p.Files {
		src, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s %d\n", filepath.Base(f), len(src))
		h.Write(src)
	}
	if b.modRoot == "" {
		fmt.Fprintf(h, "own module\nsource %s\n", sourceHash(b.cfg.Source))
		return hex.EncodeToString(h.Sum(nil))[:32], nil
	}
	fmt.Fprintf(h, "module %s\n", b.modRoot)
	for _, name := range []string{"go.mod", "go.sum", "go.work", "go.work.sum"} {
		if src, err := os.ReadFile(filepath.Join(b.modRoot, name)); err == nil {
			fmt.Fprintf(h, "%s %d\n", name, len(src))
			h.Write(src)
		}
	}
	gomod, err := os.ReadFile(filepath.Join(b.modRoot, "go.mod"))
	if err != nil {
		return "", err
	}
	if err := localPackages(h, b.modRoot, modulePath(gomod), b.p.Files); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// localPackages writes to h the name, size and modification time of the
// Go files of every package of module mod (rooted at root) that files
// import, directly or not, and of Loom's taskmain when mod is Loom: a
// change to any of them rebuilds the program. Packages from other modules
// are pinned by go.sum.
func localPackages(h io.Writer, root, mod string, files []string) error {
	if mod == "" {
		return nil
	}
	seen := map[string]bool{}
	var queue []string
	add := func(imp string) {
		if imp != mod && !strings.HasPrefix(imp, mod+"/") || seen[imp] {
			return
		}
		seen[imp] = true
		queue = append(queue, imp)
	}
	imports := func(f string) {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil || af == nil {
			return
		}
		for _, is := range af.Imports {
			if p, err := strconv.Unquote(is.Path.Value); err == nil {
				add(p)
			}
		}
	}
	for _, f := range files {
		imports(f)
	}
	add(TaskMainPath)
	for len(queue) > 0 {
		imp := queue[0]
		queue = queue[1:]
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(imp, mod), "/")))
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // the compiler will say what is missing
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			fmt.Fprintf(h, "pkg %s %s %d %d\n", imp, name, fi.Size(), fi.ModTime().UnixNano())
			imports(filepath.Join(dir, name))
		}
	}
	return nil
}

var sourceHashes sync.Map // fs.FS → string

// sourceHash hashes the files of Loom's source.
func sourceHash(src fs.FS) string {
	if src == nil {
		return "none"
	}
	if v, ok := sourceHashes.Load(src); ok {
		return v.(string)
	}
	h := sha256.New()
	fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return nil
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
		return nil
	})
	sum := hex.EncodeToString(h.Sum(nil))[:32]
	sourceHashes.Store(src, sum)
	return sum
}

// build compiles the program to bin: into a temporary file next to it,
// checked with CheckArg, then renamed, so bin is whole or absent.
func (b *builder) build(ctx context.Context, bin string) error {
	// The cache holds programs loom runs: only their owner may write it
	// (trustCache made bin/ so).
	tmp, err := os.CreateTemp(filepath.Dir(bin), "build-*"+exeSuffix)
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if b.modRoot != "" {
		err = b.buildInModule(ctx, tmp.Name())
	} else {
		err = b.buildApart(ctx, tmp.Name())
	}
	if err != nil {
		return err
	}
	// Whatever the umask: a program in the cache is its owner's alone.
	if err := os.Chmod(tmp.Name(), 0o700); err != nil {
		return err
	}
	check := exec.CommandContext(ctx, tmp.Name(), CheckArg)
	if out, err := check.CombinedOutput(); err != nil {
		return &BuildError{Output: string(out)}
	}
	return os.Rename(tmp.Name(), bin)
}

// workDir makes a directory of this build's own: another loom may be
// building the same loomfile at the same time.
func (b *builder) workDir() (string, error) {
	if err := privateDir(filepath.Join(b.cache, "work")); err != nil {
		return "", err
	}
	return os.MkdirTemp(filepath.Join(b.cache, "work"), b.key+"-")
}

// buildInModule builds in the loomfiles' own directory and module, with
// the generated main added through an overlay: nothing is written there.
func (b *builder) buildInModule(ctx context.Context, out string) error {
	work, err := b.workDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	gen := filepath.Join(work, generatedName)
	if err := os.WriteFile(gen, b.gen, 0o600); err != nil {
		return err
	}
	virtual := filepath.Join(b.p.Dir, generatedName)
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {virtual: gen}})
	if err != nil {
		return err
	}
	ovl := filepath.Join(work, "overlay.json")
	if err := os.WriteFile(ovl, overlay, 0o600); err != nil {
		return err
	}
	args := []string{"build", "-tags", "loom", "-overlay", ovl, "-o", out}
	for _, f := range b.p.Files {
		args = append(args, filepath.Base(f))
	}
	args = append(args, generatedName)
	return b.goBuild(ctx, b.p.Dir, nil, args, nil)
}

// buildApart builds in a module of its own in the cache, against Loom's
// source, offline first.
func (b *builder) buildApart(ctx context.Context, out string) error {
	src, err := b.extractSource()
	if err != nil {
		return err
	}
	loomMod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return err
	}
	loomSum, _ := os.ReadFile(filepath.Join(src, "go.sum"))
	work, err := b.workDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	names := map[string]string{} // file in work → the user's file
	for _, f := range b.p.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dst := filepath.Join(work, filepath.Base(f))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		names[dst] = f
	}
	if err := os.WriteFile(filepath.Join(work, generatedName), b.gen, 0o644); err != nil {
		return err
	}
	var mod strings.Builder
	mod.WriteString("// A module made by loom to build loomfiles that are in no module requiring Loom.\nmodule loomtasks\n\n")
	if m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(loomMod); m != nil {
		fmt.Fprintf(&mod, "go %s\n\n", m[1])
	}
	fmt.Fprintf(&mod, "require %s v0.0.0-00010101000000-000000000000\n\n", LoomPath)
	reqs := requirements(loomMod)
	if len(reqs) > 0 {
		mod.WriteString("require (\n")
		for _, r := range reqs {
			fmt.Fprintf(&mod, "\t%s %s\n", r[0], r[1])
		}
		mod.WriteString(")\n\n")
	}
	fmt.Fprintf(&mod, "replace %s => %s\n", LoomPath, src)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(mod.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "go.sum"), loomSum, 0o644); err != nil {
		return err
	}
	// Not -trimpath: it would make the first build on a machine compile the
	// standard library and every dependency again (BENCHMARKS.md, Loomfiles),
	// for a saving only when Loom's source is extracted anew.
	args := []string{"build", "-tags", "loom", "-o", out, "."}
	// The user's GOFLAGS still apply (-trimpath, say); -mod=mod lets the go
	// command fill in go.sum for a module the loomfile adds.
	goflags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -mod=mod")
	offline := []string{"GOFLAGS=" + goflags, "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local"}
	err = b.goBuild(ctx, work, offline, args, names)
	var be *BuildError
	if errors.As(err, &be) && (strings.Contains(be.Output, "GOPROXY=off") || strings.Contains(be.Output, "module lookup disabled")) {
		// A module missing from the module cache (one Loom does not use,
		// or Loom's own on a machine that never fetched them): fetch it, as
		// go build would.
		err = b.goBuild(ctx, work, []string{"GOFLAGS=" + goflags, "GOWORK=off"}, args, names)
		if errors.As(err, &be) {
			be.Output = explainMissing(be.Output)
		}
	}
	return err
}

var downloading = regexp.MustCompile(`(?m)^go: downloading (\S+) (\S+)$`)

// explainMissing puts a line first in go build's output when modules had
// to be downloaded and could not be (no network, or GOPROXY=off): which
// ones, and what to do, instead of a screenful of "module lookup
// disabled" for each import.
func explainMissing(out string) string {
	if !strings.Contains(out, "module lookup disabled") && !strings.Contains(out, "dial tcp") && !strings.Contains(out, "no such host") {
		return out
	}
	var mods []string
	for _, m := range downloading.FindAllStringSubmatch(out, -1) {
		mods = append(mods, m[1]+"@"+m[2])
	}
	if len(mods) == 0 {
		return out
	}
	return fmt.Sprintf("these modules are not in the Go module cache and could not be downloaded: %s; run once with network access (or a GOPROXY that has them) and later builds need none\n%s",
		strings.Join(mods, ", "), out)
}

// extractSource writes Loom's source into the cache once per version of
// it, and returns its directory.
func (b *builder) extractSource() (string, error) {
	if err := privateDir(filepath.Join(b.cache, "src")); err != nil {
		return "", err
	}
	dir := filepath.Join(b.cache, "src", sourceHash(b.cfg.Source))
	if fi, err := os.Lstat(dir); err == nil {
		if fi.IsDir() && trust.Private(dir, fi) == nil && isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		// Not ours alone, or half there: extract it again.
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("loom cache: %s is not to be trusted and cannot be removed: %v", dir, err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "extract-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	err = fs.WalkDir(b.cfg.Source, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(name))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if strings.HasSuffix(name, "_test.go") {
			return nil // the build needs none of them
		}
		data, err := fs.ReadFile(b.cfg.Source, name)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o444)
	})
	if err != nil {
		return "", fmt.Errorf("extracting Loom's source: %v", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !isFile(filepath.Join(dir, "go.mod")) {
		return "", err
	}
	return dir, nil
}

// goBuild runs the go command in dir; a failure is a BuildError whose
// file names are rewritten by names (a copy → the user's file) and made
// relative to the working directory.
func (b *builder) goBuild(ctx context.Context, dir string, env, args []string, names map[string]string) error {
	cmd := exec.CommandContext(ctx, b.gocmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if out.Len() == 0 {
			return fmt.Errorf("go build: %v", err)
		}
		return &BuildError{Output: b.rewrite(out.String(), dir, names)}
	}
	return nil
}

var posRE = regexp.MustCompile(`(?m)^(\S+?\.go)(:\d+)`)

// rewrite names files in compiler output as the user knows them.
func (b *builder) rewrite(out, dir string, names map[string]string) string {
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(line, "# ") { // # command-line-arguments
			continue
		}
		line = posRE.ReplaceAllStringFunc(line, func(m string) string {
			sm := posRE.FindStringSubmatch(m)
			f := sm[1]
			if !filepath.IsAbs(f) {
				f = filepath.Join(dir, f)
			}
			if user, ok := names[f]; ok {
				f = user
			}
			return b.p.display(f) + sm[2]
		})
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n") + "\n"
}

// Prune removes compiled programs not used for the given age from the
// cache, keeping the n most recent whatever their age.
func Prune(cacheDir string, age time.Duration, keep int) {
	dir := filepath.Join(cacheDir, "bin")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type bin struct {
		name string
		t    time.Time
	}
	var bins []bin
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			bins = append(bins, bin{e.Name(), fi.ModTime()})
		}
	}
	slices.SortFunc(bins, func(a, b bin) int { return b.t.Compare(a.t) })
	for i, x := range bins {
		if i >= keep && time.Since(x.t) > age {
			os.Remove(filepath.Join(dir, x.name))
		}
	}
}
