//go:build !windows

package prompt

import "os"

func openTerminal() (*Terminal, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &Terminal{in: tty, out: tty}, nil
}
