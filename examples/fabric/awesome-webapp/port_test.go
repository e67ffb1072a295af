package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/examples/fabric/internal/lab"
)

// fabfileLines is the non-blank, non-comment, non-docstring lines of the
// fabfile this loomfile ports (README.md).
const fabfileLines = 135

// TestPort runs the port against an in-process host and checks that it
// does what the fabfile does: build, deploy, rollback (shown and
// confirmed first), backup and restore2local.
func TestPort(t *testing.T) {
	if n := lab.CodeLines(t, "loomfile.go"); n*10 > fabfileLines*12 {
		t.Errorf("loomfile.go has %d lines, more than 1.2 × the fabfile's %d", n, fabfileLines)
	}
	hostDir := t.TempDir()
	srv := filepath.Join(hostDir, "srv", "awesome")
	os.MkdirAll(srv, 0o755)
	os.MkdirAll(filepath.Join(hostDir, "tmp"), 0o755)
	l := lab.New(t, 1, `"/srv/awesome"`, `"`+srv+`"`, `"/tmp/"`, `"`+hostDir+`/tmp/"`, `"/tmp"`, `"`+hostDir+`/tmp"`)
	l.FakeSudo()
	for _, name := range []string{"supervisorctl", "chown", "mysql"} {
		l.Fake(name, "")
	}
	l.Fake("mysqldump", `echo "-- the awesome database"`)
	for _, f := range []string{"www/app.py", "www/static/awesome.css", "www/templates/blog.html", "www/transwarp/db.py", "www/favicon.ico", "www/test/skip.py", "www/app.pyc", "dist/README", "backup/README"} {
		os.MkdirAll(filepath.Join(l.Work, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(l.Work, f), []byte(f+"\n"), 0o644)
	}
	loom := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := l.Loom(append([]string{"-H", "h1"}, args...)...)
		if code != want {
			t.Fatalf("loom %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errs)
		}
		return out + errs
	}
	www := func() string {
		link, _ := os.Readlink(filepath.Join(srv, "www"))
		return link
	}

	loom(0, "build", "deploy")
	first := www()
	if !strings.HasPrefix(first, "www-") {
		t.Fatalf("deploy: www -> %q", first)
	}
	if _, err := os.Stat(filepath.Join(srv, first, "app.py")); err != nil {
		t.Fatalf("the release was not unpacked: %v", err)
	}
	for _, left := range []string{"test", "app.pyc"} {
		if _, err := os.Stat(filepath.Join(srv, first, left)); err == nil {
			t.Fatalf("build packed %s, which the fabfile excludes", left)
		}
	}
	if sv, ch := strings.Join(l.Calls("supervisorctl"), "\n"), strings.Join(l.Calls("chown"), "\n"); sv != "supervisorctl stop awesome\nsupervisorctl start awesome" ||
		!strings.Contains(ch, "chown -R www-data:www-data "+first) {
		t.Fatalf("deploy's commands: %s\n%s", sv, ch)
	}
	// Releases are named to the second: a second one, a second later.
	for s := time.Now().Unix(); time.Now().Unix() == s; {
		time.Sleep(20 * time.Millisecond)
	}
	loom(0, "deploy")
	second := www()
	if second == first {
		t.Fatalf("a second deploy left www -> %q", second)
	}

	// Rollback shows the releases and asks; no is no.
	t.Setenv("LOOM_ANSWER_CONTINUE", "n")
	out := loom(0, "rollback")
	if !strings.Contains(out, "Current ---> "+second) || !strings.Contains(out, "Rollback to ---> "+first) || !strings.Contains(out, "Rollback cancelled.") || www() != second {
		t.Fatalf("rollback answered no: www -> %q\n%s", www(), out)
	}
	os.Unsetenv("LOOM_ANSWER_CONTINUE")
	if out := loom(1, "rollback"); !strings.Contains(out, "LOOM_YES") || www() != second {
		t.Fatalf("rollback with nobody to ask: www -> %q\n%s", www(), out)
	}
	t.Setenv("LOOM_YES", "1")
	if out := loom(0, "rollback"); !strings.Contains(out, "ROLLBACKED OK.") || www() != first {
		t.Fatalf("rollback: www -> %q (want %q)\n%s", www(), first, out)
	}
	if out := loom(1, "rollback"); !strings.Contains(out, "already the oldest version") {
		t.Fatalf("rollback past the oldest: %s", out)
	}

	// Backup downloads the dump and leaves nothing in the host's /tmp.
	loom(0, "backup")
	got, _ := filepath.Glob(filepath.Join(l.Work, "backup", "backup-awesome-*.sql.tar.gz"))
	left, _ := filepath.Glob(filepath.Join(hostDir, "tmp", "backup-*"))
	if len(got) != 1 || len(left) != 0 || len(l.Calls("mysqldump --user=www-data --password=www-data")) != 1 {
		t.Fatalf("backup: downloaded %v, left %v on the host, calls %q", got, left, l.Calls("mysqldump"))
	}

	// restore2local asks which file and the root password.
	t.Setenv("LOOM_ANSWER_RESTORE_FILE", "0")
	t.Setenv("LOOM_ANSWER_INPUT_MYSQL_ROOT_PASSWORD", "s3cret")
	loom(0, "restore2local")
	calls := strings.Join(l.Calls("mysql "), "\n")
	if !strings.Contains(calls, "mysql -uroot -ps3cret -e drop database if exists awesome;") || !strings.Contains(calls, "mysql -uroot -ps3cret awesome") {
		t.Fatalf("restore2local's mysql calls: %s", calls)
	}
	if sql, _ := filepath.Glob(filepath.Join(l.Work, "backup", "*.sql")); len(sql) != 0 {
		t.Fatalf("restore2local left %v", sql)
	}
	t.Setenv("LOOM_ANSWER_RESTORE_FILE", "7")
	if out := loom(1, "restore2local"); !strings.Contains(out, "invalid file number") {
		t.Fatalf("restore2local with a bad number: %s", out)
	}
}
