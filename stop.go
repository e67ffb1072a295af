package loom

import (
	"context"
	"time"
)

// stopGrace bounds how long stopping a command takes (Ctrl-C, a command
// timeout, a host timeout): from the signal (SIGINT or SIGTERM) to the
// moment Loom gives it up. Its channel is closed (the command killed) at
// three quarters of it, if it has not exited by then.
const stopGrace = 2 * time.Second

// stopByKey is the context key of the time by which a command stopped
// under the context must be given up: the end of its host's turn.
type stopByKey struct{}

// withStopBy records in ctx that commands stopped under it are given up
// by t, however much of stopGrace is left.
func withStopBy(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, stopByKey{}, t)
}

// stopTimes returns when a command signalled at now is killed and when
// it is given up: within stopGrace of now, and no later than the stop-by
// time of ctx, if it has one.
func stopTimes(ctx context.Context, now time.Time) (kill, giveUp time.Time) {
	giveUp = now.Add(stopGrace)
	if end, ok := ctx.Value(stopByKey{}).(time.Time); ok && end.Before(giveUp) {
		giveUp = end
	}
	if giveUp.Before(now) {
		giveUp = now
	}
	return now.Add(giveUp.Sub(now) * 3 / 4), giveUp
}

// hostGrace is the part of a host timeout d kept for stopping the host's
// command: the host's work is stopped at d minus this, so that its turn,
// the stop included, ends by d. It is stopGrace, but at most a quarter of
// d.
func hostGrace(d time.Duration) time.Duration { return min(stopGrace, d/4) }
