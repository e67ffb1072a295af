package remotefs

import (
	"context"
	"io"
	"strings"
	"sync"
)

// A janitor removes the temporary files of uploads that never finished
// because Loom itself died (kill -9, a crash, a lost laptop lid): every temp
// file is named to a small shell on the host before it is created; when the
// connection goes away, for whatever reason, the shell's stdin ends and it
// deletes those of the files that still exist. Finished uploads have been
// renamed by then, so a normal close removes nothing. Ctrl-C and errors are
// cleaned up by Loom directly; the janitor covers what Loom cannot.
type janitor struct {
	mu  sync.Mutex
	in  io.WriteCloser
	end func()
}

// janitorScript keeps the list in a private temp file and, at end of input,
// removes the listed files that still exist. Signals are ignored so that a
// hang-up from a dying connection does not stop the cleanup.
const janitorScript = `trap '' HUP INT TERM PIPE
l=$(mktemp) || exit 1
cat >"$l"
while IFS= read -r f; do
  if [ -e "$f" ] || [ -L "$f" ]; then rm -f -- "$f"; fi
done <"$l"
rm -f -- "$l"`

// startJanitor starts the janitor with start; nil when it cannot (the
// host refuses another session, say): uploads then go on without it.
func startJanitor(ctx context.Context, start func(ctx context.Context, script string) (io.WriteCloser, func(), error)) *janitor {
	in, end, err := start(ctx, janitorScript)
	if err != nil {
		return nil
	}
	return &janitor{in: in, end: end}
}

// register names a temp file about to be created.
func (j *janitor) register(path string) {
	if j == nil || strings.ContainsAny(path, "\n") {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.in != nil {
		io.WriteString(j.in, path+"\n")
	}
}

// close ends the janitor; the listed files that still exist are removed.
func (j *janitor) close() {
	if j == nil {
		return
	}
	j.mu.Lock()
	end := j.end
	j.in, j.end = nil, nil
	j.mu.Unlock()
	if end != nil {
		end()
	}
}
