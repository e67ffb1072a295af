package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/loomssh/loom/internal/proctree"

	"github.com/loomssh/loom/internal/hostlist"
)

// maxOutput caps what a dynamic command may print on stdout.
const maxOutput = 16 << 20

// waitDelay is how long a killed command's pipes may stay open (a
// grandchild holding them) before Loom stops waiting.
const waitDelay = 2 * time.Second

// dynamicOutput is the parsed output of one dynamic command.
type dynamicOutput struct {
	d   Dynamic
	src source
	loc func(line int) string // "loom.yaml:12: dynamic command "x": output line 3"
}

// runDynamic runs the commands concurrently. The first failure stops the
// others; its error names the entry (file:line), the command and the tail
// of its stderr.
func runDynamic(ctx context.Context, path string, ds []Dynamic) ([]dynamicOutput, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	dir := filepath.Dir(path)
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outs := make([]dynamicOutput, len(ds))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := runOne(ctx, dir, abs, path, d)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			outs[i] = o
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return outs, nil
}

// runOne runs one dynamic command and parses its output.
func runOne(ctx context.Context, dir, absPath, path string, d Dynamic) (dynamicOutput, error) {
	where := fmt.Sprintf("%s:%d: dynamic command %q", path, d.Line, d.Command)
	o := dynamicOutput{d: d, loc: func(line int) string {
		if line <= 0 {
			return where + ": output"
		}
		return fmt.Sprintf("%s: output line %d", where, line)
	}}

	cctx, cancelCmd := context.WithTimeout(ctx, d.Timeout)
	defer cancelCmd()
	sh, err := proctree.Shell(d.Command) // /bin/sh -c; sh.exe on Windows
	if err != nil {
		return o, fmt.Errorf("%s: %v", where, err)
	}
	cmd := exec.CommandContext(cctx, sh.Path, sh.Args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LOOM_INVENTORY="+absPath)
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)
	stdout := &capWriter{max: maxOutput, over: cancelCmd}
	stderr := &tailWriter{max: 4096}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	err = cmd.Run()
	switch {
	case stdout.exceeded:
		return o, fmt.Errorf("%s: printed more than %d MiB", where, maxOutput>>20)
	case errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return o, fmt.Errorf("%s: timed out after %v%s", where, d.Timeout, stderr.summary())
	case ctx.Err() != nil:
		return o, fmt.Errorf("%s: %v", where, ctx.Err())
	case err != nil:
		msg := err.Error()
		var ee *exec.ExitError
		if !errors.As(err, &ee) && errors.Is(err, exec.ErrWaitDelay) {
			msg = "its output stayed open after it exited (a background process?)"
			killGroup(cmd)
		}
		return o, fmt.Errorf("%s: %s%s", where, msg, stderr.summary())
	}
	src, err := parseOutput(stdout.buf.Bytes(), o.loc)
	if err != nil {
		return o, err
	}
	o.src = src
	return o, nil
}

// capWriter keeps up to max bytes and calls over once when more come.
type capWriter struct {
	buf      bytes.Buffer
	max      int
	exceeded bool
	over     func()
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.exceeded {
		return len(p), nil
	}
	if w.buf.Len()+len(p) > w.max {
		w.exceeded = true
		w.over()
		return len(p), nil
	}
	return w.buf.Write(p)
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	buf []byte
	max int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

// summary is "; stderr: "…"" with the last lines of stderr on one line,
// or "" when it printed nothing.
func (w *tailWriter) summary() string {
	var lines []string
	for _, l := range strings.Split(string(w.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " | ")
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return fmt.Sprintf("; stderr: %q", s)
}

// yamlOutputRE spots a YAML document: a top-level hosts: or roles: key.
var yamlOutputRE = regexp.MustCompile(`(?m)^(hosts|roles)[ \t]*:`)

// isYAMLOutput tells the two output formats apart: a YAML (or JSON)
// document starts with '{' or "---", or has a top-level hosts: or roles:.
func isYAMLOutput(out []byte) bool {
	t := bytes.TrimLeft(out, " \t\r\n")
	return bytes.HasPrefix(t, []byte("{")) || bytes.HasPrefix(t, []byte("---")) || yamlOutputRE.Match(out)
}

// parseOutput parses what a dynamic command printed: a YAML/JSON
// document with hosts: and roles: (the file's schema), or lines of
// "HOST [ROLE[,ROLE...]]" with # comments.
func parseOutput(out []byte, loc func(int) string) (source, error) {
	p := &parser{loc: loc, budget: maxHosts}
	if isYAMLOutput(out) {
		root, err := p.decode(out)
		if err != nil {
			return source{}, err
		}
		m, err := p.parseDoc(root, true)
		if err != nil {
			return source{}, err
		}
		return m.source, nil
	}
	var src source
	for i, line := range strings.Split(string(out), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		n := i + 1
		names, err := p.expandLine(n, f[0])
		if err != nil {
			return source{}, err
		}
		d := hostDecl{line: n, names: names}
		for _, r := range strings.FieldsFunc(strings.Join(f[1:], " "), func(r rune) bool { return r == ',' || r == ' ' }) {
			if err := checkRole(r); err != nil {
				return source{}, fmt.Errorf("%s: %v", loc(n), err)
			}
			d.s.roles = append(d.s.roles, r)
		}
		src.hosts = append(src.hosts, d)
	}
	return src, nil
}

// expandLine expands the host of an output line.
func (p *parser) expandLine(line int, pattern string) ([]string, error) {
	if strings.ContainsRune(pattern, '@') || hasPort(pattern) {
		return nil, fmt.Errorf("%s: %q: print a bare host name (use the YAML form, hosts: {NAME: {user: …, port: …}}, for users and ports)", p.loc(line), pattern)
	}
	names, err := hostlist.ExpandLimit(pattern, max(p.budget, 1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p.loc(line), err)
	}
	p.budget -= len(names)
	for i, h := range names {
		if names[i], err = checkHost(h); err != nil {
			return nil, fmt.Errorf("%s: %v", p.loc(line), err)
		}
	}
	return names, nil
}

// hasPort reports "host:port" (one ':'), or "[addr]:port".
func hasPort(s string) bool {
	return strings.Count(s, ":") == 1 || strings.Contains(s, "]:")
}
