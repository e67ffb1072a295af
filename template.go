package loom

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
)

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
	op, t := c.newOp("template", opts)
	if op == nil {
		return t
	}
	return op.finish(op.template(localTmpl, remote, data))
}

func (op *fileOp) template(localTmpl, remote string, data any) error {
	if remote == "" {
		return op.fail(localTmpl, remote, errors.New("empty path"))
	}
	tmpl, err := template.New(filepath.Base(localTmpl)).Option("missingkey=error").ParseFiles(localTmpl)
	if err != nil {
		return op.fail(localTmpl, remote, err)
	}
	var buf bytes.Buffer
	td := TemplateData{Host: op.c.Host(), Vars: op.c.Vars(), Data: data}
	if td.Vars == nil {
		td.Vars = map[string]string{}
	}
	if err := tmpl.Execute(&buf, td); err != nil {
		return op.fail(localTmpl, remote, err)
	}
	fc, err := op.fs()
	if err != nil {
		return op.fail(localTmpl, remote, err)
	}
	R := op.c.abs(fc, remote)
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
func (op *fileOp) readCurrent(fc *fsClient, R string) (*current, error) {
	if op.o.sudo {
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
		return &current{exists: true, data: b, mode: fileMode(fs.FileMode(h.Mode)), owner: &ids{h.Uid, h.Gid}}, nil
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
	return &current{exists: true, data: b.Bytes(), mode: fileMode(fi.Mode()), owner: statIDs(fi)}, nil
}

// replaceContent writes data to R unless R already holds it: with
// ShowDiff, a diff first; with DryRun, nothing more. The new file keeps
// cur's mode and owner unless Mode or Owner are given.
func (op *fileOp) replaceContent(fc *fsClient, local, R string, cur *current, data []byte) error {
	if cur.exists && bytes.Equal(cur.data, data) {
		op.t.Skipped++
		if op.o.modeSet && cur.mode != op.o.mode {
			if op.o.dryRun {
				op.t.DryRun = true
				op.t.Changed = append(op.t.Changed, R)
				return nil
			}
			var err error
			if op.o.sudo {
				if r := op.shell("chmod "+octal(op.o.mode)+" -- "+Quote(R), nil); r.Err != nil {
					err = stepErr("sudo chmod", r)
				}
			} else {
				err = fc.Chmod(R, op.o.mode)
			}
			if err != nil {
				return op.fail(local, R, err)
			}
			op.t.Changed = append(op.t.Changed, R)
		}
		return nil
	}
	if op.o.diff != nil {
		from := op.c.h.name + ":" + R
		if !cur.exists {
			from = "/dev/null"
		}
		io.WriteString(op.o.diff, diff.Unified(string(cur.data), string(data), from, op.c.h.name+":"+R+" (new)"))
	}
	it := &putItem{kind: kFile, local: "", remote: R, mode: 0o644, size: int64(len(data)), data: data}
	if data == nil {
		it.data = []byte{}
	}
	if cur.exists {
		it.mode = cur.mode
		if op.o.user == "" && op.o.group == "" && cur.owner != nil {
			if op.o.sudo {
				op.o.user, op.o.group = strconv.Itoa(cur.owner.uid), strconv.Itoa(cur.owner.gid)
			} else {
				it.owner = cur.owner
			}
		}
	}
	if err := op.send(fc, path.Dir(R), []*putItem{it}, false); err != nil {
		var fe *FileError
		if errors.As(err, &fe) && fe.Local == "" && local != "" {
			fe.Local = local
		}
		return err
	}
	return nil
}
