package remotefs

import (
	"archive/tar"
	"bytes"
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

	"github.com/loomssh/loom/internal/shquote"
)

type itemKind int

const (
	kFile itemKind = iota
	kDir
	kLink
)

// putItem is one thing to write: a file, a directory or a symbolic link.
type putItem struct {
	kind   itemKind
	local  string // the local file (also for messages); "" for in-memory content
	remote string // absolute remote path
	mode   fs.FileMode
	size   int64
	mtime  time.Time
	link   string    // a link's target
	spool  string    // a local copy of the content (PutReader with sudo)
	data   []byte    // in-memory content (Template, helpers), when local is ""
	r      io.Reader // content to stream (PutReader without sudo), when local is "" and data nil
	owner  *ids      // keep this owner (files replaced in place)
}

// Put copies local to remote (loom's Conn.Put).
func (op *Op) Put(local, remote string) error {
	if local == "" || remote == "" {
		return op.fail(local, remote, errors.New("empty path"))
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail(local, remote, err)
	}
	R := op.abs(fc, remote)
	intoDir := strings.HasSuffix(remote, "/")
	type root struct{ local, remote string }
	var roots []root
	base := path.Dir(R) // the directory the sudo staging happens in
	fi, err := os.Stat(local)
	switch {
	case err == nil && fi.IsDir():
		roots = append(roots, root{local, R})
	case err == nil:
		if !intoDir {
			if rfi, err := fc.Stat(R); err == nil && rfi.IsDir() {
				intoDir = true
			}
		}
		if intoDir {
			base = R
			R = path.Join(R, filepath.Base(local))
		}
		roots = append(roots, root{local, R})
	case errors.Is(err, fs.ErrNotExist) && hasMeta(local):
		all, err := filepath.Glob(local)
		if err != nil {
			return op.fail(local, remote, err)
		}
		var matches []string
		for _, m := range all {
			if globMatch(filepath.Base(local), filepath.Base(m)) {
				matches = append(matches, m)
			}
		}
		if len(matches) == 0 {
			return op.fail(local, remote, errors.New("no local file matches"))
		}
		base = R
		for _, m := range matches {
			roots = append(roots, root{m, path.Join(R, filepath.Base(m))})
		}
	default:
		return op.fail(local, remote, err)
	}
	var items []*putItem
	for _, r := range roots {
		if err := op.walkLocal(r.local, r.remote, &items); err != nil {
			return op.fail(r.local, r.remote, err)
		}
	}
	return op.send(fc, base, items, false)
}

// PutReader writes what r holds to remote.
func (op *Op) PutReader(r io.Reader, remote string) error {
	if remote == "" || strings.HasSuffix(remote, "/") {
		return op.fail("", remote, errors.New("PutReader needs a file name"))
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail("", remote, err)
	}
	R := op.abs(fc, remote)
	it := &putItem{kind: kFile, remote: R, mode: 0o644, size: -1, r: r}
	if op.o.Sudo && !op.o.DryRun {
		// tar needs the size up front: spool to a private local file
		f, err := os.CreateTemp("", "loom-put-*")
		if err != nil {
			return op.fail("", remote, err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err := io.Copy(f, &opReader{ctx: op.ctx, r: r}) // progress counts the upload, not this
		if err != nil {
			return op.fail("", remote, err)
		}
		it.spool, it.size, it.r = f.Name(), n, nil
	}
	return op.send(fc, path.Dir(R), []*putItem{it}, false)
}

// walkLocal appends the items of the local file or tree at local, to be
// written at remote.
func (op *Op) walkLocal(local, remote string, items *[]*putItem) error {
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return errors.New("not a regular file")
		}
		*items = append(*items, &putItem{kind: kFile, local: local, remote: remote, mode: localMode(fi.Mode()), size: fi.Size(), mtime: fi.ModTime()})
		return nil
	}
	root := local
	if l, err := os.Lstat(local); err == nil && l.Mode()&fs.ModeSymlink != 0 {
		if root, err = filepath.EvalSymlinks(local); err != nil {
			return err
		}
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			rel = ""
		}
		if op.o.excluded(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		it := &putItem{local: filepath.Join(local, filepath.FromSlash(rel)), remote: path.Join(remote, rel), mode: localMode(info.Mode()), mtime: info.ModTime()}
		switch {
		case d.IsDir():
			it.kind = kDir
		case d.Type()&fs.ModeSymlink != 0:
			if it.link, err = os.Readlink(p); err != nil {
				return err
			}
			it.kind = kLink
		case d.Type().IsRegular():
			it.kind, it.size = kFile, info.Size()
		default:
			return nil // sockets, devices, fifos
		}
		*items = append(*items, it)
		return nil
	})
}

