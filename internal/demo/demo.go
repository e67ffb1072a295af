// Package demo is "loom demo": a tour of Loom on throwaway SSH hosts that
// run in the process (loomtest), with real loom commands against them. It
// lives apart from the command's own package so that the test server is
// linked into the loom command only, not into compiled loomfiles.
package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/loomssh/loom/internal/cli"
	"github.com/loomssh/loom/internal/shquote"
	"github.com/loomssh/loom/loomtest"
)

// withTasks says whether the tour includes the loomfile's tasks (which
// compile a loomfile: seconds); tests in -short mode leave them out.
var withTasks = true

// Run starts a few throwaway SSH hosts in this process, on loopback, with
// fresh host keys and a fresh client key, writes an ssh_config and a
// known_hosts for them in a temp dir, and runs real loom commands against
// them. Nothing outside the temp dir is touched.
func Run(ctx context.Context, args []string, env cli.Env) int {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "loom demo takes no arguments")
		return cli.ExitUsage
	}
	dir, err := os.MkdirTemp("", "loom-demo-")
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom demo: %v\n", err)
		return cli.ExitUsage
	}
	defer os.RemoveAll(dir)
	cfg, stop, err := demoHosts(dir, []string{"web1", "web2", "db1"})
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom demo: %v\n", err)
		return cli.ExitUsage
	}
	defer stop()

	say := func(s string) { fmt.Fprintln(env.Stdout, s) }
	say("Three throwaway SSH hosts are listening on 127.0.0.1 (web1, web2, db1),")
	say("each running commands in its own temp dir. Their ssh_config is " + cfg)
	steps := []struct {
		about string
		args  []string
		want  int
	}{
		{"Run a shell command on every host; each line is prefixed with its host:",
			[]string{"-H", "web1,web2,db1", "--", `echo "hello from $(basename "$PWD")"; date +%Y`}, cli.ExitOK},
		{"Arguments after -- are quoted for the remote shell, so nothing is re-interpreted:",
			[]string{"-H", "web1", "--", "printf", "%s\\n", "it's $HOME; rm -rf /"}, cli.ExitOK},
		{"A failing command makes a clear summary and exit status 1:",
			[]string{"-H", "web1,web2,db1", "--", `test -f ready || { echo "not ready" >&2; exit 4; }`}, cli.ExitFailed},
		{"A host that is not in known_hosts is refused (exit status 3), never trusted silently:",
			[]string{"-H", "stranger", "--", "true"}, cli.ExitUnreachable},
	}
	proj := filepath.Join(dir, "project")
	if err := writeDemoLoomfile(proj); err != nil {
		fmt.Fprintf(env.Stderr, "loom demo: %v\n", err)
		return cli.ExitUsage
	}
	if os.Getenv("LOOM_CACHE") == "" {
		os.Setenv("LOOM_CACHE", filepath.Join(dir, "cache")) // nothing outside the temp dir
	}
	tasks := []struct {
		about string
		args  []string
		want  int
	}{
		{"Tasks are Go functions in a loomfile.go; loom -l lists them from the source:",
			[]string{"-f", proj, "-l"}, cli.ExitOK},
		{"A host task runs on each host (the first run compiles the loomfile, a few seconds):",
			[]string{"-f", proj, "-H", "web1,web2", "deploy", "v1.4"}, cli.ExitOK},
		{"A local task runs here once and rolls a release out one host at a time:",
			[]string{"-f", proj, "rollout", "v1.5"}, cli.ExitOK},
	}
	if _, err := exec.LookPath("go"); err == nil && withTasks {
		steps = append(steps, tasks...)
	} else {
		defer say("(Tasks in a loomfile.go are compiled with Go; with go in PATH the demo shows them too.)")
	}
	for i, s := range steps {
		say("")
		say(fmt.Sprintf("%d. %s", i+1, s.about))
		say("   $ loom " + shquote.Join(s.args))
		got := cli.Run(ctx, append([]string{"-F", cfg}, s.args...), cli.Env{Stdout: env.Stdout, Stderr: env.Stdout})
		if got != s.want {
			fmt.Fprintf(env.Stderr, "loom demo: step %d exited %d, expected %d\n", i+1, got, s.want)
			return cli.ExitFailed
		}
		say(fmt.Sprintf("   (exit status %d)", got))
	}
	say("")
	say("Next: loom -H you@your-server -- uptime   (reads ~/.ssh/config and known_hosts like ssh)")
	say("      loom init                            (a starter loomfile.go in your project)")
	return cli.ExitOK
}

// demoLoomfile is the loomfile the demo runs.
const demoLoomfile = `//go:build loom

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/loomssh/loom"
)

// Deploy puts release VERSION in place and points current at it.
func Deploy(c *loom.Conn, version string) error {
	c.Run("mkdir", "-p", "releases/"+version)
	c.Run("ln", "-sfn", "releases/"+version, "current")
	c.Shell("echo \"now running $(basename \"$(readlink current)\")\"")
	return c.Err()
}

// Rollout deploys VERSION to every host, one at a time, stopping at the
// first failure, and reports what each host runs.
func Rollout(ctx context.Context, version string) error {
	g, err := loom.NewGroup(ctx, loom.OnHosts("web1", "web2", "db1"), loom.Serial(), loom.MaxFailures(loom.Count(0)))
	if err != nil {
		return err
	}
	took, rs := loom.Map(ctx, g, func(c *loom.Conn) (time.Duration, error) {
		start := time.Now()
		err := Deploy(c, version)
		return time.Since(start), err
	})
	fmt.Printf("rolled %s out to %d hosts, one at a time (db1 took %v)\n", version, len(took), took["db1"].Round(time.Millisecond))
	return rs.Err()
}
`

// writeDemoLoomfile writes the demo's loomfile into dir.
func writeDemoLoomfile(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "loomfile.go"), []byte(demoLoomfile), 0o644)
}

// demoHosts starts the servers and writes ssh_config, known_hosts and key.
// A host named "stranger" is in the config but not in known_hosts.
func demoHosts(dir string, names []string) (cfgPath string, stop func(), err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "loom demo")
	if err != nil {
		return "", nil, err
	}
	keyPath := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return "", nil, err
	}
	me := "loom"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	var servers []*loomtest.Server
	stop = func() {
		for _, s := range servers {
			s.Close()
		}
	}
	var cfg, known strings.Builder
	khPath := filepath.Join(dir, "known_hosts")
	for _, name := range append(names, "stranger") {
		s, err := loomtest.Start(loomtest.Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
		if err != nil {
			stop()
			return "", nil, err
		}
		servers = append(servers, s)
		fmt.Fprintf(&cfg, "Host %s\n  HostName %s\n  Port %d\n  HostKeyAlias %s\n", name, s.Host(), s.Port(), name)
		if name != "stranger" {
			known.WriteString(knownhosts.Line([]string{name}, s.HostKey()) + "\n")
		}
	}
	fmt.Fprintf(&cfg, "Host *\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n", me, keyPath, khPath)
	cfgPath = filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(khPath, []byte(known.String()), 0o600); err != nil {
		stop()
		return "", nil, err
	}
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		stop()
		return "", nil, err
	}
	return cfgPath, stop, nil
}
