package loom

import (
	"context"
	"testing"
	"time"
)

// TestStopTimesBoundedByHostDeadline: stopping a command (signal, kill,
// give up) takes at most stopGrace, and ends by the host's deadline.
func TestStopTimesBoundedByHostDeadline(t *testing.T) {
	now := time.Now()
	kill, giveUp := stopTimes(context.Background(), now)
	if giveUp != now.Add(stopGrace) || kill != now.Add(stopGrace*3/4) {
		t.Errorf("no deadline: kill +%v, give up +%v", kill.Sub(now), giveUp.Sub(now))
	}
	end := now.Add(400 * time.Millisecond)
	kill, giveUp = stopTimes(withStopBy(context.Background(), end), now)
	if giveUp != end || kill != now.Add(300*time.Millisecond) {
		t.Errorf("deadline in 400ms: kill +%v, give up +%v", kill.Sub(now), giveUp.Sub(now))
	}
	// Under a command timeout within the host's context: still the host's.
	ctx, cancel := context.WithTimeout(withStopBy(context.Background(), end), time.Hour)
	defer cancel()
	if _, giveUp = stopTimes(ctx, now); giveUp != end {
		t.Errorf("nested context: give up +%v", giveUp.Sub(now))
	}
	// Past the deadline: at once.
	kill, giveUp = stopTimes(withStopBy(context.Background(), now.Add(-time.Second)), now)
	if !kill.Equal(now) || !giveUp.Equal(now) {
		t.Errorf("past the deadline: kill +%v, give up +%v", kill.Sub(now), giveUp.Sub(now))
	}
	// A long deadline does not lengthen the stop.
	if _, giveUp = stopTimes(withStopBy(context.Background(), now.Add(time.Hour)), now); giveUp != now.Add(stopGrace) {
		t.Errorf("far deadline: give up +%v", giveUp.Sub(now))
	}
}

// TestHostGrace: the part of a host timeout kept for stopping its
// command is 2 s, at most a quarter of the timeout.
func TestHostGrace(t *testing.T) {
	for _, tc := range []struct{ timeout, grace time.Duration }{
		{10 * time.Second, 2 * time.Second},
		{8 * time.Second, 2 * time.Second},
		{2 * time.Second, 500 * time.Millisecond},
		{time.Hour, 2 * time.Second},
	} {
		if got := hostGrace(tc.timeout); got != tc.grace {
			t.Errorf("hostGrace(%v) = %v, want %v", tc.timeout, got, tc.grace)
		}
	}
}
