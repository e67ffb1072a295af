package hostlist

import (
	"fmt"
	"testing"
)

// More benchmarks sit in hostlist_test.go (Fold10k, Fold10kContiguous, Expand10k).

// BenchmarkExpandAll1k: a -H list as people write it: ranges, plain names, a padded range.
func BenchmarkExpandAll1k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ExpandAll("web[001-400].example.com,db[1-50],10.0.[1-2].[1-250],cache1,cache2")
	}
}

// BenchmarkExclude10k: -x with a range and a glob against 10,000 hosts.
func BenchmarkExclude10k(b *testing.B) {
	hosts := must(Expand("web[00001-10000].example.com"))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Exclude(hosts, []string{"web[00100-00199].example.com", "web09*"})
	}
}

// BenchmarkFoldLab1k: --gather's heading for the 1,000 lab hosts (127.0.[1-4].[1-250]).
func BenchmarkFoldLab1k(b *testing.B) {
	var hosts []string
	for i := 0; i < 1000; i++ {
		hosts = append(hosts, fmt.Sprintf("127.0.%d.%d", i/250+1, i%250+1))
	}
	b.ReportAllocs()
	for b.Loop() {
		Fold(hosts)
	}
}

// BenchmarkFoldFew: a summary line's few failed hosts.
func BenchmarkFoldFew(b *testing.B) {
	hosts := []string{"web03", "web17", "web18", "web19", "db2"}
	b.ReportAllocs()
	for b.Loop() {
		Fold(hosts)
	}
}
