package prompt

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestListenersHearFirstBeginAndLastEnd(t *testing.T) {
	var mu sync.Mutex
	var heard []bool
	remove := Listen(func(on bool) { mu.Lock(); heard = append(heard, on); mu.Unlock() })
	end1 := Begin()
	end2 := Begin() // nested: a Prompter's own Begin inside Secrets'
	end2()
	end2() // twice is once
	if !Active() {
		t.Fatal("not active while the first question is on")
	}
	end1()
	if Active() {
		t.Fatal("still active after the last end")
	}
	// A listener that joins while a question is up hears of it at once,
	// and of its end when it leaves.
	end := Begin()
	var late []bool
	removeLate := Listen(func(on bool) { late = append(late, on) })
	removeLate()
	end()
	remove()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(heard) != "[true false true false]" || fmt.Sprint(late) != "[true false]" {
		t.Fatalf("heard %v and %v", heard, late)
	}
}

func TestAcquireOneAtATime(t *testing.T) {
	release, err := Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Acquire(ctx); err != context.Canceled {
		t.Fatalf("a second question took the screen: %v", err)
	}
	release()
	release2, err := Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	release2()
}

func TestReadLine(t *testing.T) {
	r := strings.NewReader("pass\r\nrest of stdin\nlast")
	for _, want := range []string{"pass", "rest of stdin", "last"} {
		if got, err := ReadLine(r); got != want || err != nil {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	if got, err := ReadLine(r); got != "" || err != io.EOF {
		t.Fatalf("at the end: %q %v", got, err)
	}
	// Nothing after the newline is consumed.
	r = strings.NewReader("one\ntwo")
	ReadLine(r)
	if rest, _ := io.ReadAll(r); string(rest) != "two" {
		t.Fatalf("rest %q", rest)
	}
}
