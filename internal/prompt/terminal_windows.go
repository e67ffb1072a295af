//go:build windows

package prompt

import (
	"os"

	"golang.org/x/sys/windows"
)

// openTerminal opens the console: CONIN$ to read, CONOUT$ to write (a
// console handle does one or the other), whatever stdin and stdout are.
func openTerminal() (*Terminal, error) {
	in, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile("CONOUT$", os.O_RDWR, 0)
	if err != nil {
		in.Close()
		return nil, err
	}
	return &Terminal{in: in, out: out}, nil
}

// noEcho turns the console's echo off, keeping line input and Ctrl-C, and
// returns the function that puts the mode back.
func noEcho(fd int) (restore func(), err error) {
	h := windows.Handle(fd)
	var old uint32
	if err := windows.GetConsoleMode(h, &old); err != nil {
		return nil, err
	}
	mode := old&^windows.ENABLE_ECHO_INPUT | windows.ENABLE_LINE_INPUT | windows.ENABLE_PROCESSED_INPUT
	if err := windows.SetConsoleMode(h, mode); err != nil {
		return nil, err
	}
	return func() { windows.SetConsoleMode(h, old) }, nil
}
