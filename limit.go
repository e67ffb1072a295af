package loom

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limit is a number of hosts given as a count or as a percentage of the
// hosts in the run. The zero value means "no limit".
type Limit struct {
	n   int
	pct float64
	set bool
	isP bool
}

// Count returns a Limit of n hosts. A Group refuses a negative count.
func Count(n int) Limit { return Limit{n: n, set: true} }

// Percent returns a Limit of p percent of the hosts. A Group refuses a
// percentage outside 0–100.
func Percent(p float64) Limit { return Limit{pct: p, set: true, isP: true} }

// ParseLimit parses "5" or "10%".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
			return Limit{}, fmt.Errorf("invalid percentage %q (want 0%%-100%%)", s)
		}
		return Percent(f), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Limit{}, fmt.Errorf("invalid count %q (want a number like 5 or a percentage like 10%%)", s)
	}
	return Count(n), nil
}

// valid reports whether the limit is one ParseLimit could return: a count
// of 0 or more, or a percentage from 0 to 100.
func (l Limit) valid() bool {
	if l.isP {
		return l.pct >= 0 && l.pct <= 100 && !math.IsNaN(l.pct)
	}
	return l.n >= 0
}

// IsSet reports whether a limit was given.
func (l Limit) IsSet() bool { return l.set }

// Of returns the limit for a run of total hosts: a count as it is, a
// percentage rounded down (10% of 25 hosts is 2).
func (l Limit) Of(total int) int {
	if !l.isP {
		return l.n
	}
	return int(math.Floor(l.pct * float64(total) / 100))
}

func (l Limit) String() string {
	switch {
	case !l.set:
		return "none"
	case l.isP:
		return strconv.FormatFloat(l.pct, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(l.n)
}
