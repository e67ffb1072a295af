package sshconfig

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loomssh/loom/internal/proctree"
)

// TestMatchExec: Match exec runs through the shell with its tokens
// expanded, exit status 0 matches, a negated exec inverts, the command is
// not run when an earlier criterion of its line failed, and each expanded
// command runs once per Config. Before, Match exec never matched.
func TestMatchExec(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	cfg := `Host web*
  User deploy
Match host=other exec "echo skipped >> ` + log + `"
  Port 1
Match exec "echo %h %n %p %r %u %L %d >> ` + log + `; test %n = web1"
  Port 2222
Match !exec "exit 3"
  IdentityFile ~/.ssh/negated
Match exec false
  IdentityFile ~/.ssh/never
`
	c := mustParse(t, cfg)
	for _, alias := range []string{"web1", "web2", "web1"} {
		o := testOptions()
		h, err := c.Resolve(alias, o)
		if err != nil {
			t.Fatal(err)
		}
		want := 22
		if alias == "web1" {
			want = 2222
		}
		if h.Port != want {
			t.Errorf("%s: port %d, want %d", alias, h.Port, want)
		}
		if len(h.IdentityFiles) != 1 || h.IdentityFiles[0] != "/home/me/.ssh/negated" {
			t.Errorf("%s: identity files %q", alias, h.IdentityFiles)
		}
		if len(h.Unsupported) != 0 {
			t.Errorf("%s: unsupported %q", alias, h.Unsupported)
		}
	}
	b, _ := os.ReadFile(log)
	want := "web1 web1 22 deploy me box /home/me\nweb2 web2 22 deploy me box /home/me\n"
	if string(b) != want {
		t.Errorf("commands ran:\n%s\nwant (once each, never the skipped one):\n%s", b, want)
	}
}

// TestMatchExecErrors: an unknown token or a command killed by a signal is
// an error naming file:line.
func TestMatchExecErrors(t *testing.T) {
	needShell(t)
	for cfg, want := range map[string]string{
		"Match exec \"test %x\"\n":   `test.conf:1: Match exec: unknown token %x in "test %x"`,
		"\nMatch exec \"kill $$\"\n": `test.conf:2: Match exec "kill $$": ended: signal: terminated`,
	} {
		c := mustParse(t, cfg)
		if _, err := c.Resolve("h", testOptions()); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", cfg, err, want)
		}
	}
}

// TestMatchExecConcurrent: hosts resolved at once share one run of the
// command.
func TestMatchExecConcurrent(t *testing.T) {
	needShell(t)
	log := filepath.Join(t.TempDir(), "log")
	c := mustParse(t, "Match exec \"echo x >> "+log+"\"\n  Port 3\n")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := c.Resolve("h", testOptions())
			if err != nil || h.Port != 3 {
				t.Errorf("%v %v", h, err)
			}
		}()
	}
	wg.Wait()
	if b, _ := os.ReadFile(log); strings.Count(string(b), "x") != 1 {
		t.Errorf("ran %d times", strings.Count(string(b), "x"))
	}
}

// needShell skips where no POSIX shell runs Match exec (Windows without
// Git's sh.exe, as under Wine in CI).
func needShell(t *testing.T) {
	if _, err := proctree.Shell("true"); err != nil {
		t.Skip(err)
	}
}
