package remotefs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/loomssh/loom/internal/diff"
	"github.com/loomssh/loom/internal/shquote"
)

// Template renders the template file localTmpl with data and writes the
// result to remote unless it already holds exactly that (loom's
// Conn.Template).
func (op *Op) Template(localTmpl, remote string, data any) error {
	if remote == "" {
		return op.fail(localTmpl, remote, errors.New("empty path"))
	}
	tmpl, err := template.New(filepath.Base(localTmpl)).Option("missingkey=error").ParseFiles(localTmpl)
	if err != nil {
		return op.fail(localTmpl, remote, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return op.fail(localTmpl, remote, err)
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail(localTmpl, remote, err)
	}
	R := op.abs(fc, remote)
	if strings.HasSuffix(remote, "/") {
		name := filepath.Base(localTmpl)
		for _, ext := range []string{".tmpl", ".tpl", ".gotmpl"} {
			name = strings.TrimSuffix(name, ext)
		}
		R = path.Join(R, name)
	}
	cur, err := op.readCurrent(fc, R)
	if err != nil {
		return op.fail(localTmpl, R, err)
	}
	return op.replaceContent(fc, localTmpl, R, cur, buf.Bytes())
}

// current is a remote file as it is before it is replaced.
type current struct {
	exists bool
	data   []byte
	mode   fs.FileMode
	owner  *ids
}

// readCurrent reads the remote file R (over SFTP, or with sudo); a missing
// file is not an error.
func (op *Op) readCurrent(fc *fsClient, R string) (*current, error) {
	if op.o.Sudo {
		archive, err := op.sudoFetch(path.Dir(R), []string{path.Base(R)})
		if errors.Is(err, fs.ErrNotExist) {
			return &current{}, nil
		}
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(bytes.NewReader(archive))
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, errors.New("not a regular file")
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		return &current{exists: true, data: b, mode: FileMode(fs.FileMode(h.Mode)), owner: &ids{h.Uid, h.Gid}}, nil
	}
	fi, err := fc.Stat(R)
	if errors.Is(err, fs.ErrNotExist) {
		return &current{}, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := fc.Open(R)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := f.WriteTo(op.writer(&b)); err != nil {
		return nil, err
	}
	return &current{exists: true, data: b.Bytes(), mode: FileMode(fi.Mode()), owner: statIDs(fi)}, nil
}

// replaceContent writes data to R unless R already holds it: with
// ShowDiff, a diff first; with DryRun, nothing more. The new file keeps
// cur's mode and owner unless Mode or Owner are given.
func (op *Op) replaceContent(fc *fsClient, local, R string, cur *current, data []byte) error {
	if cur.exists && bytes.Equal(cur.data, data) {
		op.t.Skipped++
		if op.o.ModeSet && cur.mode != op.o.Mode {
			if op.o.DryRun {
				op.t.DryRun = true
				op.t.Changed = append(op.t.Changed, R)
				return nil
			}
			var err error
			if op.o.Sudo {
				if r := op.shell("chmod "+octal(op.o.Mode)+" -- "+shquote.Quote(R), nil); r.Err != nil {
					err = stepErr("sudo chmod", r)
				}
			} else {
				err = fc.Chmod(R, op.o.Mode)
			}
			if err != nil {
				return op.fail(local, R, err)
			}
			op.t.Changed = append(op.t.Changed, R)
		}
		return nil
	}
	if op.o.Diff != nil {
		from := op.h.Name() + ":" + R
		if !cur.exists {
			from = "/dev/null"
		}
		io.WriteString(op.o.Diff, diff.Unified(string(cur.data), string(data), from, op.h.Name()+":"+R+" (new)"))
	}
	it := &putItem{kind: kFile, local: "", remote: R, mode: 0o644, size: int64(len(data)), data: data}
	if data == nil {
		it.data = []byte{}
	}
	if cur.exists {
		it.mode = cur.mode
		if op.o.User == "" && op.o.Group == "" && cur.owner != nil {
			if op.o.Sudo {
				op.o.User, op.o.Group = strconv.Itoa(cur.owner.uid), strconv.Itoa(cur.owner.gid)
			} else {
				it.owner = cur.owner
			}
		}
	}
	if err := op.send(fc, path.Dir(R), []*putItem{it}, false); err != nil {
		var fe *Error
		if errors.As(err, &fe) && fe.Local == "" && local != "" {
			fe.Local = local
		}
		return err
	}
	return nil
}