// send writes items (directories before what they hold) and fills the
// Transfer. base is a directory holding all of them (sudo stages there).
// keepMtime gives files their local modification time (Sync).
func (op *Op) send(fc *fsClient, base string, items []*putItem, keepMtime bool) error {
	var total int64
	for _, it := range items {
		if it.kind == kFile && it.size > 0 {
			total += it.size
		}
	}
	if op.o.DryRun {
		op.t.DryRun = true
		for _, it := range items {
			if it.kind != kDir {
				op.t.Files++
				op.t.Bytes += max(it.size, 0)
				op.t.Changed = append(op.t.Changed, it.remote)
			}
		}
		return nil
	}
	label := ""
	if len(items) > 0 {
		label = path.Base(items[len(items)-1].remote)
		if len(items) > 1 {
			label = base + "/"
		}
	}
	op.startProgress(label, total)
	if op.o.Sudo {
		return op.sendSudo(base, items, keepMtime)
	}
	return op.sendSFTP(fc, items, keepMtime)
}

// putWorkers is how many files one operation writes at once over SFTP.
const putWorkers = 16

// batchFiles is the number of files from which sendSFTP makes them durable
// all at once (see syncStaged) rather than one fsync each.
const batchFiles = 8

// sendSFTP writes items over SFTP: directories in order, then files and
// links by up to putWorkers at a time, each atomically. Many files are
// written in two phases: all temporary files, made durable together, then
// all the renames.
func (op *Op) sendSFTP(fc *fsClient, items []*putItem, keepMtime bool) error {
	owner, err := op.ownerIDs()
	if err != nil {
		return op.fail("", "", err)
	}
	files := 0
	for _, it := range items {
		if it.kind == kFile {
			files++
		}
	}
	batch := files >= batchFiles
	type outcome struct {
		st  staged
		err error
		ok  bool // written (or, in a batch, staged)
	}
	out := make([]outcome, len(items))
	var failed atomic.Bool
	// run calls fn for the items sent on the returned channel, by
	// putWorkers goroutines; wait waits for them.
	run := func(fn func(i int)) (chan<- int, func()) {
		jobs := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < min(putWorkers, len(items)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					if !failed.Load() {
						fn(i)
					}
				}
			}()
		}
		return jobs, func() { close(jobs); wg.Wait() }
	}
	jobs, wait := run(func(i int) {
		o := &out[i]
		o.st, o.err = op.sendOne(fc, items[i], owner, keepMtime, batch)
		o.ok = o.err == nil
		if o.err != nil {
			failed.Store(true)
		}
	})
	made := map[string]bool{}
	ensure := func(dir string, mode fs.FileMode) error {
		if made[dir] {
			return nil
		}
		created, err := fc.mkdirAll(dir, mode)
		if err != nil {
			return err
		}
		if created && owner != nil {
			if err := fc.Chown(dir, owner.uid, owner.gid); err != nil {
				return fmt.Errorf("chown: %w", err)
			}
		}
		made[dir] = true
		return nil
	}
	var firstErr error
	for i, it := range items {
		if failed.Load() || op.ctx.Err() != nil {
			break
		}
		var err error
		if it.kind == kDir {
			err = ensure(it.remote, it.mode)
		} else if err = ensure(path.Dir(it.remote), 0); err == nil {
			jobs <- i
			continue
		}
		if err != nil {
			firstErr = op.fail(it.local, it.remote, err)
			failed.Store(true)
			break
		}
	}
	wait()

	if batch {
		var sts []staged
		for i, it := range items {
			if it.kind == kFile && out[i].ok {
				sts = append(sts, out[i].st)
			}
		}
		if !failed.Load() && op.ctx.Err() == nil {
			if err := op.syncStaged(fc, sts); err != nil {
				firstErr = op.fail("", "", err)
				failed.Store(true)
			}
		}
		jobs, wait := run(func(i int) {
			o := &out[i]
			if o.err = op.commit(fc, o.st); o.err != nil {
				o.ok = false
				failed.Store(true)
			}
		})
		for i, it := range items {
			if it.kind == kFile && out[i].ok {
				jobs <- i
			}
		}
		wait()
		for i, it := range items { // staged files not renamed, after a failure
			if o := &out[i]; it.kind == kFile && o.ok && failed.Load() {
				if _, err := fc.Lstat(o.st.tmp); err == nil {
					fc.Remove(o.st.tmp)
					o.ok = false
				}
			}
		}
	}

	for i, it := range items {
		o := out[i]
		if o.ok {
			op.t.Files++
			op.t.Bytes += o.st.n
			op.t.Changed = append(op.t.Changed, it.remote)
		} else if o.err != nil && firstErr == nil {
			firstErr = op.fail(it.local, it.remote, o.err)
		}
	}
	if firstErr == nil && op.ctx.Err() != nil {
		firstErr = op.fail("", "", op.ctx.Err())
	}
	return firstErr
}

