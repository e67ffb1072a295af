// Package suggest finds what a user probably meant: the nearest of the
// names a flag, task, argument or inventory key could have been, by edit
// distance, for "did you mean" hints.
package suggest

import "unicode/utf8"

// Distance is the edit distance between a and b, in runes, with swaps of
// neighbours (the optimal string alignment distance): insertions,
// deletions, substitutions and transpositions each count one, so the
// usual typo "gahter" is one away from "gather".
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// Near returns the distance from typed to name and whether that is near
// enough to suggest name: at most 1 + a third of typed's length, and less
// than its length (so "x" does not suggest "d").
func Near(typed, name string) (int, bool) {
	n := utf8.RuneCountInString(typed)
	d := Distance(typed, name)
	return d, d <= 1+n/3 && d < n
}

// Closest returns the name nearest to typed that is near enough (see Near),
// the first of equals, or "" when none is.
func Closest(typed string, names []string) string {
	best, bestD := "", 0
	for _, name := range names {
		if d, ok := Near(typed, name); ok && (best == "" || d < bestD) {
			best, bestD = name, d
		}
	}
	return best
}
