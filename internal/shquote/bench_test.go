package shquote

import "testing"

var sink string

// BenchmarkQuoteBare: a word that needs no quotes (most arguments).
func BenchmarkQuoteBare(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = Quote("/srv/app/releases/20261127-0412")
	}
}

// BenchmarkQuoteSpaces: a word that needs single quotes.
func BenchmarkQuoteSpaces(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = Quote("deploy finished on $(hostname) at `date`")
	}
}

// BenchmarkQuoteSingleQuotes: a word holding single quotes (each becomes close, escaped quote, open).
func BenchmarkQuoteSingleQuotes(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = Quote("it's Bob's 'release' -- don't")
	}
}

// BenchmarkJoin: a typical argument vector (Conn.Run("git", ...)).
func BenchmarkJoin(b *testing.B) {
	args := []string{"git", "-C", "/srv/app", "commit", "-m", "release 1.2.3: it's done", "--author", "Deploy Bot <deploy@example.com>"}
	b.ReportAllocs()
	for b.Loop() {
		sink = Join(args)
	}
}
