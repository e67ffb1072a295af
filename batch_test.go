package loom_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom"
)

// TestGroupPlan: Batches is a ramp whose last size repeats (Ansible's
// serial list); percentages are of all the hosts.
func TestGroupPlan(t *testing.T) {
	hosts := make([]string, 40)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d", i)
	}
	for _, tc := range []struct {
		g    loom.Group
		want []int
	}{
		{loom.Group{Batches: []loom.Limit{loom.Count(1), loom.Count(5), loom.Percent(25)}}, []int{1, 5, 10, 10, 10, 4}},
		{loom.Group{Batches: []loom.Limit{loom.Count(10)}}, []int{10, 10, 10, 10}},
		{loom.Group{Batch: loom.Count(15)}, []int{15, 15, 10}},
		{loom.Group{Batches: []loom.Limit{loom.Count(50)}}, []int{40}},
		{loom.Group{Batches: []loom.Limit{loom.Percent(1), loom.Count(39)}}, []int{1, 39}},
		{loom.Group{}, []int{40}},
	} {
		g := tc.g
		g.Hosts = loom.Hosts(hosts...)
		if got := g.Plan(); !slices.Equal(got, tc.want) {
			t.Errorf("%v / %v: plan %v, want %v", g.Batch, g.Batches, got, tc.want)
		}
	}
}

// TestGroupRampAndPause: the hosts run in the ramp's waves, and each wave
// starts at least Pause after the previous one ended.
func TestGroupRampAndPause(t *testing.T) {
	hosts, d := fleet(t, 6, nil)
	const pause = 400 * time.Millisecond
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 10, Batches: []loom.Limit{loom.Count(1), loom.Count(2)}, Pause: pause}
	var tr tracker
	tr.hook(g)
	ends := map[string]time.Time{}
	onDone := g.OnDone
	g.OnDone = func(r *loom.HostResult) { onDone(r); ends[r.Host] = time.Now() }
	rs := g.Run(context.Background(), "true")
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	waves := [][]int{{0}, {1, 2}, {3, 4}, {5}}
	for w := 1; w < len(waves); w++ {
		var lastEnd time.Time
		for _, i := range waves[w-1] {
			if e := ends[hosts[i].Name]; e.After(lastEnd) {
				lastEnd = e
			}
		}
		for _, i := range waves[w] {
			if gap := rs.Hosts[i].Start.Sub(lastEnd); gap < pause {
				t.Errorf("wave %d host %d started %v after the previous wave ended, want at least %v", w, i, gap, pause)
			}
		}
	}
	if tr.peak != 2 {
		t.Errorf("peak %d hosts at once, want 2", tr.peak)
	}
}

// TestGroupPauseInterrupted: cancelling during a pause ends it at once;
// the later hosts are not started.
func TestGroupPauseInterrupted(t *testing.T) {
	hosts, d := fleet(t, 3, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &loom.Group{Dialer: d, Hosts: hosts, Batch: loom.Count(1), Pause: time.Hour}
	g.OnDone = func(*loom.HostResult) { cancel() }
	done := make(chan *loom.Results)
	go func() { done <- g.Run(ctx, "true") }()
	select {
	case rs := <-done:
		if len(rs.OK()) != 1 || len(rs.NotStarted()) != 2 {
			t.Fatalf("ok %d, not started %d", len(rs.OK()), len(rs.NotStarted()))
		}
	case <-time.After(time.Minute):
		t.Fatal("the pause did not end when the run was cancelled")
	}
}

// TestGroupMaxFailBatch: the failures are counted in each batch, a
// percentage of the batch's hosts; over the limit, no new host starts.
func TestGroupMaxFailBatch(t *testing.T) {
	hosts, d := fleet(t, 10, nil)
	fail := func(bad ...string) func(c *loom.Conn) error {
		return func(c *loom.Conn) error {
			if slices.Contains(bad, c.Var("i")) {
				c.Run("false")
			}
			return nil
		}
	}
	// Batches of 4, 4 and 2; at most 25% of a batch (1 host of 4) may
	// fail: one failure in batch 1 and one in batch 2 are each within it.
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 1, Batch: loom.Count(4), MaxFailBatch: loom.Percent(25)}
	rs := g.Each(context.Background(), fail("0", "4"))
	if len(rs.Failed()) != 2 || len(rs.OK()) != 8 || len(rs.NotStarted()) != 0 {
		t.Fatalf("within the limit: failed %d, ok %d, not started %d", len(rs.Failed()), len(rs.OK()), len(rs.NotStarted()))
	}
	// The last batch has 2 hosts: 25% of it is 0, so its first failure
	// stops the run (host 9 never starts).
	rs = g.Each(context.Background(), fail("8"))
	if len(rs.Failed()) != 1 || len(rs.OK()) != 8 || len(rs.NotStarted()) != 1 {
		t.Fatalf("small batch: failed %d, ok %d, not started %d", len(rs.Failed()), len(rs.OK()), len(rs.NotStarted()))
	}
	// Two failures in batch 2 (hosts 4, 5): host 6 on never starts.
	rs = g.Each(context.Background(), fail("4", "5"))
	if len(rs.Failed()) != 2 || len(rs.OK()) != 4 || len(rs.NotStarted()) != 4 {
		t.Fatalf("over the limit: failed %d, ok %d, not started %d", len(rs.Failed()), len(rs.OK()), len(rs.NotStarted()))
	}
	if r := rs.NotStarted()[0]; !strings.Contains(r.Err.Error(), "of a batch failed") {
		t.Fatalf("not started: %v", r.Err)
	}
}

// TestGroupRefusesBadRamps: a ramp that makes no sense runs nothing.
func TestGroupRefusesBadRamps(t *testing.T) {
	for _, tc := range []struct {
		g    loom.Group
		want string
	}{
		{loom.Group{Batches: []loom.Limit{loom.Count(1), loom.Count(0)}}, "Batches 1,0"},
		{loom.Group{Batches: []loom.Limit{loom.Percent(120)}}, "Batches 120%"},
		{loom.Group{Batches: []loom.Limit{{}}}, "Batches none"},
		{loom.Group{Batch: loom.Count(2), Batches: []loom.Limit{loom.Count(1)}}, "set one of them"},
		{loom.Group{Pause: time.Second}, "Pause 1s waits between batches"},
		{loom.Group{Batch: loom.Count(1), Pause: -time.Second}, "Pause -1s"},
		{loom.Group{MaxFailBatch: loom.Percent(101)}, "MaxFailBatch 101%"},
	} {
		g := tc.g
		g.Hosts = loom.Hosts("a", "b")
		ran := false
		rs := g.Each(context.Background(), func(*loom.Conn) error { ran = true; return nil })
		if ran || rs.Err() == nil || !strings.Contains(rs.Err().Error(), tc.want) || len(rs.NotStarted()) != 2 {
			t.Errorf("%s: ran %v, err %v", tc.want, ran, rs.Err())
		}
	}
}
