package transport

import (
	"context"
	"sync"
)

// AskFunc shows prompt on the user's terminal and reads one answer. echo
// says whether the answer may be shown while it is typed.
type AskFunc func(ctx context.Context, prompt string, echo bool) (string, error)

// Secrets asks for passwords and passphrases and remembers them for the rest
// of the run, so a thousand hosts ask once. Prompts are shown one at a time.
// The zero value never asks: Get returns ErrNoTerminal for anything not Set.
type Secrets struct {
	Ask AskFunc

	mu    sync.Mutex // held while a prompt is on screen: one prompt at a time
	known map[string]string
}

// Get returns the secret stored under key, asking with prompt the first time.
func (s *Secrets) Get(ctx context.Context, key, prompt string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.known[key]; ok {
		return v, nil
	}
	if s.Ask == nil {
		return "", ErrNoTerminal
	}
	v, err := s.Ask(ctx, prompt, false)
	if err != nil {
		return "", err
	}
	if s.known == nil {
		s.known = make(map[string]string)
	}
	s.known[key] = v
	return v, nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Ask == nil {
		return "", ErrNoTerminal
	}
	return s.Ask(ctx, prompt, echo)
}
