package loomfile

import (
	"os"
	"path/filepath"
	"testing"
)

// deployLoomfile is a realistic loomfile: host tasks with typed and
// optional arguments, a local task running a rolling restart over a group,
// a namespace, a text-typed argument, a default and aliases, doc comments,
// and things that are not tasks.
const deployLoomfile = `//go:build loom

// The loomfile of the shop app.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	lm "github.com/loomssh/loom"
)

// Deploy ships VERSION to every web host: it checks out the tag, installs
// the dependencies and restarts the app.
//
// With --dry-run it only prints what it would do.
func Deploy(c *lm.Conn, version string, count *int, dryRun *bool, wait time.Duration) error {
	app := c.Cd("/srv/shop").Env("RAILS_ENV", "production")
	app.Run("git", "fetch", "--tags")
	app.Run("git", "checkout", version)
	app.Shell("bundle install --deployment | tail -1")
	c.Sudo("systemctl", "restart", "shop")
	return c.Err()
}

// RollingRestart restarts the app on HOSTS a quarter at a time, stopping
// at the first failure.
func RollingRestart(ctx context.Context, hosts []string, pause *time.Duration) error {
	d := &lm.Dialer{}
	defer d.Close()
	g := &lm.Group{Dialer: d, Hosts: lm.Hosts(hosts...), Batch: lm.Percent(25), MaxFail: lm.Count(1)}
	rs := g.Each(ctx, func(c *lm.Conn) error {
		c.Sudo("systemctl", "restart", "shop")
		return c.Err()
	})
	return rs.Err()
}

// Build compiles the release binary for linux/amd64.
func Build() error {
	cmd := exec.Command("go", "build", "-o", "bin/shop", "./cmd/shop")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	return cmd.Run()
}

// Restart restarts services (all of them by default).
func Restart(c *lm.Conn, services ...string) {
	c.Sudo(append([]string{"systemctl", "restart"}, services...)...)
}

// Logs prints the last lines of the app's log.
func Logs(c *lm.Conn, lines int64, ratio float64, levels []string, verbose bool) error {
	c.Run("tail", "-n", fmt.Sprint(lines), "/var/log/shop.log")
	return c.Err()
}

// DB holds the database tasks.
type DB lm.Namespace

// Migrate applies the pending migrations.
func (DB) Migrate(c *lm.Conn, steps *int) error {
	c.Cd("/srv/shop").Run("bin/rails", "db:migrate")
	return c.Err()
}

// Snapshot copies the database to a file named after TAG, taken at AT.
func (*DB) Snapshot(c *lm.Conn, tag string, at Stamp, keep *[]time.Duration) error {
	return c.Err()
}

// Stamp is a point in time given as text.
type Stamp struct{ t time.Time }

// UnmarshalText reads an RFC 3339 time.
func (s *Stamp) UnmarshalText(b []byte) error {
	t, err := time.Parse(time.RFC3339, string(b))
	s.t = t
	return err
}

// CurrentRelease returns the release a host runs: a helper, not a task,
// because it returns a value.
func CurrentRelease(c *lm.Conn) string { return c.Run("readlink", "/srv/shop/current").Text() }

// Name is a method of a type that is not a namespace: not a task.
func (s Stamp) Name() string { return "" }

func Version() (string, error) { return "v1", nil }

func restart(c *lm.Conn) { c.Sudo("systemctl", "restart", "shop") }

var Default = Deploy

var Aliases = map[string]any{
	"d":    Deploy,
	"m":    DB.Migrate,
	"snap": (*DB).Snapshot,
}
`

// write creates the files (relative path → content) under dir.
func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// parseString parses one loomfile held in memory.
func parseString(src string) (*Info, error) {
	return parseSources([]source{{name: "loomfile.go", src: []byte(src)}})
}

// mustParse parses a loomfile held in memory, failing the test on error.
func mustParse(t testing.TB, src string) *Info {
	t.Helper()
	info, err := parseString(src)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// task returns the task named name, failing the test if there is none.
func task(t testing.TB, info *Info, name string) *Task {
	t.Helper()
	for _, tk := range info.Tasks {
		if tk.Name == name {
			return tk
		}
	}
	t.Fatalf("no task %s", name)
	return nil
}
