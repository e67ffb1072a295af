package remotefs

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/testkit"
)

func TestProgressLines(t *testing.T) {
	old := progressEvery
	progressEvery = 5 * time.Millisecond
	defer func() { progressEvery = old }()
	var buf bytes.Buffer
	lb := &lockedBuf{b: &buf}
	p := newProgress(lb, "web1", "put big", 10_000_000)
	p.add(5_000_000)
	// The event: the half-way line is drawn (however late the ticker).
	testkit.WaitFor(t, "the 50% progress line", func() bool { return strings.Contains(lb.String(), "(50%)") })
	p.add(5_000_000)
	p.stop()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "web1: put big 5.0 MB/10.0 MB (50%) ") ||
		!strings.HasPrefix(lines[len(lines)-1], "web1: put big 10.0 MB/10.0 MB (100%) ") || !strings.Contains(lines[len(lines)-1], " in ") {
		t.Fatalf("progress lines: %q", buf.String())
	}
	// nothing for a transfer shorter than the interval
	buf.Reset()
	progressEvery = time.Hour
	p = newProgress(&buf, "web1", "put small", 10)
	p.add(10)
	p.stop()
	if buf.Len() != 0 {
		t.Fatalf("progress for a short transfer: %q", buf.String())
	}
}

// lockedBuf is a buffer written by the progress goroutine and read by
// the test.
type lockedBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestExclude(t *testing.T) {
	var o Options
	o.AddExclude("*.pyc", "/static/cache/", "logs/*.gz", ".git")
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	for rel, want := range map[string]bool{
		"a.pyc": true, "x/y/b.pyc": true, "static/cache": true, "static/cache/f": false,
		"static": false, "logs/a.gz": true, "x/logs/a.gz": false, ".git": true, "sub/.git": true, "git": false,
	} {
		if got := o.excluded(rel); got != want {
			t.Errorf("excluded(%q) = %v, want %v", rel, got, want)
		}
	}
	if !o.excludedUnder("static/cache/f") || o.excludedUnder("static/other") {
		t.Error("excludedUnder")
	}
	var bad Options
	bad.AddExclude("[")
	if bad.Err == nil {
		t.Error("a bad pattern was accepted")
	}
	var own Options
	own.SetOwner("root; rm -rf /", "")
	if own.Err == nil {
		t.Error("a bad owner was accepted")
	}
}

func TestRelTo(t *testing.T) {
	for _, c := range []struct {
		dir, p, rel string
		ok          bool
	}{
		{"/srv", "/srv/app/x", "app/x", true},
		{"/srv", "/srv", "", false},
		{"/srv", "/srvx/a", "", false},
		{"/", "/etc", "etc", true},
	} {
		if rel, ok := relTo(c.dir, c.p); rel != c.rel || ok != c.ok {
			t.Errorf("relTo(%q, %q) = %q, %v", c.dir, c.p, rel, ok)
		}
	}
}

// The scripts parse, whatever the paths hold.
func TestSudoScriptsParse(t *testing.T) {
	for _, p := range []string{"/etc", "/srv/it's $(id) `x` \"y\" *", "/a\nb"} {
		for _, s := range []string{sudoPutScript(p, "www-data:www-data", "0644"), sudoPutScript(p, "", "")} {
			if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
				t.Fatalf("script for %q does not parse: %v: %s\n%s", p, err, out, s)
			}
		}
	}
}

func TestLocalPathTemplate(t *testing.T) {
	h := &fakeHost{name: "deploy@web1:22"}
	op := &Op{h: h}
	dir := t.TempDir()
	for tmpl, want := range map[string]string{
		"logs/{host}/{basename}": "logs/deploy@web1:22/syslog",
		"{host}/{path}":          "deploy@web1:22/var/log/syslog",
		"{dirname}/{host}.log":   "var/log/deploy@web1:22.log",
		dir + "/":                dir + "/syslog",
		dir:                      dir + "/syslog",
		"plain":                  "plain",
	} {
		if got := op.localPath(tmpl, "/var/log/syslog"); got != filepath.FromSlash(want) {
			t.Errorf("localPath(%q) = %q, want %q", tmpl, got, want)
		}
	}
	for name, want := range map[string]string{"a/../b": "a%2F..%2Fb/x", "..": "%2E%2E/x", ".": "%2E/x", "x\x1b[0m": "x%1B[0m/x"} {
		h.name = name
		if got := op.localPath(dir+"/{host}/x", "/x"); got != filepath.Join(dir, want) {
			t.Errorf("host %q: %q, want %q", name, got, filepath.Join(dir, want))
		}
	}
}

