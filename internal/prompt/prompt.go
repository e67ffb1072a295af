// Package prompt coordinates the questions a Loom process asks on the
// terminal: key passphrases, login passwords, sudo passwords, one-time codes
// and a task's own loom.Terminal().Prompt. One question is on screen at a
// time (Acquire), and whatever else draws on the terminal — the progress
// line, the "compiling the loomfile…" status, host output — is told when the
// first question begins and the last one ends (Listen, Begin), so that it
// clears itself and stays out of the way while the user reads and types.
//
// The coordinator is process-wide: a question asked through any Dialer, or
// straight through loom.Terminal(), holds back the same listeners.
package prompt

import (
	"context"
	"sync"
)

var (
	// screen is held by the question on screen: one at a time.
	screen = make(chan struct{}, 1)

	mu        sync.Mutex // guards active and listeners; held while listeners run
	active    int        // Begin calls not yet ended
	listeners = map[*listener]struct{}{}
)

type listener struct{ f func(on bool) }

// Listen registers f. f(true) is called when a question is about to be shown
// (the first Begin) and f(false) once the last one is gone; if a question is
// on screen already, f(true) is called before Listen returns. f runs with
// the coordinator locked: it must be quick and must not ask a question
// itself. remove unregisters f, calling f(false) first if f was told a
// question was on screen; it may be called more than once.
func Listen(f func(on bool)) (remove func()) {
	l := &listener{f: f}
	mu.Lock()
	listeners[l] = struct{}{}
	if active > 0 {
		f(true)
	}
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			delete(listeners, l)
			if active > 0 {
				f(false)
			}
			mu.Unlock()
		})
	}
}

// Begin says that a question is being asked, or waited for, on the
// terminal. The listeners have cleared the terminal when it returns. end
// says that it is over; it may be called more than once. Begin calls nest:
// the listeners hear of the first Begin and of the last end only.
func Begin() (end func()) {
	mu.Lock()
	active++
	if active == 1 {
		for l := range listeners {
			l.f(true)
		}
	}
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			active--
			if active == 0 {
				for l := range listeners {
					l.f(false)
				}
			}
			mu.Unlock()
		})
	}
}

// Active reports whether a question is on the terminal (a Begin not ended).
func Active() bool {
	mu.Lock()
	defer mu.Unlock()
	return active > 0
}

// Acquire waits until no other question is on screen and takes the screen;
// release gives it back. It returns ctx's error if ctx ends first.
func Acquire(ctx context.Context) (release func(), err error) {
	select {
	case screen <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-screen }) }, nil
}
