package remotefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// The SFTP side of file operations: one client per connection, opened on
// first use and shared by every Conn derived from it, and the atomic write
// (temp file in the target directory, fsync, chmod/chown, rename).

// Slot holds a connection's SFTP client, opened on first use and shared
// by every operation on the connection. The zero value is ready.
type Slot struct {
	mu     sync.Mutex
	fc     *fsClient
	closed bool
}

// fsClient is an open SFTP client and what was learnt when it opened.
type fsClient struct {
	*sftp.Client
	home  string // the login user's home ("~")
	wd    string // the server's working directory, the base of relative paths
	fsync bool   // the server has fsync@openssh.com
	posix bool   // the server has posix-rename@openssh.com
	stop  func()
	jan   *janitor // removes temp files left by a Loom that died; nil for Local

	once sync.Once
	dead chan struct{} // closed when the client has shut down
}

func (fc *fsClient) shut() { fc.once.Do(func() { fc.stop() }) }

func (fc *fsClient) isDead() bool {
	select {
	case <-fc.dead:
		return true
	default:
		return false
	}
}

// Close closes the client for good (the connection closes).
func (s *Slot) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.fc != nil {
		s.fc.shut()
		s.fc = nil
	}
}

// drop forgets fc (if it is still the current client) and closes it, so the
// next operation opens a fresh one: used when an operation was stopped
// while the server did not answer.
func (s *Slot) drop(fc *fsClient) {
	s.mu.Lock()
	if s.fc == fc {
		s.fc = nil
	}
	s.mu.Unlock()
	fc.shut()
}

// sftpOptions tune pkg/sftp for throughput: up to 64 requests in flight per
// file, for writes as well as reads, so a transfer is pipelined instead of
// paying one round trip per 32 KB.
var sftpOptions = []sftp.ClientOption{
	sftp.UseConcurrentWrites(true),
	sftp.UseConcurrentReads(true),
	sftp.MaxConcurrentRequestsPerFile(64),
	sftp.UseFstat(true),
}

// get returns the slot's client, opening one over h on first use (or
// when the last one died).
func (s *Slot) get(ctx context.Context, h Host) (*fsClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("connection closed")
	}
	if s.fc != nil && !s.fc.isDead() {
		return s.fc, nil
	}
	p, err := h.OpenSFTP(ctx)
	if err != nil {
		return nil, err
	}
	fc, err := open(ctx, p)
	if err != nil {
		return nil, err
	}
	s.fc = fc
	return fc, nil
}

// open starts an SFTP client on p.
func open(ctx context.Context, p Pipe) (*fsClient, error) {
	opts := sftpOptions
	if p.BigPackets {
		// OpenSSH's sftp-server takes messages up to 256 KiB and reads
		// up to 255 KiB at once: 8 times fewer requests than the 32 KiB
		// every server must accept (a 100 MB put: ~30% faster).
		opts = append(opts[:len(opts):len(opts)], sftp.MaxPacketUnchecked(255<<10))
	}
	type opened struct {
		cl  *sftp.Client
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		cl, err := sftp.NewClientPipe(p.R, p.W, opts...)
		ch <- opened{cl, err}
	}()
	var o opened
	select {
	case o = <-ch:
	case <-ctx.Done():
		p.Close()
		return nil, ctx.Err()
	}
	if o.err != nil {
		p.Close()
		return nil, fmt.Errorf("sftp: %w", o.err)
	}
	fc := &fsClient{Client: o.cl, dead: make(chan struct{})}
	if p.StartJanitor != nil {
		fc.jan = startJanitor(ctx, p.StartJanitor)
	}
	fc.stop = func() { p.Close(); o.cl.Close(); fc.jan.close() } // the session first: Close waits for the reader to end
	go func() {
		o.cl.Wait()
		close(fc.dead)
	}()
	wd, err := o.cl.Getwd()
	if err != nil {
		fc.shut()
		return nil, fmt.Errorf("sftp: working directory: %w", err)
	}
	fc.wd, fc.home = wd, wd
	if p.Local {
		if h, err := os.UserHomeDir(); err == nil {
			fc.home = h
		}
	}
	_, fc.fsync = o.cl.HasExtension("fsync@openssh.com")
	_, fc.posix = o.cl.HasExtension("posix-rename@openssh.com")
	return fc, nil
}

// LocalPipe is an in-process SFTP server on this machine's file system.
func LocalPipe() (Pipe, error) {
	cr, sw := io.Pipe() // server to client
	sr, cw := io.Pipe() // client to server
	srv, err := sftp.NewServer(pipeRWC{sr, sw})
	if err != nil {
		return Pipe{}, err
	}
	go func() {
		srv.Serve()
		srv.Close()
		cr.Close()
	}()
	return Pipe{R: cr, W: cw, Close: func() { cw.Close(); sr.Close() }, Local: true}, nil
}

