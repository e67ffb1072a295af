package output

import (
	"bytes"
	"testing"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\tand tab":     "plain text\tand tab",
		"héllo wörld ✓":           "héllo wörld ✓",
		"\x1b[2J\x1b]0;pwned\x07": "^[[2J^[]0;pwned^G",
		"fake\rweb01 | ok":        "fake^Mweb01 | ok",
		"bad \xff utf8":           `bad \xff utf8`,
		"c1 \u009b31m":            `c1 \u009b31m`,
		"del\x7f":                 "del^?",
	} {
		if got := string(Sanitize([]byte(in))); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add([]byte("\x1b[31mred\x1b[0m \xc2\x9b x\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := Sanitize(b)
		for _, c := range out {
			if c < 0x20 && c != '\t' || c == 0x7f {
				t.Fatalf("control byte %#x left in %q", c, out)
			}
		}
		if bytes.Contains(out, []byte("\xc2\x9b")) || bytes.Contains(out, []byte("\xc2\x85")) {
			t.Fatalf("C1 control left in %q", out)
		}
	})
}
