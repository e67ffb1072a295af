package localpath

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestHostElem(t *testing.T) {
	for name, want := range map[string]string{
		"web1":            "web1",
		"deploy@web1:22":  "deploy@web1:22",
		"10.0.0.1":        "10.0.0.1",
		"..":              "%2E%2E",
		".":               "%2E",
		"...":             "...",
		"a/b":             "a%2Fb",
		"a\\b":            "a%5Cb",
		"a%2Fb":           "a%252Fb",
		"x\x1b[31m\n\x00": "x%1B[31m%0A%00",
		"":                "%",
	} {
		if got := HostElem(name); got != want {
			t.Errorf("HostElem(%q) = %q, want %q", name, got, want)
		}
	}
}

// Every name gives its own element, one element, never "." or "..".
func FuzzHostElem(f *testing.F) {
	for _, s := range []string{"web1", "..", ".", "a/b", "%", "%2E", "\x00"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := HostElem(a), HostElem(b)
		if a != b && ea == eb {
			t.Fatalf("%q and %q both give %q", a, b, ea)
		}
		if ea == "." || ea == ".." || ea == "" || strings.ContainsAny(ea, "/\\") {
			t.Fatalf("%q gives %q", a, ea)
		}
		for _, r := range ea {
			if r < ' ' || r == 0x7f {
				t.Fatalf("%q gives %q, with a control character", a, ea)
			}
		}
		if got := filepath.Join("out", ea); filepath.Dir(got) != "out" {
			t.Fatalf("%q: out/{host} is %q", a, got)
		}
	})
}

func TestShared(t *testing.T) {
	for tmpl, want := range map[string]bool{
		"out/same.txt":               true,
		"out/":                       true,
		"out/{basename}":             true,
		"{path}":                     true,
		"out/{host}/../{basename}":   true,
		"out/{host}/{basename}":      false,
		"out/{host}.log":             false,
		"{host}":                     false,
		"out/{dirname}/{host}/":      false,
		"out/{host}/{host}/../x.log": false,
	} {
		if got := Shared(tmpl, "web1", "web2"); got != want {
			t.Errorf("Shared(%q) = %v, want %v", tmpl, got, want)
		}
	}
}