// sendOne writes one file or link over SFTP; with stageOnly, a file is
// only staged (see stage), for the caller to commit.
func (op *Op) sendOne(fc *fsClient, it *putItem, owner *ids, keepMtime, stageOnly bool) (staged, error) {
	if it.kind == kLink {
		return staged{}, fc.symlinkAtomic(it.link, it.remote)
	}
	f := remoteFile{mode: it.mode, owner: owner, keepOwner: it.owner}
	if op.o.ModeSet {
		f.mode = op.o.Mode
	}
	if keepMtime {
		f.mtime = it.mtime
	}
	switch {
	case it.local != "":
		lf, err := os.Open(it.local)
		if err != nil {
			return staged{}, err
		}
		defer lf.Close()
		f.src = lf
	case it.data != nil:
		f.src = bytes.NewReader(it.data)
	case it.r != nil:
		f.src = it.r
	default:
		f.src = strings.NewReader("")
	}
	if stageOnly {
		return op.stage(fc, it.remote, f, false)
	}
	st, err := op.stage(fc, it.remote, f, fc.fsync)
	if err == nil {
		err = op.commit(fc, st)
	}
	return st, err
}

// sendSudo streams items as a tar archive to a script run with sudo that
// unpacks it into a staging directory inside base, applies Owner and Mode,
// and renames each new file (or whole new directory) into place. The
// archive ends with a marker file: an archive cut short moves nothing.
func (op *Op) sendSudo(base string, items []*putItem, keepMtime bool) error {
	for _, it := range items {
		if _, ok := relTo(base, it.remote); !ok && it.remote != base {
			return op.fail(it.local, it.remote, fmt.Errorf("internal error: %s is not under %s", it.remote, base))
		}
	}
	pr, pw := io.Pipe()
	type written struct {
		n   int64
		err error
	}
	done := make(chan written, 1)
	go func() {
		n, err := op.writeTar(pw, base, items, keepMtime)
		pw.CloseWithError(err)
		done <- written{n, err}
	}()
	mode := ""
	if op.o.ModeSet {
		mode = octal(op.o.Mode)
	}
	res := op.run(Cmd{Script: sudoPutScript(base, op.o.chownSpec(), mode), Sudo: true, Stdin: pr})
	pr.CloseWithError(errRemoteEnded)
	w := <-done
	local, remote := "", base // what a failure names: the one file, or the directory
	if len(items) == 1 {
		local, remote = items[0].local, items[0].remote
	}
	var fe *Error
	switch {
	case res.Err != nil && (w.err == nil || errors.Is(w.err, errRemoteEnded)):
		// the archive stopped because the command did (sudo refused the
		// password, the disk filled up...): the command says why
		return op.fail(local, remote, stepErr("sudo", res))
	case w.err != nil && errors.As(w.err, &fe):
		return w.err
	case res.Err != nil:
		return op.fail(local, remote, stepErr("sudo", res))
	case w.err != nil:
		return op.fail(local, remote, w.err)
	}
	for _, it := range items {
		if it.kind != kDir {
			op.t.Files++
			op.t.Changed = append(op.t.Changed, it.remote)
		}
	}
	op.t.Bytes += w.n
	return nil
}

// errRemoteEnded stops the archive of a sudo write whose command ended
// before it had read all of it.
var errRemoteEnded = errors.New("the remote command ended before it read the whole upload")

// completeMarker is the archive's last entry: without it nothing is moved.
const completeMarker = ".loom-complete"

