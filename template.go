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
		io.WriteString(op.o.diff, unifiedDiff(string(cur.data), string(data), from, op.c.h.name+":"+R+" (new)"))
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

// unifiedDiff returns a unified diff (3 lines of context) turning a into
// b, or "" when they are equal.
func unifiedDiff(a, b, nameA, nameB string) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)
	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	// walk the edit script, cutting it into hunks
	type line struct {
		op   byte // ' ', '-', '+'
		text string
		ai   int // index in a (for ' ' and '-')
		bi   int // index in b (for ' ' and '+')
	}
	var lines []line
	ai, bi := 0, 0
	for _, o := range ops {
		switch o {
		case ' ':
			lines = append(lines, line{' ', al[ai], ai, bi})
			ai++
			bi++
		case '-':
			lines = append(lines, line{'-', al[ai], ai, bi})
			ai++
		case '+':
			lines = append(lines, line{'+', bl[bi], ai, bi})
			bi++
		}
	}
	for i := 0; i < len(lines); {
		if lines[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i
		for end < len(lines) {
			if lines[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(lines) && lines[run].op == ' ' {
				run++
			}
			if run == len(lines) || run-end > 2*context {
				end = min(end+context, len(lines))
				break
			}
			end = run
		}
		var aStart, aCount, bStart, bCount int
		aStart, bStart = lines[start].ai, lines[start].bi
		for _, l := range lines[start:end] {
			if l.op != '+' {
				aCount++
			}
			if l.op != '-' {
				bCount++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
		for _, l := range lines[start:end] {
			out.WriteByte(l.op)
			out.WriteString(l.text)
			if !strings.HasSuffix(l.text, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if count == 1 {
		return strconv.Itoa(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}

// splitLines splits s into lines that keep their "\n" (the last may lack it).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// maxDiffEdits bounds the work of diffLines; past it the diff is "replace
// everything", which is still a correct diff.
const maxDiffEdits = 4000

// diffLines returns a shortest edit script turning a into b, one byte per
// line: ' ' keep, '-' delete from a, '+' insert from b (Myers' algorithm,
// after stripping the common prefix and suffix).
func diffLines(a, b []string) []byte {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []byte
	for range pre {
		ops = append(ops, ' ')
	}
	ops = append(ops, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for range suf {
		ops = append(ops, ' ')
	}
	return ops
}

func myers(a, b []string) []byte {
	n, m := len(a), len(b)
	replaceAll := func() []byte {
		ops := make([]byte, 0, n+m)
		for range n {
			ops = append(ops, '-')
		}
		for range m {
			ops = append(ops, '+')
		}
		return ops
	}
	if n == 0 || m == 0 {
		return replaceAll()
	}
	limit := min(n+m, maxDiffEdits)
	// v[k+off] is the furthest x on diagonal k; trace[d] is v's live part
	// (diagonals -d-1..d+1) before step d, for the walk back.
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	found := -1
	for d := 0; d <= limit && found < 0; d++ {
		snap := make([]int, 2*d+3)
		copy(snap, v[off-d-1:off+d+2])
		trace = append(trace, snap)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
	}
	if found < 0 {
		return replaceAll()
	}
	var rev []byte
	x, y := n, m
	for d := found; d >= 0; d-- {
		snap := trace[d]
		get := func(k int) int { return snap[k+d+1] }
		k := x - y
		var prevK int
		if k == -d || k != d && get(k-1) < get(k+1) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := 0
		if d > 0 {
			prevX = get(prevK)
		}
		prevY := prevX - prevK
		if d == 0 {
			prevX, prevY = 0, 0
		}
		for x > prevX && y > prevY {
			rev = append(rev, ' ')
			x--
			y--
		}
		if d > 0 {
			if x == prevX {
				rev = append(rev, '+')
			} else {
				rev = append(rev, '-')
			}
		}
		x, y = prevX, prevY
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}
