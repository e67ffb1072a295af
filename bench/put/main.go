// Command put copies one file to many hosts with the Loom library, for
// bench/race.sh job c.
//
// -mode stdin (the default) streams the file into a remote `cat > DST`
// through Conn.Stdin: one connection and one session per host, the same
// bytes on the wire as an scp, without its protocol, atomic rename or mode
// handling: the library's transport cost for a copy. -mode put uses
// Conn.Put; it exists only when built with -tags loomput (put_lib.go), for a
// Loom that has Conn.Put.
//
//	put -F ssh_config -h hosts -P 50 [-mode stdin|put] -src FILE -dst /remote/path
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/loomssh/loom"
)

// putFunc is Conn.Put, set by put_lib.go when built with -tags loomput.
var putFunc func(c *loom.Conn, src, dst string) error

func main() {
	cfg := flag.String("F", "/tmp/loombench/ssh_config", "ssh_config")
	hostsFile := flag.String("h", "/tmp/loombench/hosts", "hosts file, one name a line")
	par := flag.Int("P", 50, "hosts at once")
	src := flag.String("src", "", "local file")
	dst := flag.String("dst", "", "remote path")
	mode := flag.String("mode", "stdin", "how to copy: stdin (Conn.Stdin into cat) or put (Conn.Put, with -tags loomput)")
	flag.Parse()
	if *mode == "put" && putFunc == nil {
		fmt.Fprintln(os.Stderr, "put: -mode put needs a build with -tags loomput (and a Loom with Conn.Put)")
		os.Exit(2)
	}
	if *src == "" || *dst == "" || (*mode != "stdin" && *mode != "put") {
		fmt.Fprintln(os.Stderr, "usage: put [-F ssh_config] [-h hosts] [-P N] [-mode stdin] -src FILE -dst PATH")
		os.Exit(2)
	}
	b, err := os.ReadFile(*hostsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "put:", err)
		os.Exit(2)
	}
	names := strings.Fields(string(b))
	d := &loom.Dialer{ConfigFile: *cfg, MaxHandshakes: min(*par, 64)}
	defer d.Close()
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts(names...), Parallel: *par}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		if *mode == "put" {
			return putFunc(c, *src, *dst)
		}
		f, err := os.Open(*src)
		if err != nil {
			return c.Fail(err)
		}
		defer f.Close()
		return c.Stdin(f).Shell("cat > " + loom.Quote(*dst)).Err
	})
	ok := 0
	for _, r := range rs.Hosts {
		if r.Status != loom.StatusOK {
			fmt.Fprintf(os.Stderr, "%s: error: %s: %v\n", r.Host, r.Reason(), r.Err)
			continue
		}
		ok++
		fmt.Printf("%s: ok\n", r.Host)
	}
	fmt.Fprintf(os.Stderr, "ok=%d failed=%d\n", ok, len(rs.Hosts)-ok)
	if ok < len(rs.Hosts) {
		os.Exit(1)
	}
}
