package sshconfig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/loomssh/loom/internal/proctree"
)

// execCache holds the results of Match exec commands, by expanded command,
// for the life of a Config (one run): each command runs once however many
// hosts and passes reach it, and hosts resolved at once wait for the one
// run.
type execCache struct {
	mu sync.Mutex
	m  map[string]*execResult
}

type execResult struct {
	done  chan struct{}
	match bool
	err   error
}

// matchExec evaluates "Match exec cmd" as ssh(1) does: the tokens of cmd
// expanded with what is known so far, run with the user's shell
// ($SHELL -c, else /bin/sh), stdin and stdout on /dev/null; exit status 0
// is a match. A command that cannot be run, or is killed by a signal, is an
// error naming the line.
func (s *state) matchExec(ln *line, arg string) (bool, error) {
	host, err := s.rawHostName()
	if err != nil {
		return false, err
	}
	port := strconv.Itoa(s.num("Port", 22))
	user := s.remoteUser()
	sum := sha1Hex(s.loc.hostname + host + port + user)
	k := s.str("HostKeyAlias", "")
	if k == "" {
		k = host
	}
	cmd, err := expandTokens(arg, map[byte]string{
		'C': sum, 'L': s.loc.short, 'd': s.loc.home, 'h': host, 'i': s.loc.uid, 'k': k,
		'l': s.loc.hostname, 'n': s.alias, 'p': port, 'r': user, 'u': s.loc.user,
	}, nil)
	if err != nil {
		return false, ln.src.errorf("Match exec: %v", err)
	}
	c := &s.cfg.execs
	c.mu.Lock()
	r, ok := c.m[cmd]
	if !ok {
		if c.m == nil {
			c.m = map[string]*execResult{}
		}
		r = &execResult{done: make(chan struct{})}
		c.m[cmd] = r
	}
	c.mu.Unlock()
	if !ok {
		r.match, r.err = s.runExec(cmd)
		if r.err != nil {
			r.err = ln.src.errorf("Match exec %q: %v", cmd, r.err)
		}
		close(r.done)
	}
	<-r.done
	return r.match, r.err
}

// runExec runs a Match exec command and reports whether it exited 0.
func (s *state) runExec(cmd string) (bool, error) {
	var c *exec.Cmd
	if shell, _ := s.loc.env("SHELL"); shell != "" {
		c = exec.Command(shell, "-c", cmd)
	} else {
		var err error
		if c, err = proctree.Shell(cmd); err != nil { // /bin/sh; sh.exe on Windows
			return false, err
		}
	}
	c.Stderr = s.stderr
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.Exited():
		return false, nil
	case errors.As(err, &ee):
		return false, fmt.Errorf("ended: %v", ee.ProcessState)
	}
	return false, err
}
