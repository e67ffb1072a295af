// Command floor is the yardstick for Loom's fan-out: the least a Go program
// can do to run commands on many hosts with golang.org/x/crypto/ssh. One
// goroutine per host, at most -p at once; one ed25519 (or any) key; host keys
// checked against one known_hosts file; each command an exec session on the
// host's one connection, in order. No ssh_config, no retries, no keepalives,
// no live output, no summary beyond two counts. It is not a product.
//
//	floor -h hosts -p 100 -i id_ed25519 -k known_hosts -u user 'uname -n'
//	floor ... 'step 1' 'step 2' ...       several commands: one session each, one connection
//	floor ... -stdin FILE 'cat > dst'     FILE copied to each command's stdin
//
// It prints one line per host that succeeded, "HOST: OUTPUT" (every command's
// output, newlines shown as " ; "), errors as "HOST: error: ..." on stderr, and
// "ok=N failed=M" on stderr at the end. Exit status 1 if any host failed.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func main() {
	hostsFile := flag.String("h", "/tmp/loombench/hosts", "hosts file, one address a line")
	par := flag.Int("p", 100, "hosts at once")
	keyFile := flag.String("i", "/tmp/loombench/id_ed25519", "private key")
	khFile := flag.String("k", "/tmp/loombench/known_hosts", "known_hosts")
	user := flag.String("u", "loombench", "remote user")
	port := flag.String("port", "22", "port")
	stdinFile := flag.String("stdin", "", "file to send to each command's stdin")
	timeout := flag.Duration("timeout", 30*time.Second, "TCP connect timeout")
	flag.Parse()
	cmds := flag.Args()
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: floor [-h hosts] [-p N] [-i key] [-k known_hosts] [-u user] [-port P] [-stdin FILE] CMD...")
		os.Exit(2)
	}

	hosts, err := readLines(*hostsFile)
	check(err)
	pem, err := os.ReadFile(*keyFile)
	check(err)
	signer, err := ssh.ParsePrivateKey(pem)
	check(err)
	hostKeys, err := knownhosts.New(*khFile)
	check(err)
	cfg := &ssh.ClientConfig{
		User:            *user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         *timeout,
	}

	var ok, failed atomic.Int64
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	sem := make(chan struct{}, *par)
	var wg sync.WaitGroup
	for _, h := range hosts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b, err := runHost(net.JoinHostPort(h, *port), cfg, cmds, *stdinFile)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "%s: error: %v\n", h, err)
				return
			}
			ok.Add(1)
			fmt.Fprintf(out, "%s: %s\n", h, strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", " ; "))
		}()
	}
	wg.Wait()
	check(out.Flush())
	fmt.Fprintf(os.Stderr, "ok=%d failed=%d\n", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

// runHost opens one connection and runs each command in its own session.
func runHost(addr string, cfg *ssh.ClientConfig, cmds []string, stdinFile string) ([]byte, error) {
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var all bytes.Buffer
	for _, cmd := range cmds {
		s, err := c.NewSession()
		if err != nil {
			return nil, err
		}
		var in io.ReadCloser
		if stdinFile != "" {
			if in, err = os.Open(stdinFile); err != nil {
				s.Close()
				return nil, err
			}
			s.Stdin = in
		}
		b, err := s.CombinedOutput(cmd)
		all.Write(b)
		s.Close()
		if in != nil {
			in.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
	}
	return all.Bytes(), nil
}

func readLines(name string) ([]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
}