func TestModes(t *testing.T) {
	for _, c := range []struct {
		in    fs.FileMode
		octal string
	}{
		{0o644, "0644"},
		{0o4755, "4755"},
		{0o755 | fs.ModeSetuid, "4755"},
		{0o2775 | fs.ModeDir, "2775"},
		{0o1777, "1777"},
		{0o640 | fs.ModeSymlink, "0640"},
	} {
		if got := octal(FileMode(c.in)); got != c.octal {
			t.Errorf("octal(FileMode(%v)) = %s, want %s", c.in, got, c.octal)
		}
	}
	if FileMode(0o4755) != 0o755|fs.ModeSetuid {
		t.Error("0o4755 is not setuid")
	}
}

// fakeHost is a Host on this machine that records the commands it is given
// and answers them from a script of results.
type fakeHost struct {
	name string
	dir  string
	slot Slot
	cmds []Cmd
	// answer gives the result of a command; nil: exit 0, no output
	answer func(Cmd) Result
}

func (h *fakeHost) Name() string                           { return h.name }
func (h *fakeHost) Context() context.Context               { return context.Background() }
func (h *fakeHost) Timeout() time.Duration                 { return 0 }
func (h *fakeHost) Dir() string                            { return h.dir }
func (h *fakeHost) Slot() *Slot                            { return &h.slot }
func (h *fakeHost) OpenSFTP(context.Context) (Pipe, error) { return LocalPipe() }
func (h *fakeHost) Run(_ context.Context, c Cmd) Result {
	if c.Stdin != nil {
		b, _ := io.ReadAll(c.Stdin)
		c.Stdin = bytes.NewReader(b)
	}
	h.cmds = append(h.cmds, c)
	if h.answer != nil {
		return h.answer(c)
	}
	return Result{}
}

// A Sync is planned before anything changes: the plan holds what is in
// the way, what is sent and what is extra, and a dry run reports exactly
// the plan and leaves the remote tree as it was.
func TestSyncPlan(t *testing.T) {
	T := t.TempDir()
	local, remote := filepath.Join(T, "l"), filepath.Join(T, "r")
	for _, d := range []string{local + "/d", local + "/x", remote + "/old", remote} {
		os.MkdirAll(d, 0o755)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(local+"/same", "same")
	write(remote+"/same", "same")
	mtime := time.Now().Add(-time.Hour)
	os.Chtimes(local+"/same", mtime, mtime)
	os.Chtimes(remote+"/same", mtime, mtime)
	write(local+"/changed", "new")
	write(remote+"/changed", "older")
	write(local+"/d/new", "n")
	write(local+"/x/f", "f")
	write(remote+"/x", "a file where a directory goes")
	write(remote+"/old/f", "o")

	op := New(&fakeHost{name: "web1"}, "sync", Options{Delete: true, DryRun: true})
	p := &syncPlan{}
	if err := op.planSync(p, local, remote); err != nil {
		t.Fatal(err)
	}
	var send []string
	for _, it := range p.send {
		send = append(send, strings.TrimPrefix(it.remote, remote))
	}
	for what, c := range map[string]struct{ got, want []string }{
		"clear": {p.clear, []string{remote + "/x"}},
		"send":  {send, []string{"/changed", "/d", "/d/new", "/x", "/x/f"}},
		"extra": {p.extra, []string{remote + "/old"}},
	} {
		if strings.Join(c.got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %q, want %q", what, c.got, c.want)
		}
	}
	if p.skipped != 1 || p.base != remote {
		t.Errorf("skipped %d, base %q", p.skipped, p.base)
	}

	op = New(&fakeHost{name: "web1"}, "sync", Options{Delete: true, DryRun: true})
	tr, err := op.Finish(op.Sync(local, remote))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.DryRun || strings.Join(tr.Changed, " ") != remote+"/changed "+remote+"/d/new "+remote+"/x/f" ||
		strings.Join(tr.Removed, " ") != remote+"/x "+remote+"/old" || tr.Files != 3 || tr.Skipped != 1 {
		t.Errorf("dry run: %+v", tr)
	}
	if b, _ := os.ReadFile(remote + "/changed"); string(b) != "older" {
		t.Error("the dry run wrote")
	}
	if _, err := os.Stat(remote + "/old/f"); err != nil {
		t.Error("the dry run deleted")
	}
}
