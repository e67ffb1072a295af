package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/loomfile"
	"github.com/loomssh/loom/internal/prompt"
	"github.com/loomssh/loom/internal/shquote"
)

// buildAndRun finds the loomfile, checks the task words against it,
// builds it (or finds it in the cache) and runs the compiled program with
// the same arguments.
func buildAndRun(ctx context.Context, o *options, env Env, args []string) int {
	// Name and argument mistakes are found without compiling.
	bin, _, err := compiled(ctx, o, env, func(info *loomfile.Info) error {
		_, err := bindCalls(info, o.args)
		return err
	})
	switch {
	case errors.Is(err, loomfile.ErrNotFound) && len(o.args) == 0:
		fmt.Fprintf(env.Stderr, "loom: no command: give it after --, e.g. loom -H host -- uptime (and no loomfile here for tasks: loom init writes one)\n")
		return ExitUsage
	case errors.Is(err, loomfile.ErrNotFound):
		fmt.Fprintf(env.Stderr, "loom: %s: no such task: %v; to run a command, put it after --: loom -H HOST -- %s\n", o.args[0], err, shquote.Join(o.args))
		return ExitUsage
	case err != nil:
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	if env.Exec != nil {
		return env.Exec(bin, args)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	case ctx.Err() != nil:
		return ExitInterrupted
	}
	fmt.Fprintf(env.Stderr, "loom: running the compiled loomfile: %v\n", err)
	return ExitUsage
}

// compiled finds and parses the loomfile, runs check (if given) on its
// tasks, and returns the compiled program.
func compiled(ctx context.Context, o *options, env Env, check func(*loomfile.Info) error) (string, *loomfile.Info, error) {
	p, info, err := findLoomfile(o)
	if err != nil {
		return "", nil, err
	}
	if check != nil {
		if err := check(info); err != nil {
			return "", nil, err
		}
	}
	bin, err := buildLoomfile(ctx, p, info, env)
	return bin, info, err
}

// buildLoomfile returns the compiled loomfile, building it if the cache
// has none for these sources, Go and Loom.
func buildLoomfile(ctx context.Context, p *loomfile.Project, info *loomfile.Info, env Env) (string, error) {
	cfg := loomfile.BuildConfig{Version: version(), Source: loom.Source()}
	// A build says so, on a terminal or not: a first build with a cold Go
	// cache takes a while, and silence would look like a hang.
	status := &statusLine{w: env.Stderr}
	var began time.Time
	cfg.Building = func() {
		began = time.Now()
		const msg = "loom: compiling the loomfile (once for these sources)…"
		if env.Progress {
			status.show(msg)
		} else {
			fmt.Fprintln(env.Stderr, msg)
		}
	}
	bin, built, err := loomfile.Build(ctx, p, info, cfg)
	status.close() // built or not: the next thing on the terminal may be a prompt
	if !began.IsZero() && err == nil {
		fmt.Fprintf(env.Stderr, "loom: compiled the loomfile in %v\n", time.Since(began).Round(100*time.Millisecond))
	}
	if built {
		if dir := filepath.Dir(filepath.Dir(bin)); dir != "" {
			loomfile.Prune(dir, 30*24*time.Hour, 20)
		}
	}
	return bin, err
}

// compile writes the compiled loomfile to o.compile: a standalone
// program, the loom command with the tasks built in.
func compile(ctx context.Context, o *options, env Env) int {
	if len(o.args) > 0 {
		fmt.Fprintf(env.Stderr, "loom: --compile takes no tasks or arguments (got %s)\n", o.args[0])
		return ExitUsage
	}
	bin, info, err := compiled(ctx, o, env, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "loom: %v\n", err)
		return ExitUsage
	}
	if err := copyExecutable(bin, o.compile); err != nil {
		fmt.Fprintf(env.Stderr, "loom: --compile %s: %v\n", o.compile, err)
		return ExitUsage
	}
	fmt.Fprintf(env.Stderr, "loom: wrote %s (%d task%s; run %s -l)\n", o.compile, len(info.Tasks), plural(len(info.Tasks)), o.compile)
	return ExitOK
}

// copyExecutable copies src to dst through a temporary file in dst's
// directory: dst is whole or unchanged.
func copyExecutable(src, dst string) error {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return errors.New("is a directory")
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// statusLine is a one-line status on the terminal (stderr) that is cleared
// before any prompt, and not drawn again while one is on screen.
type statusLine struct {
	w      io.Writer
	mu     sync.Mutex
	text   string // drawn when no prompt is on screen
	shown  bool
	asking bool
	unlist func()
}

// show draws text as the status.
func (s *statusLine) show(text string) {
	s.mu.Lock()
	s.text = text
	if s.unlist == nil {
		s.mu.Unlock()
		unlist := prompt.Listen(s.prompting) // outside mu: it may call prompting
		s.mu.Lock()
		s.unlist = unlist
	}
	s.draw()
	s.mu.Unlock()
}

func (s *statusLine) prompting(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asking = on
	if on {
		s.clear()
	} else {
		s.draw()
	}
}

func (s *statusLine) draw() {
	if !s.asking && s.text != "" {
		s.clear()
		fmt.Fprint(s.w, s.text+"\r")
		s.shown = true
	}
}

func (s *statusLine) clear() {
	if s.shown {
		fmt.Fprint(s.w, "\r\033[K")
		s.shown = false
	}
}

// close clears the status for good.
func (s *statusLine) close() {
	s.mu.Lock()
	unlist := s.unlist
	s.text, s.unlist = "", nil
	s.clear()
	s.mu.Unlock()
	if unlist != nil {
		unlist()
	}
}
