package loom

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Printf shows a message from a task through the host's output, the way its
// commands' lines are shown: under the loom command, "web1 | deployed v1.4"
// with the host prefix, never in the middle of another host's line (or the
// line itself with one host). Elsewhere it goes to the Conn's Stream stdout,
// or, with none, to os.Stdout as "HOST | message". A newline is added when
// the message has none. Like an operation, it is skipped once the Conn has
// failed, so a task's "done" messages do not follow its failure.
func (c *Conn) Printf(format string, args ...any) {
	if c.Err() != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	if w := c.sc.stdout; w != nil {
		io.WriteString(w, msg)
		return
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	for _, line := range strings.SplitAfter(strings.TrimSuffix(msg, "\n"), "\n") {
		fmt.Fprintf(os.Stdout, "%s | %s\n", c.h.name, strings.TrimSuffix(line, "\n"))
	}
}

// stdoutMu keeps the lines of Printf from several Conns apart on os.Stdout.
var stdoutMu sync.Mutex
