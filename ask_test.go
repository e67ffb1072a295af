package loom

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loomssh/loom/internal/prompt"
)

// With no terminal (go test has none), answers come from the environment
// or the default, and a question nobody can answer is an error naming the
// variable that would answer it.
func TestPromptWithoutTerminal(t *testing.T) {
	asked = prompt.Answers{}
	ctx := context.Background()
	if !noTerminal() {
		t.Skip("a terminal is open: the terminal path is tested on a pty (internal/cli)")
	}
	if got, err := Prompt(ctx, "Deploy which version?", "v1"); got != "v1" || err != nil {
		t.Fatalf("default: %q %v", got, err)
	}
	t.Setenv("LOOM_ANSWER_DEPLOY_WHICH_BRANCH", "main")
	if got, err := Prompt(ctx, "Deploy which branch?", ""); got != "main" || err != nil {
		t.Fatalf("named answer: %q %v", got, err)
	}
	_, err := Prompt(ctx, "Which region?", "")
	if err == nil || !strings.Contains(err.Error(), "LOOM_ANSWER_WHICH_REGION") {
		t.Fatalf("no answer: %v", err)
	}
	if _, err := Confirm(ctx, "Drop the database?"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("confirm with nobody to answer: %v", err)
	}
	t.Setenv("LOOM_YES", "1")
	if ok, err := Confirm(ctx, "Drop the database?"); !ok || err != nil {
		t.Fatalf("--yes: %v %v", ok, err)
	}
	t.Setenv("LOOM_ANSWER_REALLY", "no")
	if ok, err := Confirm(ctx, "Really?"); ok || err != nil {
		t.Fatalf("a named no beats --yes: %v %v", ok, err)
	}
}

func noTerminal() bool {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	return err != nil
}

// An answer is asked once for all the hosts asking at once.
func TestAskedOncePerRun(t *testing.T) {
	var as prompt.Answers
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := as.Ask(context.Background(), "q", func() (string, error) {
				calls.Add(1)
				<-release
				return "yes", nil
			})
			if a != "yes" || err != nil {
				t.Errorf("got %q %v", a, err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("asked %d times", calls.Load())
	}
}

func TestAnswerVar(t *testing.T) {
	for q, want := range map[string]string{
		"Deploy which version?": "LOOM_ANSWER_DEPLOY_WHICH_VERSION",
		"  type 'yes' to go on": "LOOM_ANSWER_TYPE_YES_TO_GO_ON",
		"Région?":               "LOOM_ANSWER_R_GION",
	} {
		if got := prompt.AnswerVar(q); got != want {
			t.Errorf("AnswerVar(%q) = %q, want %q", q, got, want)
		}
	}
}
