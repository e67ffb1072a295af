package loomfile

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestOptionsTableMatchesLoom lists every exported function of package
// loom that returns an Option and fails if the parser's table does not know
// it (or knows one that is gone): a new option must be read by loom -h too.
func TestOptionsTableMatchesLoom(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "..", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fd.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == "Option" {
				found = append(found, fd.Name.Name)
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no Option constructors in package loom")
	}
	var known []string
	for name := range options {
		known = append(known, name)
	}
	sort.Strings(found)
	sort.Strings(known)
	if !slices.Equal(found, known) {
		t.Fatalf("package loom's Option constructors %v, the loomfile parser's table %v", found, known)
	}
	// And the parser reads each one: a literal use sets no InCode.
	for _, name := range found {
		src := `package main

import (
	"time"

	"github.com/loomssh/loom"
)

var _ = time.Second

func init() { loom.Task(Deploy, loom.` + name + `(` + sampleArgs[name] + `)) }

// Deploy deploys.
func Deploy(c *loom.Conn, version string) error { return nil }
`
		info, err := parseString(src)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s := info.Tasks[0].Settings; s.InCode {
			t.Errorf("loom.%s(%s) is not read by the parser (InCode)", name, sampleArgs[name])
		}
	}
}

// sampleArgs are literal arguments for each option.
var sampleArgs = map[string]string{
	"OnHosts": `"a"`, "OnRoles": `"web"`, "Parallel": "2", "Batches": "loom.Count(2)",
	"MaxFailures": "loom.Percent(10)", "Pause": "30 * time.Second", "MaxFailuresPerBatch": "loom.Percent(20)", "ArgDefault": `"version", "v1"`,
}

// A host task may return a value and an error; anything else returning a
// value is a helper, not a task.
func TestTaskReturningAValue(t *testing.T) {
	info := mustParse(t, `package main

import "github.com/loomssh/loom"

// Stamp is each host's version.
func Stamp(c *loom.Conn) (string, error) { return "", nil }

// Helper is not a task.
func Helper() (string, error) { return "", nil }

// Two returns two values: a helper.
func Two(c *loom.Conn) (string, int) { return "", 0 }
`)
	if len(info.Tasks) != 1 || info.Tasks[0].Name != "stamp" || !info.Tasks[0].ReturnsValue || !info.Tasks[0].ReturnsError {
		t.Fatalf("tasks: %+v", info.Tasks)
	}
}
