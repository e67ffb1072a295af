package remotefs

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomssh/loom/internal/localpath"

	"github.com/loomssh/loom/internal/shquote"
)

// getItem is one local thing Get writes.
type getItem struct {
	kind   itemKind
	remote string
	local  string
	mode   fs.FileMode
	size   int64
	mtime  time.Time
	link   string
}

// Get copies remote to local (loom's Conn.Get).
func (op *Op) Get(remote, local string) error {
	if remote == "" {
		return op.fail(local, remote, errors.New("empty path"))
	}
	if local == "" {
		local = "{host}/{basename}"
	}
	op.getBase = templateBase(local)
	fc, err := op.fs()
	if err != nil {
		return op.fail(local, remote, err)
	}
	R := op.abs(fc, remote)
	dir, pattern := path.Split(R)
	dir = path.Clean(dir)
	if hasMeta(dir) {
		return op.fail(local, remote, errors.New("a glob is only allowed in the last element of a remote path"))
	}
	if op.o.Sudo {
		return op.getSudo(dir, pattern, local)
	}
	var tops []string
	if hasMeta(pattern) {
		if _, err := path.Match(pattern, ""); err != nil {
			return op.fail(local, remote, err)
		}
		entries, err := fc.ReadDir(dir)
		if err != nil {
			return op.fail(local, dir, err)
		}
		for _, e := range entries {
			if globMatch(pattern, e.Name()) && validName(e.Name()) {
				tops = append(tops, path.Join(dir, e.Name()))
			}
		}
		if len(tops) == 0 {
			return op.fail(local, remote, errors.New("no remote file matches"))
		}
	} else {
		tops = []string{R}
	}
	var items []*getItem
	seen := map[string]string{}
	for _, top := range tops {
		fi, err := fc.Stat(top)
		if err != nil {
			return op.fail("", top, err)
		}
		dst := op.localPath(local, top)
		if other, dup := seen[dst]; dup {
			return op.fail(dst, top, fmt.Errorf("%s is written there too: put {basename} or {path} in the local path", other))
		}
		seen[dst] = top
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				return op.fail(dst, top, errors.New("not a regular file"))
			}
			items = append(items, &getItem{kind: kFile, remote: top, local: dst, mode: FileMode(fi.Mode()), size: fi.Size(), mtime: fi.ModTime()})
			continue
		}
		items = append(items, &getItem{kind: kDir, remote: top, local: dst})
		if err := op.walkRemote(fc, top, "", dst, &items); err != nil {
			return err
		}
	}
	if err := op.checkLocal(items); err != nil {
		return err
	}
	return op.receive(fc, items)
}

// errLocalExists is the cause of a Get refused because a local path it
// would write is taken.
var errLocalExists = fmt.Errorf("%w (Get replaces local files only with Overwrite: loom get --overwrite)", fs.ErrExist)

// checkLocal refuses, before anything is written, a Get whose local paths
// are taken: by a file or link (unless Overwrite), or by anything but a
// directory where a directory goes.
func (op *Op) checkLocal(items []*getItem) error {
	for _, it := range items {
		if it.kind == kDir {
			if fi, err := os.Stat(it.local); err == nil && !fi.IsDir() {
				return op.fail(it.local, it.remote, errors.New("exists and is not a directory"))
			}
			continue
		}
		fi, err := os.Lstat(it.local)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return op.fail(it.local, it.remote, err)
		case fi.IsDir():
			return op.fail(it.local, it.remote, errors.New("is a directory"))
		case !op.o.Overwrite:
			return op.fail(it.local, it.remote, errLocalExists)
		}
	}
	return nil
}

// validName reports whether a name from a remote directory listing is one
// (a hostile server could send "../x").
func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// localPath expands Get's local template for the remote path p.
func (op *Op) localPath(tmpl, p string) string {
	out := localpath.Expand(tmpl, op.h.Name(), p)
	intoDir := strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator))
	out = filepath.Clean(out)
	if !intoDir {
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			intoDir = true
		}
	}
	if intoDir {
		out = filepath.Join(out, path.Base(p))
	}
	return out
}

