//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package prompt

import (
	"errors"
	"runtime"
)

func noEcho(int) (func(), error) {
	return nil, errors.New("reading a secret from the terminal is not supported on " + runtime.GOOS)
}
