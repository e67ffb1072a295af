package hostlist

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Fold folds a host list into a short comma-separated pattern list, like
// ClusterShell's "nodeset -f":
//
//	web01 web02 web03 web05 db1      → db1,web[01-03,05]
//	10.0.1.1 … 10.0.1.9              → 10.0.1.[1-9]
//	10.0.1.1 … 10.0.3.254 (all)      → 10.0.[1-3].[1-254]
//
// Names are compared by shape: the text between their numbers must be
// equal. Among names of one shape, Fold merges on the last numeric field
// first, then on each earlier one, so a full cartesian product folds into
// one pattern with several bracket groups, and "rack1-node[1-2],rack2-node1"
// stays as it is. Zero padding is kept (web09 web10 → web[09-10];
// 1 2 10 → [1-2,10]; "1" and "01" are different hosts).
//
// The result is sorted in natural order (numbers compared by value) and
// does not depend on the order of hosts; duplicates and empty names are
// dropped. Expanding every item of the result (Split, then Expand) gives
// back exactly the set of hosts. Names that cannot be written in a
// pattern — holding brackets, commas, white space or control characters —
// are listed unchanged. Numbers of more than 18 digits are not folded.
func Fold(hosts []string) string {
	type shapeGroup struct {
		lits  []string
		items []*foldItem
	}
	shapes := map[string]*shapeGroup{}
	var order []*shapeGroup
	var out []foldOut
	seen := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if _, dup := seen[h]; dup {
			continue
		}
		seen[h] = struct{}{}
		if strings.ContainsFunc(h, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r == '[' || r == ']' || r == ','
		}) {
			out = append(out, foldOut{text: h, first: h})
			continue
		}
		lits, nums := splitNumbers(h)
		if len(nums) == 0 {
			out = append(out, foldOut{text: h, first: h})
			continue
		}
		key := strings.Join(lits, "\x00")
		g := shapes[key]
		if g == nil {
			g = &shapeGroup{lits: lits}
			shapes[key] = g
			order = append(order, g)
		}
		it := &foldItem{fields: make([]numSet, len(nums))}
		for i, n := range nums {
			it.fields[i] = numSet{vals: []string{n}}
		}
		g.items = append(g.items, it)
	}
	for _, g := range order {
		items := g.items
		for d := len(g.lits) - 2; d >= 0; d-- {
			items = mergeOn(items, d)
		}
		for _, it := range items {
			out = append(out, render(g.lits, it))
		}
	}
	slices.SortFunc(out, func(a, b foldOut) int {
		if c := naturalCompare(a.first, b.first); c != 0 {
			return c
		}
		return strings.Compare(a.text, b.text)
	})
	var b strings.Builder
	for i, o := range out {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(o.text)
	}
	return b.String()
}

// foldOut is one item of Fold's result and its first host, for sorting.
type foldOut struct{ text, first string }

// foldItem is a cartesian product: one set of numbers per numeric field.
type foldItem struct {
	fields []numSet
}

// numSet is a set of digit strings (duplicates allowed until folded).
type numSet struct {
	vals  []string
	canon string // folded form, "" when stale
	first string // lowest value, valid with canon
}

func (s *numSet) folded() string {
	if s.canon == "" && len(s.vals) == 1 {
		s.canon, s.first = s.vals[0], s.vals[0]
	} else if s.canon == "" {
		s.canon, s.first = foldNumbers(s.vals)
	}
	return s.canon
}

// mergeOn merges items that are equal in every field but d, uniting their
// field d. The result does not depend on the order of items.
func mergeOn(items []*foldItem, d int) []*foldItem {
	if len(items) < 2 {
		return items
	}
	byKey := make(map[string]*foldItem, len(items))
	out := items[:0:0]
	var kb strings.Builder
	for _, it := range items {
		kb.Reset()
		for i := range it.fields {
			if i != d {
				kb.WriteString(it.fields[i].folded())
			}
			kb.WriteByte(0)
		}
		k := kb.String()
		if m := byKey[k]; m != nil {
			m.fields[d].vals = append(m.fields[d].vals, it.fields[d].vals...)
			m.fields[d].canon = ""
			continue
		}
		byKey[k] = it
		out = append(out, it)
	}
	return out
}

