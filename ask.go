package loom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/loomssh/loom/internal/prompt"
)

// Prompt asks the user question on the terminal and returns the answer,
// or def when the answer is empty (Fabric's prompt()). It is asked once
// per run: asking the same question again, from any task or host, returns
// the first answer, so a host task can ask and every host gets one answer.
// Questions are shown one at a time, and while one is on screen the loom
// command's progress line and host output are held back.
//
// Where nobody can answer (no terminal: cron, CI), the answer comes from the
// environment: LOOM_ANSWER_<QUESTION> (the question's letters and digits in
// upper case, runs of anything else as one "_": "Deploy which version?" is
// LOOM_ANSWER_DEPLOY_WHICH_VERSION), else def when it is not empty, else
// Prompt returns an error that names that variable. It never hangs.
func Prompt(ctx context.Context, question, def string) (string, error) {
	return asked.Ask(ctx, question, func() (string, error) {
		if v, ok := os.LookupEnv(prompt.AnswerVar(question)); ok {
			return v, nil
		}
		q := question
		if def != "" {
			q += " [" + def + "]"
		}
		a, err := Terminal().Prompt(ctx, strings.TrimRight(q, " ")+" ", true)
		switch {
		case errors.Is(err, ErrNoTerminal) && def != "":
			return def, nil
		case errors.Is(err, ErrNoTerminal):
			return "", fmt.Errorf("loom.Prompt %q: %w; answer it with %s=VALUE", question, err, prompt.AnswerVar(question))
		case err != nil:
			return "", err
		}
		if a = strings.TrimSpace(a); a == "" {
			a = def
		}
		return a, nil
	})
}

// Confirm asks a yes-or-no question on the terminal, like Prompt, and
// reports whether the answer was yes ("y" or "yes", in any case); an empty
// answer is no. It is asked once per run. LOOM_YES=1 (the loom command's
// --yes) answers every Confirm yes without asking; LOOM_ANSWER_<QUESTION>
// (as for Prompt) answers this one. With no terminal and neither, Confirm
// returns an error saying so, never a guess.
func Confirm(ctx context.Context, question string) (bool, error) {
	a, err := asked.Ask(ctx, "\x00confirm\x00"+question, func() (string, error) {
		if v, ok := os.LookupEnv(prompt.AnswerVar(question)); ok {
			return v, nil
		}
		if os.Getenv("LOOM_YES") == "1" {
			return "yes", nil
		}
		a, err := Terminal().Prompt(ctx, strings.TrimRight(question, " ")+" [y/N] ", true)
		if errors.Is(err, ErrNoTerminal) {
			return "", fmt.Errorf("loom.Confirm %q: %w; answer yes to every question with --yes (LOOM_YES=1), or this one with %s=yes", question, err, prompt.AnswerVar(question))
		}
		return a, err
	})
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(a)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// asked remembers the answers of the run.
var asked prompt.Answers
