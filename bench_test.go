package loom_test

import (
	"context"
	"testing"

	"github.com/loomssh/loom"
)

// BenchmarkGroupShell runs one command on 50 in-process hosts per
// iteration, 25 at a time: connect, authenticate, check the host key, run,
// collect. It reports the client's allocations and wall time per host
// (the in-process servers share the CPU, so compare runs side by side).
func BenchmarkGroupShell(b *testing.B) {
	hosts, d := fleet(b, 50, nil)
	g := &loom.Group{Dialer: d, Hosts: hosts, Parallel: 25, DiscardOutput: true}
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Shell(context.Background(), "echo ok").Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*50), "µs/host")
}
