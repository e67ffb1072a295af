package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/localpath"
)

// fileUsage checks the arguments of put, get and sync.
func fileUsage(sub string, o *options) error {
	switch {
	case sub == "put" && len(o.args) < 2:
		return fmt.Errorf("put: want LOCAL... REMOTE, e.g. loom put -H web1 app.conf /etc/app/")
	case sub == "get" && len(o.args) != 2:
		return fmt.Errorf("get: want REMOTE LOCAL_TEMPLATE, e.g. loom get -H @hosts /var/log/app.log 'logs/{host}/{basename}'")
	case sub == "sync" && len(o.args) != 2:
		return fmt.Errorf("sync: want LOCAL_DIR REMOTE_DIR, e.g. loom sync -R web ./public /srv/app/public")
	case sub != "sync" && (o.deleteExtra || o.check):
		return fmt.Errorf("--delete and --check are for loom sync")
	case sub != "get" && o.overwrite:
		return fmt.Errorf("--overwrite is for loom get (put and sync always replace remote files, atomically)")
	}
	if _, err := o.fileOptions(nil); err != nil {
		return err
	}
	return nil
}

// fileOptions turns the file flags into FileOptions.
func (o *options) fileOptions(progress io.Writer) ([]loom.FileOption, error) {
	var opts []loom.FileOption
	if o.mode != "" {
		m, err := strconv.ParseUint(o.mode, 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("--mode %q: want an octal mode like 0644", o.mode)
		}
		opts = append(opts, loom.Mode(fs.FileMode(m)))
	}
	if o.owner != "" {
		user, group, _ := strings.Cut(o.owner, ":")
		if user == "" && group == "" {
			return nil, fmt.Errorf("--owner %q: want USER, USER:GROUP or :GROUP", o.owner)
		}
		opts = append(opts, loom.Owner(user, group))
	}
	if o.sudo {
		opts = append(opts, loom.UseSudo())
	}
	if len(o.fileExcludes.vals) > 0 {
		opts = append(opts, loom.Exclude(o.fileExcludes.vals...))
	}
	if o.checksum {
		opts = append(opts, loom.Checksum())
	}
	if o.deleteExtra {
		opts = append(opts, loom.Delete())
	}
	if o.check {
		opts = append(opts, loom.DryRun())
	}
	if o.overwrite {
		opts = append(opts, loom.Overwrite())
	}
	if progress != nil {
		opts = append(opts, loom.Progress(progress))
	}
	return opts, nil
}

// transfers keeps each host's Transfer for the report.
type transfers struct {
	mu sync.Mutex
	m  map[string]*loom.Transfer
}

func (t *transfers) add(host string, tr *loom.Transfer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*loom.Transfer{}
	}
	if prev := t.m[host]; prev != nil { // several LOCAL arguments: add up
		prev.Files += tr.Files
		prev.Bytes += tr.Bytes
		prev.Skipped += tr.Skipped
		prev.Changed = append(prev.Changed, tr.Changed...)
		prev.Removed = append(prev.Removed, tr.Removed...)
		prev.Cut = append(prev.Cut, tr.Cut...)
		prev.Duration += tr.Duration
		if prev.Err == nil {
			prev.Err = tr.Err
		}
		return
	}
	t.m[host] = tr
}

// take returns and forgets a host's Transfer.
func (t *transfers) take(host string) *loom.Transfer {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := t.m[host]
	delete(t.m, host)
	return tr
}

// fileWork is the per-host work of put, get and sync.
func fileWork(sub string, o *options, opts []loom.FileOption, rec *transfers) func(c *loom.Conn) error {
	return func(c *loom.Conn) error {
		if o.sudoUser != "" {
			c = c.As(o.sudoUser)
		}
		var tr *loom.Transfer
		switch sub {
		case "put":
			dst := o.args[len(o.args)-1]
			for _, src := range o.args[:len(o.args)-1] {
				tr = c.Put(src, dst, opts...)
				rec.add(c.Host(), tr)
				if tr.Err != nil {
					return tr.Err
				}
			}
			return nil
		case "get":
			tr = c.Get(o.args[0], o.args[1], opts...)
		case "sync":
			tr = c.Sync(o.args[0], o.args[1], opts...)
		}
		rec.add(c.Host(), tr)
		return tr.Err
	}
}

// getShared refuses, before anything runs, a get from several hosts whose
// local template would have two of them write the same local path: the
// template needs {host}.
func getShared(sub string, o *options, hosts []loom.Host) error {
	if sub != "get" || len(hosts) < 2 {
		return nil
	}
	tmpl := o.args[1]
	if tmpl == "" {
		return nil // the library's default, {host}/{basename}
	}
	for _, h := range hosts[1:] {
		if localpath.Shared(tmpl, hosts[0].Name, h.Name) {
			hint := filepath.Join(filepath.Dir(tmpl), "{host}", filepath.Base(tmpl))
			if strings.HasSuffix(tmpl, "/") {
				hint = tmpl + "{host}/"
			}
			return fmt.Errorf("get: %d hosts would write the same local path %s: put {host} in it, e.g. '%s'", len(hosts), tmpl, hint)
		}
	}
	return nil
}

// fileCause is the cause of a host's failed put, get or sync as the
// summary shows it (the operation, its paths and why, without the host's
// name; for get, without the local path, which differs from host to host),
// or "" when the host did not fail in a file operation.
func fileCause(hr *loom.HostResult) string {
	var fe *loom.FileError
	if hr.Err == nil || !errors.As(hr.Err, &fe) {
		return ""
	}
	s := fe.Op
	switch {
	case fe.Local != "" && fe.Remote != "" && fe.Op != "get":
		s += " " + fe.Local + " -> " + fe.Remote
	case fe.Remote != "":
		s += " " + fe.Remote
	case fe.Local != "":
		s += " " + fe.Local
	}
	cause := "unknown error"
	if fe.Err != nil {
		cause = strings.TrimPrefix(strings.TrimSpace(fe.Err.Error()), fe.Host+": ")
	}
	return s + ": " + oneLine(cause)
}

// describeTransfer is the one-line report of a host's transfer.
func describeTransfer(sub string, tr *loom.Transfer) string {
	verb := map[string]string{"put": "sent", "get": "fetched", "sync": "sent"}[sub]
	if tr.DryRun {
		verb = "would send"
	}
	s := fmt.Sprintf("%s %d file%s (%s)", verb, tr.Files, plural(tr.Files), humanBytes(tr.Bytes))
	if tr.Skipped > 0 {
		s += fmt.Sprintf(", %d unchanged", tr.Skipped)
	}
	if len(tr.Removed) > 0 {
		s += fmt.Sprintf(", removed %d", len(tr.Removed))
	}
	if len(tr.Cut) > 0 {
		s += fmt.Sprintf(", %d cut at the size the host gave (it sent more: growing as it was read?): %s", len(tr.Cut), strings.Join(tr.Cut, ", "))
	}
	if tr.Duration > 0 && tr.Bytes > 0 {
		s += fmt.Sprintf(" in %v, %s/s", tr.Duration.Round(1e6), humanBytes(int64(float64(tr.Bytes)/tr.Duration.Seconds())))
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
