package loom

import "time"

// Connections shared by a run (Dialer.ShareConnections).
//
// With ShareConnections, the Dialer's transport keeps one SSH connection
// per resolved host (internal/transport/share.go): every Dial, DialHost and
// Group run of the host on this Dialer gets it, so a loomfile whose tasks,
// Execute calls and groups visit the same hosts logs in to each once. What
// stays per Conn (per task run) is everything a task can observe of its own
// run: the sticky error (Err), the last result, the host's variables, the
// agent audit (AgentEvents counts only what happened since this Conn took
// the connection) and the SFTP client of file operations, which is opened
// on the first file operation and closed by Conn.Close. Conn.Close leaves
// the connection open; Dialer.Close closes it. A connection found dead when
// a Conn takes it is dialled again once; one that dies under a running
// command fails that command with ErrConnLost, as without sharing.
//
// It is opt-in because a library user's Conn.Close has always closed the
// connection, and a program that never closes its Dialer would keep them.

// sharedConn marks c as holding a shared connection when the Dialer shares
// them.
func (d *Dialer) sharedConn(c *Conn) *Conn {
	if d.ShareConnections {
		c.h.taken = time.Now()
	}
	return c
}

// sinceTaken keeps the agent events of h's own use of a shared connection:
// those since h took it (events of an earlier task run on the connection
// are that run's). Events of two runs on one host at the same time are
// both runs'.
func sinceTaken(h *host, events []AgentEvent) []AgentEvent {
	if h.taken.IsZero() {
		return events
	}
	var out []AgentEvent
	for _, e := range events {
		if !e.Time.Before(h.taken) {
			out = append(out, e)
		}
	}
	return out
}
