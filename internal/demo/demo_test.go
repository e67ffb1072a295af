package demo

import (
	"bytes"
	"context"
	"github.com/loomssh/loom/internal/cli"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	t.Setenv("LOOM_CACHE", t.TempDir())
	want := []string{"web1 | hello from", "exit status 1", "is not known", "it's $HOME; rm -rf /"}
	if testing.Short() {
		withTasks = false // compiling the loomfile takes most of the time
		defer func() { withTasks = true }()
	} else {
		want = append(want, "rollout VERSION", "web2 | now running v1.4", "db1  | now running v1.5", "rolled v1.5 out to 3 hosts")
	}
	var o, e bytes.Buffer
	if code := Run(context.Background(), nil, testEnv(&o, &e)); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, e.String(), o.String())
	}
	for _, w := range want {
		if !strings.Contains(o.String(), w) {
			t.Errorf("demo output lacks %q", w)
		}
	}
}

func testEnv(o, e *bytes.Buffer) cli.Env { return cli.Env{Stdout: o, Stderr: e} }
