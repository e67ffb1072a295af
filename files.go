package loom

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/remotefs"
)

// File operations: Put, PutReader, Get, Sync, Template and the helpers
// (Exists, Contains, AppendLine, Replace, EnsureDir, Symlink). They share
// the sticky-error model of Run: each records its failure on the Conn and
// is skipped after an earlier one. The engine behind them is
// internal/remotefs, over a fileHost (files_host.go). See docs/files.md.

// Transfer is what a file operation did.
type Transfer struct {
	Host    string
	Files   int   // files (and symbolic links) written, or fetched by Get
	Bytes   int64 // bytes of file content written or fetched
	Skipped int   // files left alone because they were already up to date (Sync, Template)
	// Changed lists the remote paths written (local paths for Get), in the
	// order of the walk; with DryRun, the paths that would be written.
	Changed []string
	// Removed lists the remote paths deleted (Sync with Delete); with
	// DryRun, the paths that would be deleted.
	Removed []string
	// Cut lists the local files Get cut at the size the host had given
	// for them (in its listing or stat) because it then sent more: a file
	// growing while it was read (a busy log), or a host that lied. Each
	// holds what the host sent up to that size.
	Cut []string
	// DryRun is set when nothing was written because DryRun was given;
	// Files and Bytes then count what would have been sent.
	DryRun   bool
	Duration time.Duration
	// Err is nil on success; a *FileError (wrapping the cause: an
	// fs.ErrNotExist or fs.ErrPermission, an *ExitError or *SudoError of a
	// sudo step, a context error...) or an error wrapping ErrSkipped.
	Err error
}

// OK reports whether the operation succeeded.
func (t *Transfer) OK() bool { return t.Err == nil }

// FileError reports a failed file operation on one file: the host, the
// operation, the local and remote paths involved and the cause, as one line
// ("web1: put app.conf -> /etc/app.conf: permission denied"). Unwrap gives
// the cause, so errors.Is(err, fs.ErrPermission) and errors.As(err,
// &exitErr) work.
type FileError struct {
	Host   string
	Op     string // put, get, sync, template, exists, contains, append, replace, mkdir, symlink
	Local  string // the local path, if any
	Remote string // the remote path, if any
	Err    error
}

