//go:build !unix

package loom

import (
	"context"

	"github.com/loomssh/loom/internal/sshconfig"
)

// dialMux: OpenSSH masters are not used on Windows (their protocol passes
// file descriptors over Unix sockets); hosts are connected as usual.
func (d *Dialer) dialMux(ctx context.Context, h *sshconfig.Host) (*Conn, bool, error) {
	if h.ControlPath != "" {
		d.logf("%s: OpenSSH masters (ControlPath %s) are not used on this system", h.Alias, h.ControlPath)
	}
	return nil, false, nil
}