type pipeRWC struct {
	*io.PipeReader
	*io.PipeWriter
}

func (p pipeRWC) Close() error {
	p.PipeReader.Close()
	return p.PipeWriter.Close()
}

// abs returns the absolute remote path of p: a leading ~ is the login
// user's home, and a relative path is relative to the Conn's Cd scope (or to
// the home when there is none), as it would be for a command.
func (op *Op) abs(fc *fsClient, p string) string {
	switch {
	case path.IsAbs(p):
		return path.Clean(p)
	case p == "~" || strings.HasPrefix(p, "~/"):
		return path.Join(fc.home, p[1:])
	}
	base := fc.wd
	if d := op.h.Dir(); d != "" {
		switch {
		case path.IsAbs(d):
			base = d
		case d == "~" || strings.HasPrefix(d, "~/"):
			base = path.Join(fc.home, d[1:])
		default:
			base = path.Join(fc.wd, d)
		}
	}
	return path.Join(base, p)
}

// rename moves tmp over dst atomically (posix-rename@openssh.com: rename(2)
// semantics, replacing dst). Servers without the extension get a plain SFTP
// rename, which most refuse when dst exists.
func (fc *fsClient) rename(tmp, dst string) error {
	if fc.posix {
		return fc.PosixRename(tmp, dst)
	}
	return fc.Rename(tmp, dst)
}

// tempName returns the name of a temporary file for dst in dst's directory:
// ".NAME.loom-RANDOM", hidden, and recognisably Loom's.
func tempName(dst string) string {
	dir, base := path.Split(dst)
	if len(base) > 180 {
		base = base[:180]
	}
	return dir + "." + base + ".loom-" + randomToken()
}

// ids are a numeric owner and group to give a file; -1 leaves one as it is.
type ids struct{ uid, gid int }

// remoteFile is what writeFile writes.
type remoteFile struct {
	src   io.Reader
	mode  fs.FileMode
	mtime time.Time // zero: leave the time of the write
	owner *ids      // nil: the writer's
	// keepOwner, for a file replaced in place (Template, AppendLine,
	// Replace), is the replaced file's owner: the new file gets it too, or
	// the write fails rather than silently changing it.
	keepOwner *ids
}

// staged is a temporary file written in full, waiting to be renamed over dst.
type staged struct {
	tmp, dst string
	n        int64
}

// stage writes the temporary file of an atomic write (fsynced if fsync),
// or removes it on failure; commit renames it over dst. Together: a
// temporary file in dst's directory, given its owner and mode, written,
// fsynced when the server can, given its time, then renamed, so readers of
// dst see the old file or the new one, never a part.
func (op *Op) stage(fc *fsClient, dst string, f remoteFile, fsync bool) (st staged, err error) {
	st = staged{tmp: tempName(dst), dst: dst}
	fc.jan.register(st.tmp)
	w, err := fc.OpenFile(st.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return st, fc.explain(err, path.Dir(dst))
	}
	defer func() {
		if err != nil {
			w.Close()
			fc.Remove(st.tmp)
		}
	}()
	// Owner and mode first (chown, then chmod, which chown may change):
	// the handle stays writable whatever they become, and the file is no
	// more readable while it is written than it will be once complete.
	if f.owner != nil {
		if err := w.Chown(f.owner.uid, f.owner.gid); err != nil {
			return st, fmt.Errorf("chown %d:%d: %w", f.owner.uid, f.owner.gid, err)
		}
	} else if k := f.keepOwner; k != nil {
		if err := keepOwner(w, k); err != nil {
			return st, err
		}
	}
	if err := w.Chmod(f.mode); err != nil {
		return st, fmt.Errorf("chmod: %w", err)
	}
	st.n, err = w.ReadFromWithConcurrency(op.reader(f.src), 0)
	if err != nil {
		if cerr := op.ctx.Err(); cerr != nil {
			return st, cerr
		}
		return st, fc.explain(err, path.Dir(dst))
	}
	if f.mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		// a write clears setuid and setgid: set them again
		if err := w.Chmod(f.mode); err != nil {
			return st, fmt.Errorf("chmod: %w", err)
		}
	}
	if fsync {
		if err := w.Sync(); err != nil {
			return st, fmt.Errorf("fsync: %w", fc.explain(err, path.Dir(dst)))
		}
	}
	if err := w.Close(); err != nil {
		return st, fc.explain(err, path.Dir(dst))
	}
	if !f.mtime.IsZero() {
		if err := fc.Chtimes(st.tmp, f.mtime, f.mtime); err != nil {
			return st, fmt.Errorf("set mtime: %w", err)
		}
	}
	return st, op.ctx.Err()
}

