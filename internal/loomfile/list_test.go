package loomfile

import (
	"strings"
	"testing"
)

const smallLoomfile = `//go:build loom

package main

import (
	"context"
	"time"

	"github.com/loomssh/loom"
)

// Deploy ships VERSION to the web hosts.
//
// It restarts the app afterwards:
//
//	systemctl restart app
func Deploy(c *loom.Conn, version string, count *int, dryRun *bool, tags *[]string, services ...string) error {
	c.Cd("/srv/app").Run("git", "checkout", version)
	c.Sudo("systemctl", "restart", "app")
	return c.Err()
}

// Release tags and builds a release, then deploys it in rolling batches.
func Release(ctx context.Context, hosts []string, wait time.Duration) error { return nil }

func Undocumented() {}

type DB loom.Namespace

// Migrate applies the pending migrations.
func (DB) Migrate(c *loom.Conn) error { return c.Err() }

var Default = Deploy
var Aliases = map[string]any{"d": Deploy, "m": DB.Migrate}
`

func TestList(t *testing.T) {
	info := mustParse(t, smallLoomfile)
	var b strings.Builder
	info.List(&b)
	want := `Tasks:
  db:migrate                    host   applies the pending migrations.
  deploy VERSION [SERVICES...]  host   (default) ships VERSION to the web hosts.
  release HOSTS,... WAIT        local  tags and builds a release, then deploys it in rolling batches.
  undocumented                  local

Aliases: d = deploy, m = db:migrate

loom -h TASK shows a task's arguments and its whole doc comment.
`
	if b.String() != want {
		t.Errorf("List:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	(&Info{}).List(&b)
	if !strings.HasPrefix(b.String(), "No tasks: a task is an exported function") {
		t.Errorf("empty List: %q", b.String())
	}
}

func TestHelp(t *testing.T) {
	info := mustParse(t, smallLoomfile)
	for _, tc := range []struct{ name, want string }{
		{"deploy", `Usage: loom deploy VERSION [--count=INT] [--dry-run] [--tags=TAGS,...] [SERVICES...]

  Deploy ships VERSION to the web hosts.

  It restarts the app afterwards:

      systemctl restart app

A host task: runs on every selected host (-H, -R), each with its own connection.

Arguments:
  VERSION            string     required; positional, or --version=VERSION
  [--count=INT]      *int       optional
  [--dry-run]        *bool      optional; --dry-run alone means true
  [--tags=TAGS,...]  *[]string  optional; a comma-separated list, or named several times
  [SERVICES...]      ...string  the rest of the positional words, one value each

Aliases: d.
The default task: runs when loom is given no task.
Declared at loomfile.go:17 (Deploy).
`},
		{"Release", `Usage: loom release HOSTS,... WAIT

  Release tags and builds a release, then deploys it in rolling batches.

A local task: runs once, on this machine. The groups it opens (loom.NewGroup,
loom.Execute) keep their own hosts; -H and -R only narrow them (a group runs
on those of its hosts they name, and on none if they name none of them).

Arguments:
  HOSTS,...  []string       required; positional, or --hosts=HOSTS,...; a comma-separated list, or named several times
  WAIT       time.Duration  required; positional, or --wait=DURATION

Declared at loomfile.go:24 (Release).
`},
		{"m", `Usage: loom db:migrate

  Migrate applies the pending migrations.

A host task: runs on every selected host (-H, -R), each with its own connection.

Aliases: m.
Declared at loomfile.go:31 (DB.Migrate).
`},
		{"undocumented", `Usage: loom undocumented

A local task: runs once, on this machine. The groups it opens (loom.NewGroup,
loom.Execute) keep their own hosts; -H and -R only narrow them (a group runs
on those of its hosts they name, and on none if they name none of them).

Declared at loomfile.go:26 (Undocumented).
`},
	} {
		var b strings.Builder
		if err := info.Help(&b, tc.name); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("Help(%s):\n%s\nwant:\n%s", tc.name, b.String(), tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	info := mustParse(t, deployLoomfile)
	for in, want := range map[string]string{
		"deploy":          "deploy",
		"DEPLOY":          "deploy",
		"d":               "deploy",
		"D":               "deploy",
		"":                "deploy",
		"rolling-restart": "rolling-restart",
		"rollingrestart":  "rolling-restart",
		"RollingRestart":  "rolling-restart",
		"rolling_restart": "rolling-restart",
		"db:migrate":      "db:migrate",
		"DB:Migrate":      "db:migrate",
		"DB.Migrate":      "db:migrate",
		"m":               "db:migrate",
		"snap":            "db:snapshot",
	} {
		tk, err := info.Resolve(in)
		if err != nil || tk.Name != want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", in, tk, err, want)
		}
	}
	for in, want := range map[string]string{
		"dpeloy":     `unknown task "dpeloy" (did you mean deploy?)`,
		"rollingrst": `unknown task "rollingrst" (did you mean rolling-restart?)`,
		"roll":       `unknown task "roll" (did you mean rolling-restart?)`,
		"db:migrat":  `unknown task "db:migrat" (did you mean db:migrate?)`,
		"snp":        `unknown task "snp" (did you mean snap?)`,
		"x":          `unknown task "x" (loom -l lists the tasks)`,
		"migrate":    `unknown task "migrate" (did you mean db:migrate?)`,
		"DB":         `unknown task "DB" (namespace db has db:migrate, db:snapshot)`,
		"zzzzzz":     `unknown task "zzzzzz" (loom -l lists the tasks)`,
	} {
		_, err := info.Resolve(in)
		if err == nil || err.Error() != want {
			t.Errorf("Resolve(%q) error %v, want %q", in, err, want)
		}
		var b strings.Builder
		if err2 := info.Help(&b, in); err2 == nil || err2.Error() != want || b.Len() != 0 {
			t.Errorf("Help(%q) error %v, output %q", in, err2, b.String())
		}
	}
	if _, err := (&Info{}).Resolve(""); err == nil || !strings.Contains(err.Error(), "no default task") {
		t.Errorf("Resolve(\"\") without default: %v", err)
	}
	if _, err := (&Info{}).Resolve("x"); err == nil || err.Error() != `unknown task "x" (the loomfile has no tasks)` {
		t.Errorf("Resolve on no tasks: %v", err)
	}
}