// Error returns the one-line message: host, operation, paths, cause.
func (e *FileError) Error() string {
	return e.Host + ": " + remotefs.Describe(e.Op, e.Local, e.Remote) + ": " + causeText(e.Host, e.Err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// causeText is err's message on one line, without a leading host name.
func causeText(host string, err error) string {
	if err == nil {
		return "unknown error"
	}
	s := err.Error()
	s = strings.TrimPrefix(s, host+": ")
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", " | ")
}

// FileOption configures a file operation.
type FileOption func(*remotefs.Options)

// Mode sets the permission bits of the files written (setuid, setgid and
// sticky included, given as fs.ModeSetuid... or as 0o4000...). Without it Put and
// Sync keep the local file's mode, PutReader writes 0644, Template,
// AppendLine and Replace keep the mode of the file they replace (0644 for a
// new one), and Get gives the remote file's permission bits less the umask
// (never setuid, setgid or sticky, as scp and sftp do). For EnsureDir, use
// its mode argument.
func Mode(m fs.FileMode) FileOption {
	return func(o *remotefs.Options) { o.SetMode(m) }
}

// Owner sets the owner and group of the files written (either may be
// empty: Owner("", "www-data") sets only the group). Names or numeric ids.
// Giving a file to another user needs root: add UseSudo unless the login
// user is root.
func Owner(user, group string) FileOption {
	return func(o *remotefs.Options) { o.SetOwner(user, group) }
}

// UseSudo makes the operation act with sudo (as root, or as the user set
// with Conn.As), for files the login user cannot read or write. Writes
// stream the content to a staging directory that sudo creates inside the
// target directory, then move each file into place with a rename, so they
// stay atomic; reads run tar under sudo. The sudo password flow is Sudo's:
// the password is sent on stdin, never on a command line. Paths are quoted;
// nothing given reaches a shell unquoted.
func UseSudo() FileOption { return func(o *remotefs.Options) { o.Sudo = true } }

// Exclude leaves out of a tree (Put, Get, Sync) the files and directories
// whose path matches one of the patterns (path.Match syntax). A pattern
// without a slash matches a name at any depth ("*.pyc", ".git"); one with a
// slash matches the path relative to the tree's root ("static/cache",
// "logs/*.gz"). An excluded directory is left out whole. With Sync and
// Delete, excluded remote files are never deleted.
func Exclude(patterns ...string) FileOption {
	return func(o *remotefs.Options) { o.AddExclude(patterns...) }
}

// Checksum makes Sync compare file contents by SHA-256 instead of by size
// and modification time: sha256sum runs on the remote host once, for all
// the files whose sizes match. (Template always compares whole contents.)
func Checksum() FileOption { return func(o *remotefs.Options) { o.Checksum = true } }

// Delete makes Sync remove remote files and directories that do not exist
// locally (never outside the remote directory, and never excluded ones).
func Delete() FileOption { return func(o *remotefs.Options) { o.Delete = true } }

// DryRun makes an operation report what it would write and delete
// (Transfer.Changed, Removed, Files, Bytes; DryRun set) without changing
// anything: Sync, Put, PutReader, Get, Template and the helpers.
func DryRun() FileOption { return func(o *remotefs.Options) { o.DryRun = true } }

// Overwrite lets Get replace local files and links that already exist.
// Without it Get refuses, before it writes anything, when a local path it
// would write is taken (fs.ErrExist), and a file appearing there while Get
// runs is not replaced either. Put, PutReader, Sync and Template replace
// remote files whatever the options: that is what they are for.
func Overwrite() FileOption { return func(o *remotefs.Options) { o.Overwrite = true } }

// ShowDiff makes Template (and AppendLine and Replace) write a unified
// diff of the change to w before writing the file (nothing when the file
// is unchanged). The diff shows the file's content: do not use it for
// files that hold secrets.
func ShowDiff(w io.Writer) FileOption { return func(o *remotefs.Options) { o.Diff = w } }

// Progress writes progress lines to w during transfers that last more than
// a second: "web1: put app.tar 45.0 MB/100.0 MB (45%) 52.3 MB/s", at most
// one a second, each ending in a newline, and a last one when the transfer
// ends. Writes to w are not concurrent within one operation.
func Progress(w io.Writer) FileOption { return func(o *remotefs.Options) { o.Progress = w } }

// Put copies local to the remote host: a file, a directory tree, or the
// files and trees a local glob matches.
//
//   - A file goes to remote; if remote ends in "/" or is an existing
//     directory, to remote/NAME.
//   - A directory's contents go to the directory remote (created if
//     missing, merged into if it exists): Put("build", "/srv/app") makes
//     /srv/app/index.html of build/index.html. Exclude leaves paths out.
//   - A glob ("dist/*.tar.gz", used when no file has that literal name)
//     puts each match into the directory remote.
//
// Every file is written atomically: to a temporary file in its target
// directory with its owner (Owner) and mode (the local file's, or Mode),
// synced to disk, then renamed over the target; a reader never sees a part
// of a file, and a failed or cancelled Put leaves no temporary file behind.
// Directories Put creates get the local directory's mode; existing ones are
// left as they are. Symbolic links in a tree are copied as links; sockets
// and devices are skipped.
//
// Remote paths that are relative are relative to the Conn's Cd directory,
// or to the login user's home; "~/" is the home. With UseSudo the files are
// written with sudo (see UseSudo). Put does not follow the Conn's Stream,
// Env or Prefix scopes; Timeout applies to the whole Put.
func (c *Conn) Put(local, remote string, opts ...FileOption) *Transfer {
	return c.fileOp("put", opts, func(op *remotefs.Op) error { return op.Put(local, remote) })
}

// PutReader writes what r holds (read to EOF) to the remote file remote,
// atomically like Put, with mode 0644 unless Mode is given. If reading r
// fails, nothing is written. With UseSudo, r is first copied to a private
// local temporary file (the archive sudo unpacks needs the size).
//
//	c.PutReader(strings.NewReader(version+"\n"), "/srv/app/REVISION")
func (c *Conn) PutReader(r io.Reader, remote string, opts ...FileOption) *Transfer {
	return c.fileOp("put", opts, func(op *remotefs.Op) error { return op.PutReader(r, remote) })
}

// Get copies remote from the host to this machine: a file, a directory
// tree, or the files and trees a glob in remote's last element matches
// ("/var/log/app/*.log").
//
// local is a template, so that many hosts never write to the same place:
//
//	{host}      the host's name, as Conn.Host gives it
//	{basename}  the last element of the remote path
//	{dirname}   the remote path's directory, without the leading slash
//	{path}      the remote path, without the leading slash
//
// e.g. "logs/{host}/{basename}"; an empty local means "{host}/{basename}".
// If the expanded path ends in a slash or is an existing directory, the
// file goes inside it, under its base name. A tree is written under the
// expanded path. Two matches of a glob expanding to the same path are an
// error, not an overwrite.
//
// {host} is always one path element of the host's own: "." and "..",
// "/", "\", "%" and control characters in a name are percent-encoded
// ("..": "%2E%2E").
//
// Get never replaces a local file or link that is already there unless
// Overwrite is given: it refuses, before writing anything, when one of its
// local paths is taken. So several hosts (a Group) getting into a path
// without {host} have the first host's file, and the others fail with
// fs.ErrExist rather than replace it.
//
// Each local file is written atomically (a temporary file in its directory,
// then a link or rename) with the remote file's permission bits less the
// umask (never setuid, setgid or sticky: a host cannot plant a setuid
// program, as scp and sftp ensure too), or exactly Mode, and the remote
// modification time; a failed Get leaves no temporary file. A file is
// never longer than the size the host gave for it: a host that sends more
// (a log growing while read, or a lying host) has the file cut there,
// listed in Transfer.Cut. Local directories are created with mode 0755
// (less the umask). Symbolic links inside a tree are copied as links; a
// remote name that could escape the local directory ("..", a slash) is an
// error. With UseSudo the remote files are read with sudo (as a tar
// archive; meant for configuration files and logs, as the archive is held
// in memory).
func (c *Conn) Get(remote, local string, opts ...FileOption) *Transfer {
	return c.fileOp("get", opts, func(op *remotefs.Op) error { return op.Get(remote, local) })
}

// Sync makes the remote directory remoteDir a copy of the local directory
// localDir, sending only what changed: files whose size, modification time
// or mode differ (or, with Checksum, whose SHA-256 differs), new
// directories and changed symbolic links. Files are written atomically as
// by Put and given the local modification time, so a second Sync of an
// unchanged tree sends nothing (Transfer.Files == 0, Skipped counts the
// files left alone).
//
// The remote tree is listed one directory at a time (one SFTP request per
// directory, not one per file). With Delete, remote files and directories
// that are not in localDir are removed; with Exclude, matching paths are
// neither sent nor deleted. A remote file where a local directory is (or
// the reverse) is replaced only with Delete, and an error otherwise. With
// DryRun nothing changes: Changed and Removed list what would. With
// UseSudo, writes and deletions are done with sudo (the remote tree must
// still be listable by the login user).
func (c *Conn) Sync(localDir, remoteDir string, opts ...FileOption) *Transfer {
	return c.fileOp("sync", opts, func(op *remotefs.Op) error { return op.Sync(localDir, remoteDir) })
}

// TemplateData is what a template given to Template is executed with.
type TemplateData struct {
	Host string            // the host's name (Conn.Host)
	Vars map[string]string // the host's variables (Conn.Vars)
	Data any               // the data passed to Template
}

// Vars returns a copy of the host's variables (Host.Vars, from the
// inventory or the code that built the Host); nil when it has none.
func (c *Conn) Vars() map[string]string {
	if c.h.vars == nil {
		return nil
	}
	m := make(map[string]string, len(c.h.vars))
	for k, v := range c.h.vars {
		m[k] = v
	}
	return m
}

// Template renders the local text/template file localTmpl with a
// TemplateData (.Host, .Vars, .Data) and writes the result to the remote
// file remote, atomically as Put does, unless the remote file already holds
// exactly that: then nothing is written and Transfer.Skipped is 1. A key
// missing from a map (a host variable, say) is an error, not "<no value>".
//
// The file keeps the mode and owner of the file it replaces (0644 for a
// new file) unless Mode or Owner says otherwise; with Mode, an unchanged
// file whose mode differs is chmodded. ShowDiff writes a unified diff of
// the change first; DryRun shows it without writing. With UseSudo the
// current file is read and the new one written with sudo.
func (c *Conn) Template(localTmpl, remote string, data any, opts ...FileOption) *Transfer {
	td := TemplateData{Host: c.Host(), Vars: c.Vars(), Data: data}
	if td.Vars == nil {
		td.Vars = map[string]string{}
	}
	return c.fileOp("template", opts, func(op *remotefs.Op) error { return op.Template(localTmpl, remote, td) })
}

// Exists reports whether the remote path exists (following symbolic
// links, like test -e). A missing path is false; an error that says
// nothing either way (permission denied, a lost connection) is recorded as
// the Conn's failure, and Exists returns false. After an earlier failure
// Exists returns false without checking.
func (c *Conn) Exists(p string, opts ...FileOption) bool {
	var ok bool
	t := c.fileOp("exists", opts, func(op *remotefs.Op) (err error) { ok, err = op.Exists(p); return err })
	return ok && t.Err == nil
}

// Contains reports whether the remote file path holds text, compared
// literally (not a pattern; it may span lines). A missing file is false;
// other errors are recorded as the Conn's failure, as for Exists. The file
// is read whole.
func (c *Conn) Contains(p, text string, opts ...FileOption) bool {
	var ok bool
	t := c.fileOp("contains", opts, func(op *remotefs.Op) (err error) { ok, err = op.Contains(p, text); return err })
	return ok && t.Err == nil
}

// AppendLine adds line (and a newline) at the end of the remote file path
// unless the file already has a line equal to it; a missing file is
// created (mode 0644, or Mode). The file is rewritten atomically, keeping
// its mode and owner. line must not contain a newline.
func (c *Conn) AppendLine(p, line string, opts ...FileOption) error {
	return c.fileOp("append", opts, func(op *remotefs.Op) error { return op.AppendLine(p, line) }).Err
}

// Replace replaces, in the remote file path, every match of re with repl
// (as regexp.ReplaceAll: $1 and ${name} expand to submatches). The file is
// read, edited here and written back atomically, keeping its mode and
// owner; the pattern never reaches a shell, so it may hold any character.
// A file with no match is left as it is. A missing file is an error.
func (c *Conn) Replace(p string, re *regexp.Regexp, repl string, opts ...FileOption) error {
	return c.fileOp("replace", opts, func(op *remotefs.Op) error { return op.Replace(p, re, repl) }).Err
}

// EnsureDir makes sure the remote directory path exists (with its parents,
// like mkdir -p) with mode (0 leaves the mode of an existing directory
// alone, and gives a new one the server's default) and, with Owner, that
// owner.
func (c *Conn) EnsureDir(p string, mode fs.FileMode, opts ...FileOption) error {
	return c.fileOp("mkdir", opts, func(op *remotefs.Op) error { return op.EnsureDir(p, mode) }).Err
}

// Symlink makes the remote path link a symbolic link to target (kept as
// given: a relative target is relative to link's directory), replacing an
// existing link or file atomically: a new link is made next to it and
// renamed over it, so that something resolving link at any moment finds
// the old target or the new one (the "current -> releases/20260101" switch
// of a deployment). A directory at link is an error. A link that already
// points at target is left alone. Owner needs UseSudo.
func (c *Conn) Symlink(target, link string, opts ...FileOption) error {
	return c.fileOp("symlink", opts, func(op *remotefs.Op) error { return op.Symlink(target, link) }).Err
}

// fileOp runs one file operation: skipped after an earlier failure,
// refused for a bad scope or option, otherwise run by the engine; its
// failure is recorded on the Conn.
func (c *Conn) fileOp(name string, opts []FileOption, run func(*remotefs.Op) error) *Transfer {
	t := &Transfer{Host: c.h.name}
	if err := c.Err(); err != nil {
		t.Err = fmt.Errorf("%w: %w", ErrSkipped, err)
		return t
	}
	var o remotefs.Options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	bad := c.sc.err
	if bad == nil {
		bad = o.Err
	}
	if bad != nil {
		t.Err = &FileError{Host: c.h.name, Op: name, Err: bad}
		c.Fail(t.Err)
		return t
	}
	op := remotefs.New(fileHost{c}, name, o)
	done, err := op.Finish(run(op))
	t.Files, t.Bytes, t.Skipped, t.DryRun, t.Duration = done.Files, done.Bytes, done.Skipped, done.DryRun, done.Duration
	t.Changed, t.Removed, t.Cut = done.Changed, done.Removed, done.Cut
	if err != nil {
		fe := &FileError{Host: c.h.name, Op: name, Err: err}
		var e *remotefs.Error
		if errors.As(err, &e) && error(e) == err {
			fe.Op, fe.Local, fe.Remote, fe.Err = e.Op, e.Local, e.Remote, e.Err
		}
		t.Err = fe
		c.Fail(t.Err)
	}
	return t
}
