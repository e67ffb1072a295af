package transport

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/loomssh/loom/internal/prompt"
)

// AskFunc shows prompt on the user's terminal and reads one answer. echo
// says whether the answer may be shown while it is typed.
type AskFunc func(ctx context.Context, prompt string, echo bool) (string, error)

// Secrets asks for passwords and passphrases and remembers them for the rest
// of the run, so a thousand hosts ask once. Prompts are shown one at a time,
// and while one is asked the prompt coordinator (internal/prompt) holds back
// whatever else draws on the terminal. The zero value never asks: Get
// returns ErrNoTerminal for anything not Set.
type Secrets struct {
	Ask AskFunc

	asking chan struct{} // held while a prompt is on screen: one at a time
	once   sync.Once

	mu    sync.Mutex // guards known; never held while asking
	known map[string]string
}

func (s *Secrets) init() { s.once.Do(func() { s.asking = make(chan struct{}, 1) }) }

// lock waits for the prompt on screen, if any, to be answered (or ctx to end).
func (s *Secrets) lock(ctx context.Context) error {
	s.init()
	select {
	case s.asking <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Secrets) unlock() { <-s.asking }

// Get returns the secret stored under key, asking with prompt the first time.
// Callers asking for a key being asked already wait for that answer. When
// ctx comes from WithoutPrompts, a secret not known yet is a *NotAskedError
// at once.
func (s *Secrets) Get(ctx context.Context, key, prompt string) (string, error) {
	if v, ok := s.Lookup(key); ok {
		return v, nil
	}
	if err := notAsked(ctx, prompt); err != nil {
		return "", err
	}
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	if v, ok := s.Lookup(key); ok { // asked while this one waited
		return v, nil
	}
	v, err := s.ask(ctx, prompt, false)
	if err != nil {
		return "", err
	}
	s.Set(key, v)
	return v, nil
}

// notAsked returns a *NotAskedError for question if ctx forbids prompts.
func notAsked(ctx context.Context, question string) error {
	if host, ok := ctx.Value(noPromptsKey{}).(string); ok {
		return &NotAskedError{Host: host, Prompts: []string{question}}
	}
	return nil
}

// ask asks one question, telling the prompt coordinator.
func (s *Secrets) ask(ctx context.Context, question string, echo bool) (string, error) {
	if s.Ask == nil {
		return "", ErrNoTerminal
	}
	defer prompt.Begin()()
	return s.Ask(ctx, question, echo)
}

// Lookup returns the secret stored under key without asking.
func (s *Secrets) Lookup(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.known[key]
	return v, ok
}

// Set stores a secret given by the caller (a library user's password, say).
func (s *Secrets) Set(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known = make(map[string]string)
	}
	s.known[key] = value
}

// Forget drops a secret that turned out to be wrong, so the next Get asks again.
func (s *Secrets) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.known, key)
}

// AskOnce asks a question whose answer is not remembered (a one-time code).
func (s *Secrets) AskOnce(ctx context.Context, prompt string, echo bool) (string, error) {
	if err := notAsked(ctx, prompt); err != nil {
		return "", err
	}
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	return s.ask(ctx, prompt, echo)
}

type noPromptsKey struct{}

// WithoutPrompts returns a context under which Secrets never asks for host
// (ssh_config BatchMode): a secret not known yet is a *NotAskedError.
func WithoutPrompts(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, noPromptsKey{}, host)
}

// NotAskedError reports questions that were not asked because the host's
// ssh_config sets BatchMode.
type NotAskedError struct {
	Host    string
	Prompts []string // what would have been asked
	Err     error    // what failed for want of an answer, if known
}

func (e *NotAskedError) Error() string {
	qs := make([]string, len(e.Prompts))
	for i, p := range e.Prompts {
		qs[i] = fmt.Sprintf("%q", strings.TrimSuffix(strings.TrimSpace(p), ":"))
	}
	msg := fmt.Sprintf("BatchMode is set for %s, so Loom did not ask %s", e.Host, strings.Join(qs, " nor "))
	if e.Err != nil {
		msg += " (" + cleanErr(e.Err) + ")"
	}
	return msg
}

func (e *NotAskedError) Unwrap() error { return e.Err }
