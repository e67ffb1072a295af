package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/examples/fabric/internal/lab"
)

// fabfileLines is the non-blank, non-comment, non-docstring lines of the
// fabfile this loomfile ports (README.md).
const fabfileLines = 99

// TestPort runs the port against an in-process host and checks that it
// does what the fabfile does: deploy (built with sbt, checked for Java 11),
// rollback, latest, the mode toggles, the message and the IP whitelist.
func TestPort(t *testing.T) {
	if n := lab.CodeLines(t, "loomfile.go"); n*10 > fabfileLines*12 {
		t.Errorf("loomfile.go has %d lines, more than 1.2 × the fabfile's %d", n, fabfileLines)
	}
	hostDir := t.TempDir()
	home := filepath.Join(hostDir, "opt", "docview")
	os.MkdirAll(filepath.Join(hostDir, "tmp"), 0o755)
	l := lab.New(t, 1, `"/opt/docview"`, `"`+home+`"`, `"/tmp/"`, `"`+hostDir+`/tmp/"`)
	l.FakeSudo()
	l.Fake("service", "")
	l.Fake("chgrp", "")
	l.Fake("java", `echo 'openjdk version "11.0.21" 2023-10-17' >&2`)
	// sbt dist makes a zip of the app, as the Play build does.
	l.Fake("sbt", `mkdir -p target/universal/docview-1.0/bin && echo "run $(date +%s%N)" >target/universal/docview-1.0/bin/docview &&
		cd target/universal && rm -f docview-1.0.zip && zip -qr docview-1.0.zip docview-1.0`)
	git := func(args ...string) {
		out, err := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "release")
	rev, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()

	loom := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := l.Loom(append([]string{"-H", "h1"}, args...)...)
		if code != want {
			t.Fatalf("loom %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errs)
		}
		return out + errs
	}
	target := func() string {
		link, _ := os.Readlink(filepath.Join(home, "target"))
		return link
	}
	stamp := regexp.MustCompile(`^` + regexp.QuoteMeta(home) + `/deploys/\d{14}_` + strings.TrimSpace(string(rev)) + `$`)

	loom(0, "deploy")
	first := target()
	if !stamp.MatchString(first) {
		t.Fatalf("after deploy, target -> %q, want a version stamp under deploys/", first)
	}
	if _, err := os.Stat(filepath.Join(first, "docview-1.0", "bin", "docview")); err != nil {
		t.Fatalf("the zip was not unpacked into the version directory: %v", err)
	}
	if calls := strings.Join(l.Calls(""), "\n"); !strings.Contains(calls, "sbt dist") ||
		!strings.Contains(calls, "chgrp -R webadm "+home+"/target") || !strings.Contains(calls, "service docview restart") {
		t.Fatalf("deploy's commands: %s", calls)
	}

	// A second deploy, a second later (the stamp has seconds), --clean.
	for s := time.Now().Unix(); time.Now().Unix() == s; {
		time.Sleep(20 * time.Millisecond)
	}
	loom(0, "deploy", "--clean")
	second := target()
	if second == first || !stamp.MatchString(second) || len(l.Calls("sbt clean dist")) != 1 {
		t.Fatalf("deploy --clean: target -> %q (first %q), sbt calls %q", second, first, l.Calls("sbt"))
	}
	loom(0, "rollback")
	if target() != first {
		t.Fatalf("rollback: target -> %q, want %q", target(), first)
	}
	loom(0, "latest")
	if target() != second {
		t.Fatalf("latest: target -> %q, want %q", target(), second)
	}
	if n := len(l.Calls("service docview restart")); n != 4 {
		t.Fatalf("%d restarts, want one per deploy, rollback and latest (4)", n)
	}

	// The mode flags toggle.
	for _, mode := range []string{"maintenance", "readonly"} {
		flag := filepath.Join(home, strings.ToUpper(mode))
		if out := loom(0, mode); !strings.Contains(out, strings.ToUpper(mode)+" mode is ON") {
			t.Fatalf("%s: %q", mode, out)
		}
		if _, err := os.Stat(flag); err != nil {
			t.Fatalf("%s on: %v", mode, err)
		}
		if out := loom(0, mode); !strings.Contains(out, strings.ToUpper(mode)+" mode is OFF") {
			t.Fatalf("%s again: %q", mode, out)
		}
		if _, err := os.Stat(flag); !os.IsNotExist(err) {
			t.Fatalf("%s off: the flag file is still there (%v)", mode, err)
		}
	}

	// The message is shown until removed.
	loom(0, "message", "--msg", "Down at 5 for an upgrade; it's short")
	if b, _ := os.ReadFile(filepath.Join(home, "MESSAGE")); string(b) != "Down at 5 for an upgrade; it's short\n" {
		t.Fatalf("MESSAGE holds %q", b)
	}
	if out := loom(0, "message"); !strings.Contains(out, "MESSAGE mode is OFF") {
		t.Fatalf("message off: %q", out)
	}

	// The whitelist takes one IPv4 address.
	if out := loom(0, "whitelist"); !strings.Contains(out, "Nothing to do") {
		t.Fatalf("whitelist with none: %q", out)
	}
	if out := loom(1, "whitelist", "--ip", "10.1.2.3; rm -rf /"); !strings.Contains(out, "doesn't look like a single IP") {
		t.Fatalf("a bad IP: %q", out)
	}
	loom(0, "whitelist", "--ip", "10.1.2.3")
	if b, _ := os.ReadFile(filepath.Join(home, "IP_WHITELIST")); string(b) != "10.1.2.3\n" {
		t.Fatalf("IP_WHITELIST holds %q", b)
	}
	if out := loom(0, "whitelist"); !strings.Contains(out, "IP_WHITELIST mode is OFF") {
		t.Fatalf("whitelist off: %q", out)
	}

	// The version stamp is a task's value; the wrong Java stops a deploy.
	if out := loom(0, "version-stamp"); !regexp.MustCompile(`\d{14}_` + strings.TrimSpace(string(rev))).MatchString(out) {
		t.Fatalf("version-stamp: %q", out)
	}
	l.Fake("java", `echo 'openjdk version "1.8.0_392"' >&2`)
	if out := loom(1, "deploy"); !strings.Contains(out, "Java 11 required") {
		t.Fatalf("deploy with Java 8: %q", out)
	}
}
