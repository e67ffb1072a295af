package cli

import (
	"fmt"
	"os"

	"github.com/loomssh/loom/internal/loomfile"
)

// tasks answers -l (list the loomfile's tasks) and -h TASK (one task's
// help) by parsing the loomfile, without compiling it.
func tasks(o *options, env Env) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	p, err := loomfile.Find(wd, o.taskFile)
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	info, err := loomfile.Parse(p)
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	if o.list {
		info.List(env.Stdout)
		return ExitOK
	}
	if err := info.Help(env.Stdout, o.args[0]); err != nil {
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	return ExitOK
}