func render(lits []string, it *foldItem) foldOut {
	var t, f strings.Builder
	for i, l := range lits {
		t.WriteString(l)
		f.WriteString(l)
		if i == len(it.fields) {
			break
		}
		s := &it.fields[i]
		c := s.folded()
		if strings.ContainsAny(c, ",-") {
			t.WriteByte('[')
			t.WriteString(c)
			t.WriteByte(']')
		} else {
			t.WriteString(c)
		}
		f.WriteString(s.first)
	}
	return foldOut{text: t.String(), first: f.String()}
}

// splitNumbers splits a name into the text around its numbers and the
// numbers (runs of at most maxDigits digits; longer runs stay text).
// len(lits) == len(nums)+1.
func splitNumbers(h string) (lits, nums []string) {
	start := 0
	for i := 0; i < len(h); {
		if !isDigit(h[i]) {
			i++
			continue
		}
		j := i
		for j < len(h) && isDigit(h[j]) {
			j++
		}
		if j-i <= maxDigits {
			lits = append(lits, h[start:i])
			nums = append(nums, h[i:j])
			start = j
		}
		i = j
	}
	lits = append(lits, h[start:])
	return lits, nums
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number is a parsed digit string.
type number struct {
	s   string
	v   int64
	pad int // width of zero padding the string implies; 0 = none
}

func parseNumber(s string) number {
	v, _ := strconv.ParseInt(s, 10, 64) // at most maxDigits digits
	p := 0
	if len(s) > 1 && s[0] == '0' {
		p = len(s)
	}
	return number{s: s, v: v, pad: p}
}

// foldNumbers writes a set of digit strings as range elements,
// "01-03,05", in the form Expand reads back, and returns the lowest one.
// A run of consecutive numbers is one element when all of them are
// written with the padding of its first one and, if padded, its width.
func foldNumbers(vals []string) (canon, first string) {
	nums := make([]number, 0, len(vals))
	present := make(map[string]bool, len(vals))
	for _, s := range vals {
		if !present[s] {
			present[s] = true
			nums = append(nums, parseNumber(s))
		}
	}
	slices.SortFunc(nums, func(a, b number) int {
		switch {
		case a.v != b.v:
			if a.v < b.v {
				return -1
			}
			return 1
		case len(a.s) != len(b.s):
			return len(a.s) - len(b.s)
		}
		return strings.Compare(a.s, b.s)
	})
	used := make(map[string]bool, len(nums))
	var b strings.Builder
	for _, n := range nums {
		if used[n.s] {
			continue
		}
		used[n.s] = true
		last, cur := n.s, n.v
		for {
			next := formatNum(cur+1, n.pad)
			// A zero-padded run keeps its width: ClusterShell rejects
			// "08-101" (write "08-99,100-101").
			if !present[next] || used[next] || n.pad > 0 && len(next) != len(n.s) {
				break
			}
			used[next] = true
			last, cur = next, cur+1
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n.s)
		if last != n.s {
			b.WriteByte('-')
			b.WriteString(last)
		}
	}
	return b.String(), nums[0].s
}

// naturalCompare compares strings with their digit runs compared as
// numbers: web2 < web10, and "1" < "01" when equal in value.
func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			ie, je := i, j
			for ie < len(a) && isDigit(a[ie]) {
				ie++
			}
			for je < len(b) && isDigit(b[je]) {
				je++
			}
			ra := strings.TrimLeft(a[i:ie], "0")
			rb := strings.TrimLeft(b[j:je], "0")
			if len(ra) != len(rb) {
				return len(ra) - len(rb)
			}
			if c := strings.Compare(ra, rb); c != 0 {
				return c
			}
			if ie-i != je-j {
				return (ie - i) - (je - j)
			}
			i, j = ie, je
			continue
		}
		if a[i] != b[j] {
			if a[i] < b[j] {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	switch {
	case len(a)-i != len(b)-j:
		return (len(a) - i) - (len(b) - j)
	}
	return strings.Compare(a, b)
}