// walkRemote lists the remote tree at root (rel is the path under it) into
// items, one directory listing per directory.
func (op *Op) walkRemote(fc *fsClient, root, rel, local string, items *[]*getItem) error {
	entries, err := op.listDir(fc, root, rel)
	if err != nil {
		return err
	}
	for _, e := range entries {
		r := path.Join(rel, e.Name())
		it := &getItem{remote: path.Join(root, r), local: filepath.Join(local, filepath.FromSlash(r)), mode: FileMode(e.Mode()), mtime: e.ModTime()}
		switch {
		case e.IsDir():
			it.kind = kDir
			*items = append(*items, it)
			if err := op.walkRemote(fc, root, r, local, items); err != nil {
				return err
			}
			continue
		case e.Mode()&fs.ModeSymlink != 0:
			if it.link, err = fc.ReadLink(it.remote); err != nil {
				return op.fail("", it.remote, err)
			}
			it.kind = kLink
		case e.Mode().IsRegular():
			it.kind, it.size = kFile, e.Size()
		default:
			continue
		}
		*items = append(*items, it)
	}
	return nil
}

// receive writes items locally: directories first, then files by several
// at a time, then links.
func (op *Op) receive(fc *fsClient, items []*getItem) error {
	var total int64
	for _, it := range items {
		if it.kind == kFile {
			total += it.size
		}
	}
	if op.o.DryRun {
		op.t.DryRun = true
		for _, it := range items {
			if it.kind != kDir {
				op.t.Files++
				op.t.Bytes += it.size
				op.t.Changed = append(op.t.Changed, it.local)
			}
		}
		return nil
	}
	label := ""
	if len(items) > 0 {
		label = items[0].remote
	}
	op.startProgress(label, total)
	for _, it := range items {
		dir := it.local
		if it.kind != kDir {
			dir = filepath.Dir(it.local)
		}
		if err := op.mkdirLocal(dir); err != nil {
			return op.fail(it.local, it.remote, err)
		}
	}
	out := make([]struct {
		n   int64
		cut bool
		err error
	}, len(items))
	jobs := make(chan int)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < putWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if failed.Load() {
					out[i].err = errNotRun
					continue
				}
				it := items[i]
				out[i].n, out[i].cut, out[i].err = op.fetchFile(fc, it)
				if out[i].err != nil {
					failed.Store(true)
				}
			}
		}()
	}
	for i, it := range items {
		if it.kind == kFile {
			jobs <- i
		}
	}
	close(jobs)
	wg.Wait()
	var firstErr error
	for i, it := range items {
		if e := out[i].err; e != nil && e != errNotRun && firstErr == nil {
			firstErr = op.fail(it.local, it.remote, e)
		}
	}
	for i, it := range items {
		switch {
		case it.kind == kDir:
		case it.kind == kLink && firstErr == nil:
			if err := localSymlink(it.link, it.local, op.o.Overwrite); err != nil {
				firstErr = op.fail(it.local, it.remote, err)
				continue
			}
			op.t.Files++
			op.t.Changed = append(op.t.Changed, it.local)
		case it.kind == kFile && out[i].err == nil:
			op.t.Files++
			op.t.Bytes += out[i].n
			op.t.Changed = append(op.t.Changed, it.local)
			if out[i].cut {
				op.t.Cut = append(op.t.Cut, it.local)
			}
		}
	}
	return firstErr
}

// fetchFile copies one remote file to a local temporary file, then moves
// it into place. It reads no more than the size the host gave: cut reports
// that the host had more to send.
func (op *Op) fetchFile(fc *fsClient, it *getItem) (n int64, cut bool, err error) {
	rf, err := fc.Open(it.remote)
	if err != nil {
		return 0, false, err
	}
	defer rf.Close()
	n, err = writeLocal(it.local, op.localFile(it.mode, it.mtime), func(w io.Writer) (int64, error) {
		cw := &capWriter{w: w, left: it.size}
		n, err := rf.WriteTo(op.writer(cw))
		if cw.over {
			cut = true
			return n, nil
		}
		return n, err
	})
	return n, cut, err
}

// capWriter passes on at most left bytes; a write past them is cut, sets
// over, and fails, so that the copy stops.
type capWriter struct {
	w    io.Writer
	left int64
	over bool
}

var errOverSize = errors.New("more data than the file's size")

func (c *capWriter) Write(b []byte) (int, error) {
	if int64(len(b)) <= c.left {
		n, err := c.w.Write(b)
		c.left -= int64(n)
		return n, err
	}
	n, err := c.w.Write(b[:c.left])
	c.left -= int64(n)
	if err != nil {
		return n, err
	}
	c.over = true
	return n, errOverSize
}

