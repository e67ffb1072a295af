// Command manyhosts measures loom against many in-process SSH hosts on
// loopback: it starts N loomtest servers (one listener each, a shared host
// key), writes an ssh_config, known_hosts and a hosts file for them, runs
// the loom binary against all of them and reports wall time, client CPU,
// the client's peak memory and how many hosts answered.
//
//	go build -o /tmp/loom ./cmd/loom
//	go run ./bench/manyhosts -loom /tmp/loom -n 10000 -P 100
//
// Run it for several -n at the same -P to see that the client's memory
// grows with -P, not with the number of hosts.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/loomtest"
)

func main() {
	loomBin := flag.String("loom", "/tmp/loom", "the loom binary to measure")
	n := flag.Int("n", 1000, "number of hosts")
	parallel := flag.Int("P", 100, "loom -P")
	cmd := flag.String("cmd", "echo ok", "command to run on every host")
	extra := flag.String("args", "", "extra loom flags, space separated (e.g. --json)")
	saveOut := flag.String("save", "", "save loom's stdout to this file")
	perHost := flag.Bool("known-hosts-per-host", false, "write one known_hosts line per host (default: one wildcard line for the shared host key)")
	flag.Parse()

	raiseFileLimit(*n + 1000)

	dir, err := os.MkdirTemp("", "loom-manyhosts-")
	check(err)
	defer os.RemoveAll(dir)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(dir, "id")
	check(os.WriteFile(key, pem.EncodeToMemory(block), 0o600))
	client, _ := ssh.NewSignerFromKey(priv)
	_, hpriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromKey(hpriv)

	start := time.Now()
	var hosts, known bytes.Buffer
	work := filepath.Join(dir, "work")
	check(os.Mkdir(work, 0o755))
	for i := 0; i < *n; i++ {
		s, err := loomtest.Start(loomtest.Options{HostKey: hostKey, AuthorizedKeys: []ssh.PublicKey{client.PublicKey()}, Dir: work})
		check(err)
		defer s.Close()
		fmt.Fprintf(&hosts, "%s\n", s.Addr())
		if *perHost {
			known.WriteString(knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", s.Host(), s.Port())}, s.HostKey()) + "\n")
		}
	}
	if !*perHost {
		known.WriteString(knownhosts.Line([]string{"*"}, hostKey.PublicKey()) + "\n")
	}
	fmt.Fprintf(os.Stderr, "started %d hosts in %v\n", *n, time.Since(start).Round(time.Millisecond))
	hostsFile := filepath.Join(dir, "hosts")
	check(os.WriteFile(hostsFile, hosts.Bytes(), 0o600))
	kh := filepath.Join(dir, "known_hosts")
	check(os.WriteFile(kh, known.Bytes(), 0o600))
	cfg := filepath.Join(dir, "ssh_config")
	check(os.WriteFile(cfg, []byte(fmt.Sprintf("Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  BatchMode yes\n", key, kh)), 0o600))

	args := []string{"-F", cfg, "-H", "@" + hostsFile, "-P", fmt.Sprint(*parallel)}
	args = append(args, strings.Fields(*extra)...)
	args = append(args, "--", *cmd)
	// Measure through /usr/bin/time: the rusage of a child started directly
	// from this (large) process would report this process's memory, since
	// Go starts children with vfork.
	timing := filepath.Join(dir, "time")
	c := exec.Command("/usr/bin/time", append([]string{"-f", "%e %U %S %M", "-o", timing, *loomBin}, args...)...)
	var out, errs bytes.Buffer
	if *saveOut != "" {
		defer func() { os.WriteFile(*saveOut, out.Bytes(), 0o600) }()
	}
	c.Stdout, c.Stderr = &out, &errs
	t0 := time.Now()
	err = c.Run()
	wall := time.Since(t0)
	var w, user, sys float64
	var maxrss int64
	if b, rerr := os.ReadFile(timing); rerr == nil {
		fields := strings.Fields(string(b))
		if len(fields) >= 4 {
			// the last line holds the numbers (time may print a status line first)
			n := len(fields)
			fmt.Sscan(fields[n-4], &w)
			fmt.Sscan(fields[n-3], &user)
			fmt.Sscan(fields[n-2], &sys)
			fmt.Sscan(fields[n-1], &maxrss)
		}
	}
	cpu := time.Duration((user + sys) * float64(time.Second))
	lines := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		lines++
	}
	status := 0
	if err != nil {
		status = c.ProcessState.ExitCode()
	}
	fmt.Printf("loom hosts=%d P=%d wall=%.2fs cpu=%.2fs cpu/host=%.2fms maxrss=%dKB out_lines=%d exit=%d\n",
		*n, *parallel, wall.Seconds(), cpu.Seconds(), float64(cpu.Microseconds())/1000/float64(*n), maxrss, lines, status)
	if status != 0 {
		tail := errs.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		fmt.Fprint(os.Stderr, tail)
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
