package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// starter is the loomfile `loom init` writes.
const starter = `//go:build loom

// This is a loomfile: Loom's tasks, in Go. Every exported function is a
// task; its doc comment is its help and its parameters are its arguments.
//
//	loom -l                        list the tasks
//	loom -h deploy                 one task's help
//	loom -H web1,web2 uptime       run a host task on two hosts
//	loom deploy v1.4               run deploy on its default hosts (see init)
//
// The build tag above keeps this file out of your own builds. The file
// needs no go.mod: loom builds it with the Loom it carries. To import other
// Go modules, or to pin Loom's version, move it into a loomfiles/
// directory with a go.mod of its own.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/loomssh/loom"
)

func init() {
	// Default hosts and limits for a task, like Fabric's @roles and
	// @parallel; -H, -R, -P, --batch and --max-fail on the command line win.
	// Roles come from loom.yaml (loom -h explains the inventory).
	loom.Task(Deploy, loom.OnHosts("localhost"), loom.Parallel(10), loom.ArgDefault("dir", "/srv/app"))
}

// Uptime shows how long each host has been up.
func Uptime(c *loom.Conn) error {
	c.Run("uptime")
	return c.Err()
}

// Deploy checks out VERSION in --dir on each host and restarts the app.
//
// Every command's result is kept, and the first failure stops the rest:
// a task is a list of commands and one "return c.Err()".
func Deploy(c *loom.Conn, version string, dir string) error {
	app := c.Cd(dir)
	app.Run("git", "fetch", "--tags")
	app.Run("git", "checkout", version)
	c.Sudo("systemctl", "restart", "app")
	return c.Err()
}

// Hello runs here, once: a local task. It may open groups of hosts.
func Hello(ctx context.Context, name *string) error {
	who := "world"
	if name != nil {
		who = *name
	}
	fmt.Printf("hello, %s (%s)\n", who, time.Now().Format(time.Kitchen))
	return nil
}
`

// initLoomfile writes a starter loomfile.go in the working directory.
func initLoomfile(args []string, env Env) int {
	fl := flag.NewFlagSet("loom init", flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	file := fl.String("f", "loomfile.go", "write the loomfile to `path`")
	if err := fl.Parse(args); err != nil {
		return ExitUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "loom init: unexpected %q (loom init [-f PATH])\n", fl.Arg(0))
		return ExitUsage
	}
	f, err := os.OpenFile(*file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		fmt.Fprintf(env.Stderr, "loom init: %s already exists; it is left as it is\n", *file)
		return ExitUsage
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom init: %v\n", err)
		return ExitUsage
	}
	if _, err := f.WriteString(starter); err != nil {
		f.Close()
		os.Remove(*file)
		fmt.Fprintf(env.Stderr, "loom init: %v\n", err)
		return ExitUsage
	}
	if err := f.Close(); err != nil {
		os.Remove(*file)
		fmt.Fprintf(env.Stderr, "loom init: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(env.Stdout, "wrote %s: loom -l lists its tasks\n", filepath.Clean(*file))
	return ExitOK
}
