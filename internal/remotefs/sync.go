package remotefs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/shquote"
)

// remoteEntry is a file, directory or link found on the remote side.
type remoteEntry struct {
	kind  itemKind
	mode  fs.FileMode
	size  int64
	mtime time.Time
}

// Sync makes remoteDir a copy of localDir (loom's Conn.Sync): it plans,
// then applies the plan; with DryRun the plan is the Transfer.
func (op *Op) Sync(localDir, remoteDir string) error {
	p := &syncPlan{}
	err := op.planSync(p, localDir, remoteDir)
	op.t.Skipped += p.skipped
	switch {
	case err != nil:
		return err
	case op.o.DryRun:
		op.t.DryRun = true
		op.t.Removed = append(append(op.t.Removed, p.clear...), p.extra...)
		for _, it := range p.send {
			if it.kind != kDir {
				op.t.Files++
				op.t.Bytes += max(it.size, 0)
				op.t.Changed = append(op.t.Changed, it.remote)
			}
		}
		return nil
	}
	return op.applySync(p)
}

// syncPlan is what a Sync does, found without changing anything.
type syncPlan struct {
	fc      *fsClient
	root    string     // the remote directory
	base    string     // a directory holding everything written (root, or its parent if root is new)
	clear   []string   // remote paths in the way of local ones, removed first (Delete)
	send    []*putItem // what is written, in the order of the local walk
	extra   []string   // remote paths not in localDir, removed last (Delete)
	skipped int        // files already up to date
}

// applySync carries out p: removes what is in the way, writes, then
// removes what is extra.
func (op *Op) applySync(p *syncPlan) error {
	if err := op.remove(p.fc, p.root, p.clear); err != nil {
		return err
	}
	if err := op.send(p.fc, p.base, p.send, true); err != nil {
		return err
	}
	return op.remove(p.fc, p.root, p.extra)
}

// planSync fills p with what syncing localDir to remoteDir takes: the
// remote tree is listed (and, with Checksum, summed), nothing changed.
func (op *Op) planSync(p *syncPlan, localDir, remoteDir string) error {
	if localDir == "" || remoteDir == "" {
		return op.fail(localDir, remoteDir, errors.New("empty path"))
	}
	fi, err := os.Stat(localDir)
	if err != nil {
		return op.fail(localDir, remoteDir, err)
	}
	if !fi.IsDir() {
		return op.fail(localDir, remoteDir, errors.New("not a directory"))
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail(localDir, remoteDir, err)
	}
	R := op.abs(fc, remoteDir)
	if op.o.Delete && R == "/" {
		return op.fail(localDir, R, errors.New("refusing to sync into / with Delete"))
	}
	var items []*putItem
	if err := op.walkLocal(localDir, R, &items); err != nil {
		return op.fail(localDir, R, err)
	}
	rel := func(it *putItem) string { r, _ := relTo(R, it.remote); return r }
	localDirs := map[string]bool{"": true}
	locals := map[string]*putItem{}
	for _, it := range items {
		r := rel(it)
		locals[r] = it
		if it.kind == kDir {
			localDirs[r] = true
		}
	}

	remotes := map[string]*remoteEntry{}
	remoteExists := false
	switch rfi, err := fc.Stat(R); {
	case err == nil && !rfi.IsDir():
		return op.fail(localDir, R, errors.New("exists and is not a directory"))
	case err == nil:
		remoteExists = true
		if err := op.listRemote(fc, R, "", remotes, localDirs); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return op.fail(localDir, R, err)
	}

	order := map[*putItem]int{}
	var send, sums []*putItem
	var clear []string // remote paths in the way of a local one, removed first (Delete)
	conflict := func(it *putItem, what string) error {
		if !op.o.Delete {
			return op.fail(it.local, it.remote, fmt.Errorf("the remote %s is in the way (use Delete to replace it)", what))
		}
		clear = append(clear, it.remote)
		send = append(send, it)
		return nil
	}
	for i, it := range items {
		order[it] = i
		r := rel(it)
		if r == "" {
			if !remoteExists {
				send = append(send, it)
			}
			continue
		}
		re := remotes[r]
		want := it.mode
		if op.o.ModeSet {
			want = op.o.Mode
		}
		var err error
		switch {
		case re == nil:
			send = append(send, it)
		case it.kind == kDir && re.kind != kDir:
			err = conflict(it, "file")
		case it.kind == kDir:
		case re.kind == kDir:
			err = conflict(it, "directory")
		case it.kind == kLink:
			if t, e := fc.ReadLink(it.remote); re.kind != kLink || e != nil || t != it.link {
				send = append(send, it)
			} else {
				p.skipped++
			}
		case re.kind != kFile || re.size != it.size || re.mode != want:
			send = append(send, it)
		case op.o.Checksum:
			sums = append(sums, it)
		case re.mtime.Unix() != it.mtime.Unix():
			send = append(send, it)
		default:
			p.skipped++
		}
		if err != nil {
			return err
		}
	}
	if len(sums) > 0 {
		changed, err := op.differ(fc, R, sums)
		if err != nil {
			return err
		}
		send = append(send, changed...)
		p.skipped += len(sums) - len(changed)
		sort.SliceStable(send, func(i, j int) bool { return order[send[i]] < order[send[j]] })
	}

	var extra []string
	if op.o.Delete {
		for r := range remotes {
			if locals[r] != nil {
				continue
			}
			if parent := path.Dir(r); parent != "." && remotes[parent] != nil && locals[parent] == nil {
				continue // goes with its parent
			}
			extra = append(extra, path.Join(R, r))
		}
		sort.Strings(extra)
	}

	p.fc, p.root, p.base = fc, R, R
	if !remoteExists {
		p.base = path.Dir(R)
	}
	p.clear, p.send, p.extra = clear, send, extra
	return nil
}

