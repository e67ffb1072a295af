package loomfile

import (
	"os"
	"strings"
	"testing"
)

// indent indents every non-empty line by four spaces, as the doc shows
// output.
func indent(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestDocs checks docs/loomfiles.md against the code: its example loomfile
// parses, the listing and help it shows are what List and Help print, and
// its argument examples bind (or fail) as it says.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/loomfiles.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, after, ok := strings.Cut(doc, "```go\n")
	if !ok {
		t.Fatal("no go block in the doc")
	}
	src, _, _ := strings.Cut(after, "```\n")
	info := mustParse(t, src)

	var list, help strings.Builder
	info.List(&list)
	if err := info.Help(&help, "deploy"); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"loom -l": list.String(), "loom -h deploy": help.String()} {
		if !strings.Contains(doc, indent(out)) {
			t.Errorf("the doc does not show what %s prints:\n%s", name, out)
		}
	}

	// The Arguments section's examples.
	ex := mustParse(t, `package main
import ("time"; "github.com/loomssh/loom")
func Deploy(c *loom.Conn, version string, wait time.Duration, count *int, dryRun *bool, services ...string) error { return nil }
func Restart(c *loom.Conn, services ...string) error { return nil }
type DB loom.Namespace
func (DB) Migrate(c *loom.Conn) error { return nil }
func Build() {}
`)
	for line, want := range map[string]string{
		"loom deploy v2 30s":                      "deploy(version=v2 wait=30s)",
		"loom deploy --wait=30s v2 --dry-run":     "deploy(version=v2 wait=30s dryRun=true)",
		"loom deploy v2 30s --count 3 web worker": "deploy(version=v2 wait=30s count=3 services=web,worker)",
		"loom build deploy v2 30s":                "build() deploy(version=v2 wait=30s)",
		"loom deploy build 1s":                    "deploy(version=build wait=1s)",
		"loom restart web worker -- db:migrate":   "restart(services=web,worker) db:migrate()",
		"loom deploy v2":                          "error: deploy: missing argument WAIT",
		"loom deploy v2 soon":                     `error: deploy: WAIT="soon": not a duration (such as 90s, 5m or 1h30m)`,
		"loom deploy v2 30s --count=x":            `error: deploy: --count="x": not an int`,
		"loom deploy v2 30s --cnt=3":              "error: deploy: unknown argument --cnt (did you mean --count?)",
	} {
		args := strings.Fields(line)[1:]
		var got []string
		for len(args) > 0 {
			tk, err := ex.Resolve(args[0])
			if err != nil {
				t.Fatal(err)
			}
			vals, rest, err := Bind(tk, args[1:])
			if err != nil {
				got = append(got, "error: "+err.Error())
				break
			}
			var raws []string
			for _, v := range vals {
				if v.Given {
					raws = append(raws, v.Param.Name+"="+v.Raw)
				}
			}
			got = append(got, tk.Name+"("+strings.Join(raws, " ")+")")
			args = rest
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: got %s, want %s", line, g, want)
		}
		if strings.HasPrefix(want, "error: ") && !strings.Contains(doc, strings.TrimPrefix(want, "error: ")) {
			t.Errorf("the doc does not show the error %q", want)
		}
	}
}
