// Command tenstep runs a task of several steps on many hosts with the Loom
// library, the way a deployment script does: one connection per host
// (loom.Group.Each), each step a separate Conn.Run on it, stopping at the
// host's first failing step. bench/race.sh job b races it against tools that
// need a new connection (a new ssh process) for every step.
//
//	tenstep -F ssh_config -h hosts -P 100 'uname -n' 'id -un' ... (one argument per step)
//
// Each step is split on spaces and given to Conn.Run as separate arguments
// (quoted for the remote shell). Prints "HOST: OUTPUT" (every step's output,
// newlines shown as " ; ") for each host that succeeded, "HOST: error: ..."
// on stderr for the others, and "ok=N failed=M" on stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/loomssh/loom"
)

func main() {
	cfg := flag.String("F", "/tmp/loombench/ssh_config", "ssh_config")
	hostsFile := flag.String("h", "/tmp/loombench/hosts", "hosts file, one name a line")
	par := flag.Int("P", 100, "hosts at once")
	flag.Parse()
	steps := flag.Args()
	if len(steps) == 0 {
		fmt.Fprintln(os.Stderr, "usage: tenstep [-F ssh_config] [-h hosts] [-P N] STEP...")
		os.Exit(2)
	}
	b, err := os.ReadFile(*hostsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tenstep:", err)
		os.Exit(2)
	}
	names := strings.Fields(string(b))

	d := &loom.Dialer{ConfigFile: *cfg, MaxHandshakes: min(*par, 64)} // as the loom command sets it
	defer d.Close()
	outputs := make([]string, len(names))
	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts(names...), Parallel: *par}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		var out strings.Builder
		for _, step := range steps {
			out.WriteString(c.Run(strings.Fields(step)...).Stdout)
		}
		outputs[index[c.Host()]] = out.String()
		return c.Err()
	})
	ok := 0
	for i, r := range rs.Hosts {
		if r.Status != loom.StatusOK {
			fmt.Fprintf(os.Stderr, "%s: error: %s: %v\n", r.Host, r.Reason(), r.Err)
			continue
		}
		ok++
		fmt.Printf("%s: %s\n", r.Host, strings.ReplaceAll(strings.TrimRight(outputs[i], "\n"), "\n", " ; "))
	}
	fmt.Fprintf(os.Stderr, "ok=%d failed=%d\n", ok, len(rs.Hosts)-ok)
	if ok < len(rs.Hosts) {
		os.Exit(1)
	}
}
