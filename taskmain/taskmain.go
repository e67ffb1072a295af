// Package taskmain is the main of a compiled loomfile: the loom command
// generates a main function that calls Main with the loomfile's tasks, and
// the program it builds is the loom command with those tasks built in. You
// do not need this package unless you write such a main yourself.
package taskmain

import (
	"os"

	"github.com/loomssh/loom/internal/cli"
)

// A Task is one task of a loomfile: its name on the command line and its
// function.
type Task struct {
	name string
	fn   any
}

// Func returns the task named name whose function is fn (Deploy, or
// (*DB).Migrate for a method of a namespace).
func Func(name string, fn any) Task { return Task{name: name, fn: fn} }

// Main runs the loom command with tasks built in and exits. table is the
// task table the loom command read from the loomfiles (JSON): names, docs,
// arguments and settings, which Main checks against the functions before
// running anything.
func Main(table string, tasks ...Task) {
	fs := make([]cli.TaskFunc, len(tasks))
	for i, t := range tasks {
		fs[i] = cli.TaskFunc{Name: t.name, Func: t.fn}
	}
	os.Exit(cli.MainProgram(table, fs))
}
