package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/loomssh/loom/examples/fabric/internal/lab"
)

// fabfileLines is the non-blank, non-comment, non-docstring lines of the
// fabfile this loomfile ports (README.md).
const fabfileLines = 81

// TestPort runs the port against an in-process host and checks that it
// does what the fabfile does: deploy (a Maven build, the restart asked
// first), rollback, latest, an online backup and a clone of the database.
func TestPort(t *testing.T) {
	if n := lab.CodeLines(t, "loomfile.go"); n*10 > fabfileLines*12 {
		t.Errorf("loomfile.go has %d lines, more than 1.2 × the fabfile's %d", n, fabfileLines)
	}
	hostDir := t.TempDir()
	neo4j := filepath.Join(hostDir, "opt", "neo4j")
	for _, d := range []string{"tmp", "opt/neo4j/ehri-rest/deploys", "opt/neo4j/plugins", "opt/neo4j/current/bin"} {
		os.MkdirAll(filepath.Join(hostDir, d), 0o755)
	}
	l := lab.New(t, 1, `"/opt/neo4j`, `"`+neo4j, `"/tmp/"`, `"`+hostDir+`/tmp/"`)
	l.FakeSudo()
	l.Fake("service", "")
	l.Fake("chgrp", "")
	// mvn package builds the plugin jar; help:evaluate prints the version
	// among Maven's chatter.
	l.Fake("mvn", `case "$*" in
		*evaluate*) echo '[INFO] Scanning for projects...'; echo 2.1.0 ;;
		*package*) mkdir -p build/target && echo "jar $(date +%s%N)" >build/target/ehri-data-2.1.0.jar ;;
		esac`)
	// neo4j-admin backup writes the database into --backup-dir/--name.
	admin := filepath.Join(neo4j, "current", "bin", "neo4j-admin")
	os.WriteFile(admin, []byte(`#!/bin/sh
echo "neo4j-admin $*" >>"$CALLS"
for a; do case "$a" in --name=*) name=${a#--name=} ;; esac; done
while [ $# -gt 0 ]; do [ "$1" = --backup-dir ] && dir=$2; shift; done
mkdir -p "$dir/$name" && echo graph >"$dir/$name/neostore"
`), 0o755)
	for _, args := range [][]string{{"init", "-q"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "r"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}

	loom := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := l.Loom(append([]string{"-H", "h1"}, args...)...)
		if code != want {
			t.Fatalf("loom %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errs)
		}
		return out + errs
	}
	target := func() string {
		link, _ := os.Readlink(filepath.Join(neo4j, "plugins", "ehri-data.jar"))
		return link
	}
	jar := regexp.MustCompile(`/ehri-rest/deploys/ehri-data-\d{14}_[0-9a-f]+\.jar$`)

	// Nobody to answer "Restart Neo4j?": an error, not a hang and not a guess.
	if out := loom(1, "deploy"); !strings.Contains(out, "LOOM_ANSWER_RESTART_NEO4J") {
		t.Fatalf("deploy with nobody to ask: %q", out)
	}
	t.Setenv("LOOM_YES", "1")
	os.Remove(filepath.Join(neo4j, "plugins", "ehri-data.jar"))
	loom(0, "deploy", "--clean")
	first := target()
	if !jar.MatchString(first) || len(l.Calls("mvn clean package -DskipTests")) != 1 || len(l.Calls("service neo4j restart")) != 1 {
		t.Fatalf("deploy: target -> %q; calls %q", first, l.Calls(""))
	}
	if b, err := os.ReadFile(first); err != nil || !strings.HasPrefix(string(b), "jar ") {
		t.Fatalf("the uploaded jar: %q %v", b, err)
	}
	// Deploys are stamped to the second: wait for a new one.
	for first == target() || !jar.MatchString(target()) {
		loom(0, "deploy")
	}
	second := target()

	// Answered no, the restart is left out.
	t.Setenv("LOOM_YES", "")
	t.Setenv("LOOM_ANSWER_RESTART_NEO4J", "n")
	before := len(l.Calls("service neo4j restart"))
	loom(0, "rollback")
	if target() != first || len(l.Calls("service neo4j restart")) != before {
		t.Fatalf("rollback answered no: target -> %q (want %q), restarts %d (want %d)", target(), first, len(l.Calls("service neo4j restart")), before)
	}
	t.Setenv("LOOM_ANSWER_RESTART_NEO4J", "yes")
	loom(0, "latest")
	if target() != second || len(l.Calls("service neo4j restart")) != before+1 {
		t.Fatalf("latest: target -> %q (want %q)", target(), second)
	}

	// An online backup, tarred unless --tar=false, and never over one.
	backup := filepath.Join(hostDir, "backups", "b1")
	loom(0, "online-backup", backup)
	if _, err := os.Stat(backup + ".tgz"); err != nil {
		t.Fatalf("online-backup made no %s.tgz: %v", backup, err)
	}
	loom(0, "online-backup", backup, "--tar=false")
	if _, err := os.Stat(filepath.Join(backup, "neostore")); err != nil {
		t.Fatalf("online-backup --tar=false left no directory: %v", err)
	}
	if out := loom(1, "online-backup", backup); !strings.Contains(out, "already exists") {
		t.Fatalf("a second backup into %s: %q", backup, out)
	}

	// A clone of the live database, here.
	loom(0, "online-clone-db", "graph")
	if b, err := os.ReadFile(filepath.Join(l.Work, "graph", "neostore")); err != nil || string(b) != "graph\n" {
		t.Fatalf("online-clone-db: %q %v", b, err)
	}
	left, _ := filepath.Glob(filepath.Join(hostDir, "tmp", "*"))
	here, _ := filepath.Glob(filepath.Join(l.Work, "*.tgz"))
	if len(left)+len(here) != 0 {
		t.Fatalf("online-clone-db left %v on the host and %v here", left, here)
	}
	if out := loom(0, "artifact-version"); !strings.Contains(out, "2.1.0") {
		t.Fatalf("artifact-version: %q", out)
	}
}