// localFile is how Get writes one local file.
type localFile struct {
	perm      fs.FileMode // the file is created with these bits, less the umask
	chmod     bool        // then chmodded to mode (Mode: the caller's own choice)
	mode      fs.FileMode
	mtime     time.Time
	overwrite bool
}

// localFile is how Get writes a file whose remote mode is mode: its
// permission bits less the umask, without setuid, setgid or sticky (as
// scp and sftp do), unless Mode was given.
func (op *Op) localFile(mode fs.FileMode, mtime time.Time) localFile {
	lf := localFile{perm: mode.Perm(), mtime: mtime, overwrite: op.o.Overwrite}
	if op.o.ModeSet {
		lf.chmod, lf.mode = true, op.o.Mode
	}
	return lf
}

// writeLocal writes a local file atomically: content goes to a temporary
// file in dst's directory, which is synced, given its mode and mtime, then
// moved to dst (see publish); on failure it is removed.
func writeLocal(dst string, lf localFile, content func(io.Writer) (int64, error)) (int64, error) {
	f, tmp, err := createTemp(dst, lf.perm)
	if err != nil {
		return 0, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := content(f)
	if err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if lf.chmod {
		if err := f.Chmod(lf.mode); err != nil {
			return n, err
		}
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if !lf.mtime.IsZero() {
		if err := os.Chtimes(tmp, lf.mtime, lf.mtime); err != nil {
			return n, err
		}
	}
	if err := publish(tmp, dst, lf.overwrite); err != nil {
		return n, err
	}
	done = true
	return n, nil
}

// createTemp creates a new temporary file for dst in dst's directory,
// ".NAME.loom-RANDOM", with the permission bits perm less the umask.
func createTemp(dst string, perm fs.FileMode) (*os.File, string, error) {
	dir, base := filepath.Split(dst)
	if len(base) > 180 {
		base = base[:180]
	}
	for try := 0; ; try++ {
		tmp := filepath.Join(dir, "."+base+".loom-"+randomToken())
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
		if errors.Is(err, fs.ErrExist) && try < 10 {
			continue
		}
		return f, tmp, err
	}
}

// publish moves the complete temporary file tmp to dst. With overwrite it
// is a rename over whatever file is there. Without, nothing at dst is ever
// replaced, not even a file that appeared after checkLocal looked (another
// host's Get into the same path, say): a hard link fails when dst exists,
// then tmp goes. On a file system without hard links, dst is looked at,
// then tmp renamed.
func publish(tmp, dst string, overwrite bool) error {
	if overwrite {
		return os.Rename(tmp, dst)
	}
	err := os.Link(tmp, dst)
	switch {
	case err == nil:
		os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		return errLocalExists
	}
	if _, err := os.Lstat(dst); err == nil {
		return errLocalExists
	}
	return os.Rename(tmp, dst)
}

// localSymlink points the local link at target. With overwrite it replaces
// what is there (but not a directory) by a rename; without, it fails when
// something is there.
func localSymlink(target, link string, overwrite bool) error {
	if !overwrite {
		err := os.Symlink(target, link)
		if errors.Is(err, fs.ErrExist) {
			return errLocalExists
		}
		return err
	}
	tmp := filepath.Join(filepath.Dir(link), "."+filepath.Base(link)+".loom-"+randomToken())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// getSudo is Get with UseSudo: the remote files come as one tar archive
// made with sudo.
func (op *Op) getSudo(dir, pattern, local string) error {
	var tops []string
	if hasMeta(pattern) {
		if _, err := path.Match(pattern, ""); err != nil {
			return op.fail(local, path.Join(dir, pattern), err)
		}
		names, err := op.sudoList(dir)
		if err != nil {
			return op.fail(local, dir, err)
		}
		for _, n := range names {
			if globMatch(pattern, n) && validName(n) {
				tops = append(tops, n)
			}
		}
		if len(tops) == 0 {
			return op.fail(local, path.Join(dir, pattern), errors.New("no remote file matches"))
		}
	} else {
		tops = []string{pattern}
	}
	if op.o.DryRun { // nothing is read: only the top paths are checked
		op.t.DryRun = true
		for _, t := range tops {
			dst := op.localPath(local, path.Join(dir, t))
			if fi, err := os.Lstat(dst); err == nil && !fi.IsDir() && !op.o.Overwrite {
				return op.fail(dst, path.Join(dir, t), errLocalExists)
			}
			op.t.Changed = append(op.t.Changed, dst)
		}
		return nil
	}
	archive, err := op.sudoFetch(dir, tops)
	if err != nil {
		return op.fail(local, path.Join(dir, pattern), err)
	}
	dsts := map[string]string{} // top name -> local path
	seen := map[string]string{}
	for _, t := range tops {
		dst := op.localPath(local, path.Join(dir, t))
		if other, dup := seen[dst]; dup {
			return op.fail(dst, path.Join(dir, t), fmt.Errorf("%s is written there too: put {basename} or {path} in the local path", path.Join(dir, other)))
		}
		seen[dst], dsts[t] = t, dst
	}
	// First the whole archive is read for what it would write, which is
	// checked before anything is; then it is read again to write.
	var plan []*getItem // one per archive entry; nil: left out
	var items []*getItem
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return op.fail(local, dir, fmt.Errorf("reading the archive: %w", err))
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		top, rest, _ := strings.Cut(name, "/")
		dst, ok := dsts[top]
		if !ok || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(h.Name) {
			return op.fail(local, dir, fmt.Errorf("unexpected name %q in the archive", h.Name))
		}
		if rest != "" {
			if op.o.excludedUnder(rest) {
				plan = append(plan, nil)
				continue
			}
			for _, el := range strings.Split(rest, "/") {
				if !validName(el) {
					return op.fail(local, dir, fmt.Errorf("unexpected name %q in the archive", h.Name))
				}
			}
			dst = filepath.Join(dst, filepath.FromSlash(rest))
		}
		it := &getItem{remote: path.Join(dir, name), local: dst, mode: FileMode(fs.FileMode(h.Mode)), mtime: h.ModTime, size: h.Size}
		switch h.Typeflag {
		case tar.TypeDir:
			it.kind = kDir
		case tar.TypeReg:
			it.kind = kFile
		case tar.TypeLink: // a hard link: a copy of a file the archive held before
			it.kind, it.link = kFile, strings.TrimPrefix(path.Clean(h.Linkname), "./")
		case tar.TypeSymlink:
			it.kind, it.link = kLink, h.Linkname
		default:
			plan = append(plan, nil)
			continue
		}
		plan = append(plan, it)
		items = append(items, it)
	}
	if err := op.checkLocal(items); err != nil {
		return err
	}
	op.startProgress(path.Join(dir, pattern), int64(len(archive)))
	written := map[string]string{} // archive name -> local file, for hard links
	var links []*getItem
	tr = tar.NewReader(bytes.NewReader(archive))
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return op.fail(local, dir, fmt.Errorf("reading the archive: %w", err))
		}
		it := plan[i]
		if it == nil {
			continue
		}
		switch {
		case it.kind == kDir:
			if err := op.mkdirLocal(it.local); err != nil {
				return op.fail(it.local, it.remote, err)
			}
		case it.kind == kFile:
			if err := op.mkdirLocal(filepath.Dir(it.local)); err != nil {
				return op.fail(it.local, it.remote, err)
			}
			var src io.Reader = tr
			if h.Typeflag == tar.TypeLink {
				first, ok := written[it.link]
				if !ok {
					return op.fail(it.local, it.remote, fmt.Errorf("hard link to %q, which the archive did not hold before", h.Linkname))
				}
				f, err := os.Open(first)
				if err != nil {
					return op.fail(it.local, it.remote, err)
				}
				src = f
			}
			n, err := writeLocal(it.local, op.localFile(it.mode, it.mtime), func(w io.Writer) (int64, error) {
				return io.Copy(op.writer(w), src)
			})
			if c, ok := src.(io.Closer); ok {
				c.Close()
			}
			if err != nil {
				return op.fail(it.local, it.remote, err)
			}
			written[strings.TrimPrefix(path.Clean(h.Name), "./")] = it.local
			op.t.Files++
			op.t.Bytes += n
			op.t.Changed = append(op.t.Changed, it.local)
		case it.kind == kLink:
			links = append(links, it)
		}
	}
	for _, l := range links {
		if err := op.mkdirLocal(filepath.Dir(l.local)); err != nil {
			return op.fail(l.local, l.remote, err)
		}
		if err := localSymlink(l.link, l.local, op.o.Overwrite); err != nil {
			return op.fail(l.local, l.remote, err)
		}
		op.t.Files++
		op.t.Changed = append(op.t.Changed, l.local)
	}
	return nil
}