// listDir reads the remote directory root/rel: its entries, but those
// the options exclude. A name the server should never list ("", ".",
// "..", one with a slash or a NUL) fails the operation.
func (op *Op) listDir(fc *fsClient, root, rel string) ([]fs.FileInfo, error) {
	dir := path.Join(root, rel)
	entries, err := fc.ReadDir(dir)
	if err != nil {
		return nil, op.fail("", dir, err)
	}
	kept := entries[:0]
	for _, e := range entries {
		if !validName(e.Name()) {
			return nil, op.fail("", dir, fmt.Errorf("the server listed an invalid name %q", e.Name()))
		}
		if !op.o.excluded(path.Join(rel, e.Name())) {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// listRemote lists the remote tree under root/rel into out, descending
// only into directories that also exist locally (the others are either
// new on neither side or deleted whole).
func (op *Op) listRemote(fc *fsClient, root, rel string, out map[string]*remoteEntry, localDirs map[string]bool) error {
	entries, err := op.listDir(fc, root, rel)
	if err != nil {
		return err
	}
	for _, e := range entries {
		r := path.Join(rel, e.Name())
		re := &remoteEntry{kind: kFile, mode: FileMode(e.Mode()), size: e.Size(), mtime: e.ModTime()}
		switch {
		case e.IsDir():
			re.kind = kDir
		case e.Mode()&fs.ModeSymlink != 0:
			re.kind = kLink
		case !e.Mode().IsRegular():
			re.kind = -1 // a socket or device: replaced by whatever is local
		}
		out[r] = re
		if re.kind == kDir && localDirs[r] {
			if err := op.listRemote(fc, root, r, out, localDirs); err != nil {
				return err
			}
		}
	}
	return nil
}

// differ returns the items whose content differs from the remote file's,
// comparing SHA-256 sums (the remote ones computed by one sha256sum run).
func (op *Op) differ(fc *fsClient, R string, items []*putItem) ([]*putItem, error) {
	rels := make([]string, len(items))
	for i, it := range items {
		rels[i], _ = relTo(R, it.remote)
	}
	remote, err := op.remoteSums(fc, R, rels)
	if err != nil {
		return nil, err
	}
	var changed []*putItem
	for i, it := range items {
		sum, err := localSum(it.local)
		if err != nil {
			return nil, op.fail(it.local, it.remote, err)
		}
		if remote[rels[i]] != sum {
			changed = append(changed, it)
		}
	}
	return changed, nil
}

func localSum(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// remoteSums returns the SHA-256 of the files rels under R, by relative
// path. The paths go to sha256sum through xargs on stdin, NUL-separated,
// never through a shell. Where sha256sum is missing (exit 127), the files
// are read over SFTP and summed here.
func (op *Op) remoteSums(fc *fsClient, R string, rels []string) (map[string]string, error) {
	var in bytes.Buffer
	for _, r := range rels {
		in.WriteString("./" + r + "\x00")
	}
	res := op.shell("cd "+shquote.Quote(R)+" && xargs -0 sha256sum --", &in)
	sums := map[string]string{}
	if res.ExitCode == 127 && !op.o.Sudo {
		for _, r := range rels {
			f, err := fc.Open(path.Join(R, r))
			if err != nil {
				return nil, op.fail("", path.Join(R, r), err)
			}
			h := sha256.New()
			_, err = f.WriteTo(h)
			f.Close()
			if err != nil {
				return nil, op.fail("", path.Join(R, r), err)
			}
			sums[r] = hex.EncodeToString(h.Sum(nil))
		}
		return sums, nil
	}
	if res.Err != nil {
		return nil, op.fail("", R, stepErr("sha256sum", res))
	}
	for _, line := range strings.Split(res.Stdout, "\n") {
		escaped := strings.HasPrefix(line, "\\")
		if escaped {
			line = line[1:]
		}
		if len(line) < 67 {
			continue
		}
		name := line[66:]
		if escaped {
			name = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(name)
		}
		sums[strings.TrimPrefix(name, "./")] = line[:64]
	}
	return sums, nil
}

// remove deletes remote paths (files, links, or whole directories without
// following links), recording them in Removed.
func (op *Op) remove(fc *fsClient, R string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	for _, p := range paths {
		if _, ok := relTo(R, p); !ok {
			return op.fail("", p, fmt.Errorf("internal error: %s is not under %s", p, R))
		}
	}
	if op.o.Sudo {
		var in bytes.Buffer
		for _, p := range paths {
			r, _ := relTo(R, p)
			in.WriteString("./" + r + "\x00")
		}
		res := op.shell("cd "+shquote.Quote(R)+" && xargs -0 rm -rf --", &in)
		if res.Err != nil {
			return op.fail("", R, stepErr("sudo rm", res))
		}
		op.t.Removed = append(op.t.Removed, paths...)
		return nil
	}
	for _, p := range paths {
		fi, err := fc.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
		case fi.IsDir():
			err = fc.RemoveAll(p)
		default:
			err = fc.Remove(p)
		}
		if err != nil {
			return op.fail("", p, err)
		}
		op.t.Removed = append(op.t.Removed, p)
	}
	return nil
}
