package loom

import (
	"context"
	"fmt"
	"os"
	"sync"

	"golang.org/x/term"
)

// Secret holds a password or passphrase. It prints as "[secret]" with every
// fmt verb, so it cannot leak into a log or an error by accident.
type Secret struct{ s string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s} }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.s == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return "[secret]" }

// Format implements fmt.Formatter, so %#v and %x do not show it either.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[secret]") }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return "[secret]" }

// A Prompter asks the user for a password, passphrase or one-time code.
// Loom serialises calls and remembers passwords and passphrases for the run,
// so a Prompter is asked at most once per secret.
type Prompter interface {
	Prompt(ctx context.Context, prompt string, echo bool) (string, error)
}

// PromptFunc adapts a function to the Prompter interface.
type PromptFunc func(ctx context.Context, prompt string, echo bool) (string, error)

// Prompt calls f.
func (f PromptFunc) Prompt(ctx context.Context, prompt string, echo bool) (string, error) {
	return f(ctx, prompt, echo)
}

// Terminal returns a Prompter that asks on the controlling terminal
// (/dev/tty), with echo off for secrets. When there is no terminal it
// returns an error wrapping ErrNoTerminal, so runs from cron or CI fail with
// a clear message instead of hanging.
func Terminal() Prompter { return &terminal{} }

type terminal struct{ mu sync.Mutex }

func (t *terminal) Prompt(ctx context.Context, prompt string, echo bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoTerminal, err)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return "", ErrNoTerminal
	}
	fmt.Fprint(tty, prompt)
	type answer struct {
		s   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		var b []byte
		var err error
		if echo {
			b, err = readLine(tty)
		} else {
			b, err = term.ReadPassword(fd)
			fmt.Fprintln(tty)
		}
		ch <- answer{string(b), err}
	}()
	select {
	case a := <-ch:
		return a.s, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func readLine(f *os.File) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := f.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			if b[0] != '\r' {
				line = append(line, b[0])
			}
		}
		if err != nil {
			return line, err
		}
	}
}
