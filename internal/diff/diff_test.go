package diff

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	a := "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\n"
	b := "one\n2\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\nthirteen"
	want := `--- a
+++ b
@@ -1,5 +1,5 @@
 one
-two
+2
 three
 four
 five
@@ -10,3 +10,4 @@
 ten
 eleven
 twelve
+thirteen
\ No newline at end of file
`
	if got := Unified(a, b, "a", "b"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := Unified(a, a, "a", "b"); got != "" {
		t.Fatalf("equal texts: %q", got)
	}
	if got := Unified("", "x\n", "/dev/null", "b"); got != "--- /dev/null\n+++ b\n@@ -0,0 +1 @@\n+x\n" {
		t.Fatalf("new file: %q", got)
	}
}

// applyDiff applies a unified diff made by Unified to a.
func applyDiff(t *testing.T, a, diff string) string {
	t.Helper()
	al := splitLines(a)
	lines := strings.SplitAfter(diff, "\n")
	var out []string
	ai := 0
	for i := 2; i < len(lines) && lines[i] != ""; i++ {
		l := lines[i]
		if strings.HasPrefix(l, "@@") {
			var as, ac, bs, bc int
			f := strings.Fields(l)
			parse := func(s string, start, count *int) {
				p := strings.SplitN(s[1:], ",", 2)
				*start, _ = strconv.Atoi(p[0])
				*count = 1
				if len(p) == 2 {
					*count, _ = strconv.Atoi(p[1])
				}
			}
			parse(f[1], &as, &ac)
			parse(f[2], &bs, &bc)
			if ac > 0 {
				as--
			}
			out = append(out, al[ai:as]...)
			ai = as
			continue
		}
		if strings.HasPrefix(l, `\`) {
			last := len(out) - 1
			if i > 0 && strings.HasPrefix(lines[i-1], "-") {
				continue // the removed line lacked the newline
			}
			out[last] = strings.TrimSuffix(out[last], "\n")
			continue
		}
		switch l[0] {
		case ' ':
			out = append(out, al[ai])
			ai++
		case '-':
			if al[ai] != l[1:] && al[ai]+"\n" != l[1:] {
				t.Fatalf("diff removes %q, text has %q", l[1:], al[ai])
			}
			ai++
		case '+':
			out = append(out, l[1:])
		}
	}
	out = append(out, al[ai:]...)
	return strings.Join(out, "")
}

func TestUnifiedDiffApplies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a\n", "b\n", "c\n", "d\n", "e\n", "f\n"}
	gen := func() string {
		var b strings.Builder
		for n := r.IntN(40); n > 0; n-- {
			b.WriteString(words[r.IntN(len(words))])
		}
		if r.IntN(4) == 0 {
			b.WriteString("end")
		}
		return b.String()
	}
	for i := 0; i < 3000; i++ {
		a, b := gen(), gen()
		d := Unified(a, b, "a", "b")
		if got := applyDiff(t, a, d); got != b {
			t.Fatalf("case %d: applying the diff of\n%q\n%q\ngave %q\ndiff:\n%s", i, a, b, got, d)
		}
	}
}

// The edit scripts are shortest: the same number of changed lines as GNU diff.
func TestDiffMinimal(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("no diff")
	}
	r := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	for i := 0; i < 200; i++ {
		var a, b []string
		for n := r.IntN(60); n > 0; n-- {
			a = append(a, strconv.Itoa(r.IntN(5))+"\n")
		}
		for n := r.IntN(60); n > 0; n-- {
			b = append(b, strconv.Itoa(r.IntN(5))+"\n")
		}
		ops := diffLines(a, b)
		changes := 0
		for _, o := range ops {
			if o != ' ' {
				changes++
			}
		}
		fa, fb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		writeFile(t, fa, strings.Join(a, ""))
		writeFile(t, fb, strings.Join(b, ""))
		out, _ := exec.Command("diff", "--minimal", fa, fb).Output()
		gnu := 0
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "< ") || strings.HasPrefix(l, "> ") {
				gnu++
			}
		}
		if changes != gnu {
			t.Fatalf("case %d: %d changed lines, GNU diff --minimal has %d", i, changes, gnu)
		}
	}
}

func writeFile(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