// explain gives the reason behind SFTP's generic failure where the file
// system of dir tells it. OpenSSH's sftp-server answers SSH_FX_FAILURE
// ("Failure") for every error it has no code for: a full disk, no inodes
// left, a read-only file system, a quota, an I/O error. The server's
// statvfs@openssh.com tells the first three apart: a full disk wraps
// syscall.ENOSPC ("no space left on device"), a read-only one
// syscall.EROFS (the SFTP status then says nothing more). Otherwise err
// is returned with the free space of dir, which rules a full disk out.
func (fc *fsClient) explain(err error, dir string) error {
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		return err
	}
	if _, ok := fc.HasExtension("statvfs@openssh.com"); !ok {
		return err
	}
	st, serr := fc.StatVFS(dir)
	if serr != nil {
		return err
	}
	const (
		stRdonly = 1       // ST_RDONLY of statvfs(3)
		nearFull = 1 << 20 // less free than this after a failed write: full
	)
	free := st.Frsize * st.Bavail
	switch {
	case st.Flag&stRdonly != 0:
		return fmt.Errorf("%w (%s)", syscall.EROFS, dir)
	case free < nearFull:
		return fmt.Errorf("%w (%s: %s free)", syscall.ENOSPC, dir, humanBytes(int64(free)))
	case st.Files > 0 && st.Favail == 0:
		return fmt.Errorf("%w: no free inodes (%s)", syscall.ENOSPC, dir)
	}
	return fmt.Errorf("%w, and gave no reason (not a full disk: %s has %s free)", err, dir, humanBytes(int64(free)))
}

// commit renames a staged file over its target, or removes it.
func (op *Op) commit(fc *fsClient, st staged) error {
	err := op.ctx.Err()
	if err == nil {
		err = fc.rename(st.tmp, st.dst)
	}
	if err != nil {
		fc.Remove(st.tmp)
	}
	return err
}

// syncStaged makes the staged files durable before they are renamed, for
// a batch of many files: one `sync -f` (syncfs(2)) of the file system
// holding their common directory, instead of one fsync round trip per file
// (which the single-threaded sftp-server serialises: 1,000 small files
// took 3.5 s that way, 0.8 s this way). A file system mounted inside the
// tree is not covered. Where the command cannot run (an SFTP-only account,
// a sync without -f), each file is fsynced.
func (op *Op) syncStaged(fc *fsClient, sts []staged) error {
	if len(sts) == 0 {
		return nil
	}
	root := path.Dir(sts[0].tmp)
	for _, st := range sts[1:] {
		for d := path.Dir(st.tmp); d != root && !strings.HasPrefix(d, root+"/") && root != "/"; {
			root = path.Dir(root)
		}
	}
	if r := op.run(Cmd{Args: []string{"sync", "-f", "--", root}}); r.Err == nil {
		return nil
	}
	if !fc.fsync {
		return nil
	}
	for _, st := range sts {
		f, err := fc.OpenFile(st.tmp, os.O_RDONLY)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("fsync %s: %w", st.tmp, err)
		}
	}
	return nil
}

// keepOwner gives the new file the replaced file's owner and group when
// they differ from the writer's, and fails when that is not allowed.
func keepOwner(w *sftp.File, k *ids) error {
	fi, err := w.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*sftp.FileStat)
	if !ok || (int(st.UID) == k.uid && int(st.GID) == k.gid) {
		return nil
	}
	if err := w.Chown(k.uid, k.gid); err != nil {
		return fmt.Errorf("the file is owned by %d:%d and cannot be given that owner again (%v); use UseSudo", k.uid, k.gid, err)
	}
	return nil
}

// statIDs returns the owner of a remote file from its FileInfo.
func statIDs(fi fs.FileInfo) *ids {
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		return &ids{int(st.UID), int(st.GID)}
	}
	return nil
}

// symlinkAtomic points link at target: a temporary link next to it, renamed
// over link, so link always resolves to the old target or the new one.
func (fc *fsClient) symlinkAtomic(target, link string) error {
	tmp := tempName(link)
	fc.jan.register(tmp)
	if err := fc.Symlink(target, tmp); err != nil {
		return err
	}
	if err := fc.rename(tmp, link); err != nil {
		fc.Remove(tmp)
		return err
	}
	return nil
}

// mkdirAll creates dir and its missing parents, like mkdir -p: the parents
// get the server's default mode, dir itself mode (when not 0) if it is
// created. It reports whether dir was created.
func (fc *fsClient) mkdirAll(dir string, mode fs.FileMode) (bool, error) {
	fi, err := fc.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("%s exists and is not a directory", dir)
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if parent := path.Dir(dir); parent != dir {
		if _, err := fc.mkdirAll(parent, 0); err != nil {
			return false, err
		}
	}
	if err := fc.Mkdir(dir); err != nil {
		if fi, err2 := fc.Stat(dir); err2 == nil && fi.IsDir() {
			return false, nil // made by someone else meanwhile
		}
		return false, err
	}
	if mode != 0 {
		if err := fc.Chmod(dir, mode); err != nil {
			return true, err
		}
	}
	return true, nil
}