// writeTar writes items to w as a tar archive of paths relative to base.
func (op *Op) writeTar(w io.Writer, base string, items []*putItem, keepMtime bool) (int64, error) {
	tw := tar.NewWriter(w)
	now := time.Now()
	var total int64
	for _, it := range items {
		if it.remote == base {
			continue
		}
		rel, _ := relTo(base, it.remote)
		h := &tar.Header{Name: rel, Mode: int64(unixMode(it.mode)), ModTime: now, Format: tar.FormatPAX}
		if keepMtime && !it.mtime.IsZero() {
			h.ModTime = it.mtime
		}
		h.ModTime = h.ModTime.Truncate(time.Second)
		var src io.Reader
		var closer io.Closer
		switch it.kind {
		case kDir:
			h.Typeflag, h.Name = tar.TypeDir, rel+"/"
		case kLink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, it.link
		case kFile:
			h.Typeflag = tar.TypeReg
			switch {
			case it.local != "" || it.spool != "":
				name := it.local
				if it.spool != "" {
					name = it.spool
				}
				f, err := os.Open(name)
				if err != nil {
					return total, op.fail(it.local, it.remote, err)
				}
				fi, err := f.Stat()
				if err != nil {
					f.Close()
					return total, op.fail(it.local, it.remote, err)
				}
				h.Size, src, closer = fi.Size(), f, f
			default:
				h.Size, src = int64(len(it.data)), strings.NewReader(string(it.data))
			}
		}
		err := tw.WriteHeader(h)
		if err == nil && src != nil {
			var n int64
			n, err = io.CopyN(tw, op.reader(src), h.Size)
			total += n
			if errors.Is(err, io.EOF) {
				err = errors.New("the file shrank while it was read")
			}
		}
		if closer != nil {
			closer.Close()
		}
		if err != nil {
			return total, op.fail(it.local, it.remote, err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: completeMarker, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: now}); err != nil {
		return total, err
	}
	return total, tw.Close()
}

// relTo returns p relative to dir, and whether p is strictly under dir.
func relTo(dir, p string) (string, bool) {
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	if !strings.HasPrefix(p, prefix) || len(p) == len(prefix) {
		return "", false
	}
	return p[len(prefix):], true
}

// sudoPutScript unpacks a tar archive from stdin into a staging directory
// in base and moves its contents into base: new files and links replace
// old ones by rename (atomic), new directories move in whole, existing
// directories are merged into. Only base, owner and mode are interpolated,
// all quoted (mode is digits).
func sudoPutScript(base, owner, mode string) string {
	var b strings.Builder
	b.WriteString("set -e\nD=" + shquote.Quote(base) + "\n")
	b.WriteString(`mkdir -p -- "$D"
umask 077
s=$(mktemp -d "$D/.loom-XXXXXXXXXX")
trap 'rm -rf -- "$s" "$s.list" "$s.list2"' EXIT
trap 'exit 130' HUP INT TERM
cd "$s"
if ! tar -x -p -o -f -; then
  # GNU tar reports a full disk as "Wrote only N of M bytes": say why
  a=$(df -P -k -- . 2>/dev/null | awk 'NR==2 {print $4}')
  if [ -n "$a" ] && [ "$a" -lt 1024 ]; then echo "loom: no space left on device ($D: $a KiB free)" >&2; fi
  exit 1
fi
if [ ! -f ` + completeMarker + ` ]; then echo "loom: the upload was cut short" >&2; exit 1; fi
rm -f ` + completeMarker + "\n")
	if owner != "" {
		// chown clears setuid and setgid: note them, then set them again
		b.WriteString(`find . -type f -perm -4000 -print0 >"$s.list"
find . -type f -perm -2000 -print0 >"$s.list2"
chown -R -h -- ` + shquote.Quote(owner) + ` .
xargs -0 sh -c 'for f do chmod u+s "$f"; done' sh <"$s.list"
xargs -0 sh -c 'for f do chmod g+s "$f"; done' sh <"$s.list2"
`)
	}
	if mode != "" {
		b.WriteString("find . -type f -exec chmod " + mode + " {} +\n")
	}
	b.WriteString(`find . -mindepth 1 -print0 >"$s.list"
export D s
xargs -0 sh -c '
for p do
  p=${p#./}; src=$s/$p; dst=$D/$p
  if [ ! -e "$src" ] && [ ! -L "$src" ]; then continue; fi
  if [ -d "$src" ] && [ ! -L "$src" ]; then
    if [ -d "$dst" ] && [ ! -L "$dst" ]; then continue; fi
    if [ -e "$dst" ] || [ -L "$dst" ]; then echo "loom: $dst exists and is not a directory" >&2; exit 255; fi
    mv -f -- "$src" "$dst" || exit 255
  else
    if [ -d "$dst" ] && [ ! -L "$dst" ]; then echo "loom: $dst is a directory" >&2; exit 255; fi
    if [ -L "$dst" ] && [ -d "$dst" ]; then mv -f -T -- "$src" "$dst" || exit 255
    else mv -f -- "$src" "$dst" || exit 255; fi
  fi
done' sh <"$s.list"
`)
	return b.String()
}