// errNotRun marks the files not fetched because another one failed.
var errNotRun = errors.New("not fetched")

// errNoFile is what the sudo read scripts exit with for a missing file.
const errNoFile = 3

// sudoList lists the names in the remote directory dir with sudo.
func (op *Op) sudoList(dir string) ([]string, error) {
	script := "cd " + shquote.Quote(dir) + ` || exit 1
for f in * .[!.]* ..?*; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi
done`
	r := op.shell(script, nil)
	if r.Err != nil {
		return nil, stepErr("sudo", r)
	}
	var names []string
	for _, n := range strings.Split(r.Stdout, "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// maxSudoScript bounds the script text of a sudo read (the kernel limits
// one argument to 128 KiB).
const maxSudoScript = 96 << 10

// sudoFetch returns a tar archive of the names (files or trees) in the
// remote directory dir, made with sudo. A single file named is read
// through symbolic links. A name that does not exist gives an error
// wrapping fs.ErrNotExist.
//
// The archive comes through the command's output, which Loom filters for
// secrets (the sudo password is masked wherever it appears). So it is
// encoded in base64, which has no "[" for the mask to hide behind; if a
// mask shows up all the same, it is fetched again as hexadecimal, which
// a password with any other character cannot appear in.
func (op *Op) sudoFetch(dir string, names []string) ([]byte, error) {
	var args strings.Builder
	for _, n := range names {
		args.WriteString(" " + shquote.Quote("./"+n))
	}
	for _, enc := range []string{"base64", "od -An -v -tx1"} {
		script := "cd " + shquote.Quote(dir) + ` || exit 1
set --` + args.String() + `
for f do
  if [ ! -e "$f" ] && [ ! -L "$f" ]; then echo "loom: ${f#./}: no such file or directory" >&2; exit ` + fmt.Sprint(errNoFile) + `; fi
done
h=
if [ $# -eq 1 ] && [ ! -d "$1" ]; then h=h; fi
{ st=$( { { tar -c${h}f - "$@"; echo $? >&3; } | ` + enc + ` >&4; } 3>&1 ); } 4>&1
exit "$st"`
		if len(script) > maxSudoScript {
			return nil, fmt.Errorf("too many files (%d) to read with sudo at once: name their directory instead", len(names))
		}
		r := op.shell(script, nil)
		if r.ExitCode == errNoFile {
			return nil, &stepError{msg: strings.TrimPrefix(strings.TrimSpace(r.Stderr), "loom: "), err: fs.ErrNotExist}
		}
		if r.Err != nil {
			return nil, stepErr("sudo", r)
		}
		if strings.Contains(r.Stdout, "[") {
			continue // masked: try the next encoding
		}
		if enc == "base64" {
			return base64.StdEncoding.DecodeString(strings.Map(dropSpace, r.Stdout))
		}
		return hex.DecodeString(strings.Map(dropSpace, r.Stdout))
	}
	return nil, errors.New("the file's content could not be read: it holds the sudo password, which Loom masks in command output")
}

func dropSpace(r rune) rune {
	if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
		return -1
	}
	return r
}

// templateBase is the directory of a Get's local template before its
// first placeholder ("logs/{host}/{basename}" → "logs"; a template
// without placeholders → its own directory).
func templateBase(local string) string {
	if i := strings.IndexByte(local, '{'); i >= 0 {
		return filepath.Dir(local[:i] + "x")
	}
	return filepath.Dir(filepath.Clean(local))
}

// mkdirLocal creates dir for Get, refusing to go through a symbolic link
// below the template's base: a host could otherwise plant a link in one
// Get (a tree may hold links) and have the next Get write through it,
// anywhere the operator can write.
func (op *Op) mkdirLocal(dir string) error {
	base := op.getBase
	if base == "" {
		base = "."
	}
	rel, err := filepath.Rel(base, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		rel = "" // outside the base: only the user's own template put it there
	}
	p := base
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == "" || part == "." {
			continue
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			if os.IsNotExist(err) {
				break
			}
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("refusing to write through the symbolic link %s (left by an earlier get?)", p)
		}
	}
	return os.MkdirAll(dir, 0o755)
}
