package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// ErrNotTerminal is returned by Ask when the file is not a terminal.
var ErrNotTerminal = errors.New("not a terminal")

// Terminal is the user's terminal, where questions are asked: on Unix the
// controlling terminal (/dev/tty), on Windows the console (CONIN$ and
// CONOUT$).
type Terminal struct {
	in, out *os.File
}

// OpenTerminal opens the user's terminal; the error says why there is none
// (no controlling terminal: cron, CI, a service).
func OpenTerminal() (*Terminal, error) { return openTerminal() }

// Close closes the terminal.
func (t *Terminal) Close() error {
	err := t.in.Close()
	if t.out != t.in {
		if err2 := t.out.Close(); err == nil {
			err = err2
		}
	}
	return err
}

// Ask asks question on the terminal, as the function Ask does.
func (t *Terminal) Ask(ctx context.Context, question string, echo bool) (string, error) {
	return ask(ctx, t.in, t.out, question, echo)
}

// Ask writes question to tty and reads one line, with echo off unless echo
// is set. When ctx ends first it returns ctx's error at once: the
// terminal's echo is restored and the question stops reading, so a line
// typed later is not taken by it (on Unix; a Windows console cannot stop a
// read, and the line typed next goes to the abandoned question). The
// caller holds the screen (Acquire) and has told the listeners (Begin).
func Ask(ctx context.Context, tty *os.File, question string, echo bool) (string, error) {
	return ask(ctx, tty, tty, question, echo)
}

func ask(ctx context.Context, tty, out *os.File, question string, echo bool) (string, error) {
	rc, err := tty.SyscallConn()
	if err != nil {
		return "", err
	}
	// The descriptor is used through SyscallConn, not Fd, so that tty stays
	// in non-blocking mode and a read deadline can stop the read.
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	if !term.IsTerminal(fd) {
		return "", ErrNotTerminal
	}
	restore := func() {}
	if !echo {
		if restore, err = noEcho(fd); err != nil {
			return "", err
		}
	}
	defer restore()
	if _, err := out.WriteString(question); err != nil {
		return "", err
	}
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := ReadLine(tty)
		ch <- answer{line, err}
	}()
	select {
	case a := <-ch:
		if !echo {
			out.WriteString("\n") // the Enter the user typed was not echoed
		}
		return a.line, a.err
	case <-ctx.Done():
		if tty.SetReadDeadline(time.Now()) == nil {
			<-ch // the read stopped; nothing more is taken from the terminal
		}
		out.WriteString("\n")
		return "", ctx.Err()
	}
}

// maxLine bounds a line ReadLine reads.
const maxLine = 64 << 10

// ReadLine reads one line from r byte by byte, so that nothing after its
// newline is consumed (the rest of a piped stdin stays for the command). A
// carriage return is dropped. At the end of r a last line without a newline
// is returned as a line; with nothing read, io.EOF.
func ReadLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < maxLine {
		n, err := r.Read(b)
		if n == 1 {
			switch b[0] {
			case '\n':
				return string(line), nil
			case '\r':
			default:
				line = append(line, b[0])
			}
		}
		if err == io.EOF && len(line) > 0 {
			return string(line), nil
		}
		if err != nil {
			return string(line), err
		}
	}
	return "", fmt.Errorf("a line longer than %d bytes", maxLine)
}
