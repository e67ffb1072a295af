package loom

import (
	"context"
	"errors"
	"fmt"

	"github.com/loomssh/loom/internal/prompt"
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
// (/dev/tty; on Windows the console), with echo off for secrets. When there is no terminal it
// returns an error wrapping ErrNoTerminal, so runs from cron or CI fail with
// a clear message instead of hanging.
//
// Every Terminal of the process shares one screen: questions are shown one
// at a time, and while one is on screen the loom command's progress line
// and host output are held back, so a task may call Terminal().Prompt in
// the middle of a run. When ctx ends the question is abandoned at once, with
// the terminal's echo restored.
func Terminal() Prompter { return terminal{} }

type terminal struct{}

func (terminal) Prompt(ctx context.Context, question string, echo bool) (string, error) {
	release, err := prompt.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	tty, err := prompt.OpenTerminal()
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoTerminal, err)
	}
	defer tty.Close()
	defer prompt.Begin()()
	a, err := tty.Ask(ctx, question, echo)
	if errors.Is(err, prompt.ErrNotTerminal) {
		return "", ErrNoTerminal
	}
	return a, err
}
