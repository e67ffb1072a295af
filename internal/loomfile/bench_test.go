package loomfile

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchLoomfile returns a loomfile with n tasks of every shape, split over
// two files the way a real project grows.
func benchLoomfile(n int) map[string]string {
	var a, b strings.Builder
	a.WriteString("//go:build loom\n\n// Package main is the shop's loomfile.\npackage main\n\nimport (\n\t\"context\"\n\t\"time\"\n\n\t\"github.com/loomssh/loom\"\n)\n\n")
	b.WriteString("//go:build loom\n\npackage main\n\nimport \"github.com/loomssh/loom\"\n\n// DB holds the database tasks.\ntype DB loom.Namespace\n\n")
	for i := range n {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&a, `// Deploy%d ships VERSION to the web hosts of region %d: it uploads the
// release, switches the current symlink and restarts the app.
//
// With --dry-run it only prints what it would do.
func Deploy%d(c *loom.Conn, version string, count *int, dryRun *bool, wait time.Duration, services ...string) error {
	app := c.Cd("/srv/app").Env("RAILS_ENV", "production")
	app.Run("git", "fetch", "--tags")
	app.Run("git", "checkout", version)
	c.Sudo("systemctl", "restart", "app")
	return c.Err()
}

`, i, i, i)
		case 1:
			fmt.Fprintf(&a, `// Release%d builds and deploys in rolling batches over HOSTS.
func Release%d(ctx context.Context, hosts []string, pause *time.Duration) error {
	d := &loom.Dialer{}
	defer d.Close()
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts(hosts...), Batch: loom.Percent(25)}
	return g.Each(ctx, func(c *loom.Conn) error {
		c.Sudo("systemctl", "restart", "app")
		return c.Err()
	}).Err()
}

`, i, i)
		case 2:
			fmt.Fprintf(&b, `// Migrate%d applies the pending migrations of shard %d.
func (DB) Migrate%d(c *loom.Conn, steps *int, shards []int) error {
	c.Cd("/srv/app").Run("bin/rails", "db:migrate")
	return c.Err()
}

`, i, i, i)
		}
	}
	a.WriteString("var Default = Deploy0\n\nvar Aliases = map[string]any{\"d\": Deploy0, \"r\": Release1, \"m\": DB.Migrate2}\n")
	return map[string]string{"loomfile.go": a.String(), "db.go": b.String(), "app.go": "package shop\n", "sub/dir/x.go": "package dir\n"}
}

// BenchmarkParseAndList measures what `loom -l` does before printing:
// find the loomfiles (from two directories down), parse them and list 30
// tasks. No compiling.
func BenchmarkParseAndList(b *testing.B) {
	root := b.TempDir()
	write(b, root, benchLoomfile(30))
	start := root + "/sub/dir"
	p, err := Find(start, "")
	if err != nil {
		b.Fatal(err)
	}
	info, err := Parse(p)
	if err != nil {
		b.Fatal(err)
	}
	if len(info.Tasks) != 30 {
		b.Fatalf("%d tasks", len(info.Tasks))
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Find(start, "")
		if err != nil {
			b.Fatal(err)
		}
		info, err := Parse(p)
		if err != nil {
			b.Fatal(err)
		}
		info.List(io.Discard)
	}
}

// BenchmarkBind measures binding a typical command line.
func BenchmarkBind(b *testing.B) {
	info := mustParse(b, deployLoomfile)
	tk := task(b, info, "deploy")
	args := []string{"v2", "--count=3", "--dry-run", "10s", "restart", "app"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Bind(tk, args); err != nil {
			b.Fatal(err)
		}
	}
}
