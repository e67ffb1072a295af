package prompt

import (
	"context"
	"strings"
	"sync"
	"unicode"
)

// AnswerVar is the environment variable that answers question.
func AnswerVar(question string) string {
	var b strings.Builder
	b.WriteString("LOOM_ANSWER_")
	gap := false
	for _, r := range question {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if gap && b.Len() > len("LOOM_ANSWER_") {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(unicode.ToUpper(r))
		} else {
			gap = true
		}
	}
	return b.String()
}

// Answers remembers the answers of a run, by question: each question is
// asked once.
type Answers struct {
	mu sync.Mutex
	m  map[string]*answer
}

type answer struct {
	done chan struct{}
	val  string
	err  error
}

// Ask returns the answer to key, calling get the first time only; callers
// asking while get runs wait for it (or for their ctx). A failed ask is
// not remembered: the next one asks again.
func (as *Answers) Ask(ctx context.Context, key string, get func() (string, error)) (string, error) {
	as.mu.Lock()
	if as.m == nil {
		as.m = map[string]*answer{}
	}
	a, ok := as.m[key]
	if !ok {
		a = &answer{done: make(chan struct{})}
		as.m[key] = a
	}
	as.mu.Unlock()
	if !ok {
		a.val, a.err = get()
		if a.err != nil {
			as.mu.Lock()
			delete(as.m, key)
			as.mu.Unlock()
		}
		close(a.done)
		return a.val, a.err
	}
	select {
	case <-a.done:
		return a.val, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
