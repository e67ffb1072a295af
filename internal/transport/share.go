package transport

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/loomssh/loom/internal/sshconfig"
)

// Shared target connections (Dialer.ShareTargets): one connection per
// resolved host for the Dialer's life, handed to every Dial of that host,
// the way jump connections are shared. A Client handed out this way is
// shared: its Close does nothing, and Dialer.Close closes it.

// targetKey says which Dials may share a connection: those whose hosts
// resolved to the very same settings (name as given, address, user, port,
// keys, agent, jump chain, ProxyCommand, algorithms, known_hosts files…).
// A setting that differs in any way gets a connection of its own, so a
// shared connection is always one that Dial would have made anyway. The
// key is the SHA-256 of the settings written out (a kilobyte each, kept for
// as long as the connection is: the holder keeps thousands).
func targetKey(h *sshconfig.Host) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%#v", *h))
	return string(sum[:])
}

// sharedTarget returns the run's connection to h, dialing it on first use.
// One found dead (keepalive gave up, the server closed it) is dialled
// again, once per Dial: if that fails, the error is Dial's as usual.
func (d *Dialer) sharedTarget(ctx context.Context, h *sshconfig.Host) (*Client, error) {
	key := targetKey(h)
	d.mu.Lock()
	if d.targets == nil {
		d.targets = make(map[string]*jump)
	}
	j, ok := d.targets[key]
	if !ok {
		j = &jump{lock: make(chan struct{}, 1)}
		d.targets[key] = j
	}
	d.mu.Unlock()

	// The first Dial of the host connects; the others wait for it, or for
	// their context.
	select {
	case j.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, &ConnectError{Host: h.Alias, Addr: h.Addr(), Reason: Timeout, Err: ctx.Err()}
	}
	defer func() { <-j.lock }()
	if j.client != nil {
		if !j.client.Closed() {
			return j.client, nil
		}
		d.logf("%s: the run's connection is gone (%v); connecting again", h.Alias, j.client.lostErr())
		j.client = nil
	}
	c, err := d.dialTarget(ctx, h)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	closed := d.targets[key] != j // Close ran while the host was dialled
	d.mu.Unlock()
	if closed {
		// Not kept: the caller owns it, and its Close closes it.
		return c, nil
	}
	c.shared = true
	j.client = c
	return c, nil
}

// DropTarget closes the Dialer's shared connection to h, if it has one,
// and reports whether it had. The next Dial of h connects anew. A Dial of
// h under way is waited for (or ctx's end: then nothing is dropped).
func (d *Dialer) DropTarget(ctx context.Context, h *sshconfig.Host) bool {
	key := targetKey(h)
	d.mu.Lock()
	j, ok := d.targets[key]
	d.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case j.lock <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	had := j.client != nil && !j.client.Closed()
	j.closeClient() // releases the lock
	return had
}
