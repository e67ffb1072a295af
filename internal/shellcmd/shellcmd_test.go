package shellcmd

import (
	"os/exec"
	"strings"
	"testing"
)

// FuzzJoinRoundTrip: every argument Join quotes reaches the program as it
// was (a leading ~ aside, which means home).
func FuzzJoinRoundTrip(f *testing.F) {
	for _, s := range []string{"a b", "it's", "$HOME", "=ls", "-x", "a~b", "*", "\n", `"\`} {
		f.Add(s, "second")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		f.Skip("no sh")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range []string{a, b} {
			if strings.ContainsRune(s, 0) || strings.HasPrefix(s, "~") {
				t.Skip()
			}
		}
		out, err := exec.Command(sh, "-c", `printf '%s\0' `+Join([]string{a, b})).Output()
		if err != nil {
			t.Fatalf("%q %q: %v", a, b, err)
		}
		if got := strings.Split(string(out), "\x00"); len(got) != 3 || got[0] != a || got[1] != b {
			t.Fatalf("%q %q came back as %q", a, b, got)
		}
	})
}

func TestQuoteDir(t *testing.T) {
	for dir, want := range map[string]string{"/srv/a b": "'/srv/a b'", "-P": "./-P", "~": "~", "~/x y": "~/'x y'", "rel": "./rel"} {
		if got := QuoteDir(dir); got != want {
			t.Errorf("QuoteDir(%q) = %q, want %q", dir, got, want)
		}
	}
}
