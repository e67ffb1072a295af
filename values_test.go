package loom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom"
)

// TestGroupRefusesNonsenseSettings: a Group setting with no sensible
// meaning runs nothing and says which it is, instead of being read as a
// default (a negative MaxFail meant "no limit", Count(0) batches meant 1).
func TestGroupRefusesNonsenseSettings(t *testing.T) {
	for _, tc := range []struct {
		g    loom.Group
		want string
	}{
		{loom.Group{Parallel: -1}, "Parallel -1"},
		{loom.Group{HostTimeout: -time.Second}, "HostTimeout -1s"},
		{loom.Group{Batch: loom.Count(0)}, "Batch 0"},
		{loom.Group{Batch: loom.Percent(0)}, "Batch 0%"},
		{loom.Group{Batch: loom.Count(-2)}, "Batch -2"},
		{loom.Group{MaxFail: loom.Count(-1)}, "MaxFail -1"},
		{loom.Group{MaxFail: loom.Percent(150)}, "MaxFail 150%"},
	} {
		g := tc.g
		g.Hosts = loom.Hosts("a", "b")
		ran := false
		rs := g.Each(context.Background(), func(*loom.Conn) error { ran = true; return nil })
		if ran || rs.Err() == nil || !strings.Contains(rs.Err().Error(), tc.want) || len(rs.NotStarted()) != 2 {
			t.Errorf("%s: ran %v, err %v", tc.want, ran, rs.Err())
		}
		for _, hr := range rs.Hosts {
			if hr.Err == nil || !strings.Contains(hr.Err.Error(), tc.want) {
				t.Errorf("%s: host %s: %v", tc.want, hr.Host, hr.Err)
			}
		}
	}
}

// TestDialerRefusesNonsenseSettings: out-of-range Dialer settings fail
// every Dial with an error naming them.
func TestDialerRefusesNonsenseSettings(t *testing.T) {
	for _, tc := range []struct {
		d    *loom.Dialer
		want string
	}{
		{&loom.Dialer{Port: 70000}, "Port 70000"},
		{&loom.Dialer{Port: -1}, "Port -1"},
		{&loom.Dialer{ConnectTimeout: -time.Second}, "ConnectTimeout -1s"},
		{&loom.Dialer{MaxHandshakes: -1}, "MaxHandshakes -1"},
		{&loom.Dialer{MaxSessions: -1}, "MaxSessions -1"},
		{&loom.Dialer{Retries: -1}, "Retries -1"},
	} {
		tc.d.ConfigFile = "none"
		_, err := tc.d.Dial(context.Background(), "127.0.0.1")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.want, err)
		}
		tc.d.Close()
	}
}

// TestNegativeTimeoutIsAnError: Conn.Timeout with a negative duration is
// an error, not "no timeout".
func TestNegativeTimeoutIsAnError(t *testing.T) {
	r := loom.Local().Timeout(-time.Second).Run("true")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "timeout -1s") {
		t.Fatalf("got %v", r.Err)
	}
}
