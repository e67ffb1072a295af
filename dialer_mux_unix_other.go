//go:build unix && !linux

package loom

import (
	"context"
	"errors"
	"io"
)

// startPty: a pty through an OpenSSH master needs a local pty whose modes
// the master reads; Loom opens one on Linux only so far.
func (r *muxRunner) startPty(context.Context, string, io.Writer) (process, error) {
	return nil, errors.New("a pty through an OpenSSH master is supported on Linux only (remove the host's ControlPath, or stop its master, to run it directly)")
}
