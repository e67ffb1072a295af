package loom_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loomssh/loom"
)

// Put a file: written atomically (temporary file, fsync, chmod, rename),
// with the local file's mode. The example uses Local, whose file
// operations are the same as a remote Conn's.
func ExampleConn_Put() {
	dir, _ := os.MkdirTemp("", "loom-example-")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "app.conf")
	os.WriteFile(src, []byte("port = 8080\n"), 0o640)

	c := loom.Local()
	defer c.Close()
	t := c.Put(src, filepath.Join(dir, "srv", "app.conf")) // srv/ is created
	fmt.Println(t.Files, t.Bytes, t.Err)
	fi, _ := os.Stat(filepath.Join(dir, "srv", "app.conf"))
	fmt.Println(fi.Mode().Perm())

	// a tree, into a directory relative to the Cd scope, leaving some out
	os.MkdirAll(filepath.Join(dir, "build", "static"), 0o755)
	os.WriteFile(filepath.Join(dir, "build", "index.html"), []byte("<h1>hi</h1>\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "build", "static", "app.js.map"), []byte("{}"), 0o644)
	t = c.Cd(dir).Put(filepath.Join(dir, "build"), "srv/www", loom.Exclude("*.map"))
	fmt.Println(t.Files, filepath.Base(t.Changed[0]))
	// Output:
	// 1 12 <nil>
	// -rw-r-----
	// 1 index.html
}

// Render a configuration file from a template: nothing is written when the
// file already holds the result, and ShowDiff shows what changes.
func ExampleConn_Template() {
	dir, _ := os.MkdirTemp("", "loom-example-")
	defer os.RemoveAll(dir)
	tmpl := filepath.Join(dir, "app.conf.tmpl")
	os.WriteFile(tmpl, []byte("# {{.Host}}\nworkers = {{.Data.Workers}}\n"), 0o644)
	dst := filepath.Join(dir, "app.conf")

	c := loom.Local()
	defer c.Close()
	t := c.Template(tmpl, dst, map[string]int{"Workers": 4})
	fmt.Println("written:", t.Files, "skipped:", t.Skipped)
	t = c.Template(tmpl, dst, map[string]int{"Workers": 4})
	fmt.Println("written:", t.Files, "skipped:", t.Skipped)

	diff := &prefixWriter{strip: dst}
	t = c.Template(tmpl, dst, map[string]int{"Workers": 8}, loom.ShowDiff(diff))
	fmt.Println("written:", t.Files, "skipped:", t.Skipped)
	// Output:
	// written: 1 skipped: 0
	// written: 0 skipped: 1
	// --- local:app.conf
	// +++ local:app.conf (new)
	// @@ -1,2 +1,2 @@
	//  # local
	// -workers = 4
	// +workers = 8
	// written: 1 skipped: 0
}

// Sync sends only what changed; a second run sends nothing.
func ExampleConn_Sync() {
	dir, _ := os.MkdirTemp("", "loom-example-")
	defer os.RemoveAll(dir)
	for _, f := range []string{"a.txt", "b.txt", "sub/c.txt"} {
		os.MkdirAll(filepath.Join(dir, "src", filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, "src", f), []byte(f), 0o644)
	}
	c := loom.Local()
	defer c.Close()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	t := c.Sync(src, dst)
	fmt.Println("sent:", t.Files, "unchanged:", t.Skipped)
	t = c.Sync(src, dst)
	fmt.Println("sent:", t.Files, "unchanged:", t.Skipped)

	os.WriteFile(filepath.Join(dir, "src", "a.txt"), []byte("a, changed"), 0o644)
	os.Remove(filepath.Join(dir, "src", "b.txt"))
	t = c.Sync(src, dst, loom.Delete())
	fmt.Println("sent:", t.Files, "unchanged:", t.Skipped, "removed:", len(t.Removed))
	// Output:
	// sent: 3 unchanged: 0
	// sent: 0 unchanged: 3
	// sent: 1 unchanged: 1 removed: 1
}

// A deployment with files: a new release directory, its configuration from
// a template, then an atomic switch of the "current" link and a restart, on
// every web server, two at a time. (Not run: it needs real hosts.)
func Example_deployFiles() {
	d := &loom.Dialer{Prompt: loom.Terminal()}
	defer d.Close()
	release := "/srv/app/releases/" + time.Now().UTC().Format("20060102150405")
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts("web1", "web2", "web3"), Parallel: 2}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		c.Sync("build/", release, loom.Exclude(".git", "*.map"))
		c.Template("deploy/app.env.tmpl", release+"/.env", nil, loom.Mode(0o600))
		c.Symlink(release, "/srv/app/current")
		c.Sudo("systemctl", "reload", "app")
		c.Get("/var/log/app/deploy.log", "logs/{host}/{basename}")
		return c.Err()
	})
	if err := rs.Err(); err != nil {
		log.Fatal(err)
	}
}

// prefixWriter prints the diff with the temporary directory cut out of
// the paths, so that the example's output is stable.
type prefixWriter struct{ strip string }

func (p *prefixWriter) Write(b []byte) (int, error) {
	fmt.Print(strings.ReplaceAll(string(b), p.strip, "app.conf"))
	return len(b), nil
}
