package loomfile

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/scanner"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// LoomPath is the import path of the Loom library: *loom.Conn marks a host
// task and loom.Namespace a namespace, whatever local name the file gives
// the import.
const LoomPath = "github.com/loomssh/loom"

// TaskKind says where a task runs.
type TaskKind uint8

const (
	// Host tasks take a *loom.Conn first and run once on every selected
	// host, through the fan-out engine and its flags.
	Host TaskKind = iota + 1
	// Local tasks take a context.Context first, or no context, and run
	// once on this machine; they may open groups of hosts themselves.
	Local
)

// String returns "host" or "local".
func (k TaskKind) String() string {
	switch k {
	case Host:
		return "host"
	case Local:
		return "local"
	}
	return "TaskKind(" + strconv.Itoa(int(k)) + ")"
}

// Kind is the type of an argument, or of each element of a slice argument.
type Kind uint8

// The argument kinds.
const (
	KindString   Kind = iota + 1 // string
	KindInt                      // int
	KindInt64                    // int64
	KindFloat64                  // float64
	KindBool                     // bool
	KindDuration                 // time.Duration
	// KindText is any other named type, from the loomfile's package or
	// another. The build checks that it implements
	// encoding.TextUnmarshaler; here its value is the text as given.
	KindText
)

var kindNames = [...]string{
	KindString:   "string",
	KindInt:      "int",
	KindInt64:    "int64",
	KindFloat64:  "float64",
	KindBool:     "bool",
	KindDuration: "duration",
	KindText:     "text",
}

// String returns the kind's name: "string", "int", "int64", "float64",
// "bool", "duration" or "text".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Param is one argument parameter of a task (the *loom.Conn or
// context.Context that comes first is not one).
type Param struct {
	// Name is the Go name as declared ("dryRun"); an unnamed or _
	// parameter is called argN, N counting the task's arguments from 1.
	Name string
	// Type is the type as written: "string", "*int", "[]time.Duration",
	// "...string", "semver.Version".
	Type string
	// Elem is the type of one value: Type without its *, [] or ...
	Elem string
	// Kind is the kind of one value.
	Kind Kind
	// Slice reports a list: []T, *[]T or a variadic ...T.
	Slice bool
	// Optional reports a pointer (*T, *[]T): the argument may be left
	// out, and is then nil. Optional arguments are given by name only.
	Optional bool
	// Variadic reports a final ...T: it takes the rest of the positional
	// arguments, one value per word.
	Variadic bool
	// HasDefault reports an argument the loomfile gives a default with
	// loom.ArgDefault (never a pointer or variadic one). Like a pointer,
	// it is optional and given by name only; when it is left out, Bind
	// uses Default as if --name=Default had been typed.
	HasDefault bool
	// Default is the default's text, as it would follow --name=: "30s",
	// "a,b" for a slice. It is "" when HasDefault is false.
	Default string
}

// required reports an argument that must be given, by position or by
// name: neither a pointer nor variadic, and without a default.
func (p *Param) required() bool { return !p.Optional && !p.Variadic && !p.HasDefault }

// Task is one task of a loomfile.
type Task struct {
	// Name is the task's name on the command line: the function's name in
	// kebab case ("rolling-restart"), after the namespace's and a colon
	// for a method ("db:migrate").
	Name string
	// Func is the Go name of the function: "Deploy", or "DB.Migrate" for
	// a method of a namespace type (which new(DB).Migrate calls, whatever
	// the receiver).
	Func string
	// Namespace is the Go name of the namespace type ("DB"), or "".
	Namespace string
	// Kind says whether the task runs on each host or once, locally.
	Kind TaskKind
	// TakesContext reports a local task whose first parameter is a
	// context.Context.
	TakesContext bool
	// Doc is the doc comment's text.
	Doc string
	// Synopsis is the doc comment's first sentence, as go/doc finds it.
	Synopsis string
	// Params are the argument parameters, in order.
	Params []Param
	// ReturnsError reports a task returning error (else it returns
	// nothing).
	ReturnsError bool
	// ReturnsValue reports a host task returning a value and an error: the
	// loom command shows each host's value.
	ReturnsValue bool `json:",omitempty"`
	// Pos is where the function is declared: "file:line", the file
	// relative to the directory Find started from.
	Pos string
	// Settings are what the loomfile's loom.Task call for the task says
	// (its zero value when there is none). The argument defaults it gives
	// are in Params.
	Settings Settings
}

// Info is what Parse learns from a loomfile.
type Info struct {
	// Tasks are the tasks, sorted by name.
	Tasks []*Task
	// Default is the name of the task run when none is named (var
	// Default = Deploy), or "".
	Default string
	// Aliases maps each alias (var Aliases), lower-cased, to the name
	// of its task.
	Aliases map[string]string
	// Imports are the import paths of the loomfiles, sorted, without
	// repeats.
	Imports []string
}

// source is one file to parse: its bytes and the name messages use.
type source struct {
	name string
	src  []byte
}

// Parse reads the tasks of p's files without compiling them.
//
// A task is an exported top-level function, or an exported method of a
// namespace type (type DB loom.Namespace), that returns nothing or error.
// Its first parameter may be a *loom.Conn (a host task) or a
// context.Context (a local task; a local task may also take no context),
// and the other parameters are its arguments: string, int, int64, float64,
// bool, time.Duration or a named type (text), a slice of one of those, a
// pointer to one (optional), or a final ...T. Exported functions returning
// anything else are helpers and are ignored. A task with a parameter of
// another type, or a *loom.Conn or context.Context that is not first, is an
// error naming file:line, the function and the parameter.
//
// var Default = Task and var Aliases = map[string]any{"d": Deploy, "m":
// DB.Migrate} are read from the syntax, never run, and so are the
// loom.Task(Deploy, options...) statements of func init (see Settings).
// A task or alias named like a subcommand of loom (put, get, sync, demo,
// init, help) is an error.
func Parse(p *Project) (*Info, error) {
	if len(p.Files) == 0 {
		return nil, errors.New("no loomfiles to parse")
	}
	srcs := make([]source, len(p.Files))
	for i, f := range p.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs[i] = source{name: p.display(f), src: b}
	}
	return parseSources(srcs)
}

// pkgScope is what the parser knows about the package as a whole.
type pkgScope struct {
	fset       *token.FileSet
	types      map[string]bool // package-level type names
	namespaces map[string]bool // types declared from loom.Namespace
	names      map[string]bool // package-level funcs, vars and consts
	funcs      map[string]bool // functions and methods, as "Deploy" or "T.Method"
}

// fileScope resolves the import names of one file.
type fileScope struct {
	*pkgScope
	imports map[string]string // local name → import path, for named imports
	guessed map[string]string // possible package name → import path, for the others
	dots    map[string]bool   // import paths imported with .
}

// pkgOf returns the import path a selector's package name refers to.
func (fs *fileScope) pkgOf(e ast.Expr) (string, bool) {
	id, ok := e.(*ast.Ident)
	if !ok {
		return "", false
	}
	if path, ok := fs.imports[id.Name]; ok {
		return path, true
	}
	path, ok := fs.guessed[id.Name]
	return path, ok
}

// isType reports whether e names the type name of package path, either
// as pkg.name or, when path is dot-imported and the package declares no
// such type itself, as name.
func (fs *fileScope) isType(e ast.Expr, path, name string) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		p, ok := fs.pkgOf(e.X)
		return ok && p == path && e.Sel.Name == name
	case *ast.Ident:
		return fs.dots[path] && e.Name == name && !fs.types[name]
	}
	return false
}

// parseSources is Parse on files already read: the fuzz target and most
// tests call it directly.
func parseSources(srcs []source) (*Info, error) {
	ps := &pkgScope{fset: token.NewFileSet(), types: map[string]bool{}, namespaces: map[string]bool{},
		names: map[string]bool{}, funcs: map[string]bool{}}
	files := make([]*ast.File, len(srcs))
	scopes := make([]*fileScope, len(srcs))
	imports := map[string]bool{}
	for i, s := range srcs {
		f, err := parser.ParseFile(ps.fset, s.name, s.src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			var list scanner.ErrorList
			if errors.As(err, &list) && len(list) > 0 {
				// The message may quote a token, newlines and all.
				e := list[0]
				return nil, fmt.Errorf("%s: %s", e.Pos, escapeControls(e.Msg))
			}
			return nil, err
		}
		if f.Name.Name != "main" {
			return nil, fmt.Errorf("%s: package %s: a loomfile is package main", ps.pos(f.Name.Pos()), f.Name.Name)
		}
		files[i] = f
		fs := &fileScope{pkgScope: ps, imports: map[string]string{}, guessed: map[string]string{}, dots: map[string]bool{}}
		for _, im := range f.Imports {
			path, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: bad import path %s", ps.pos(im.Pos()), escapeControls(im.Path.Value))
			}
			imports[path] = true
			name := ""
			if im.Name != nil {
				name = im.Name.Name
			}
			switch name {
			case "_":
			case ".":
				fs.dots[path] = true
			case "":
				for _, n := range importNames(path) {
					if _, taken := fs.guessed[n]; !taken {
						fs.guessed[n] = path
					}
				}
			default:
				fs.imports[name] = path
			}
		}
		scopes[i] = fs
	}

	// Declarations first: a namespace's methods may be in another file.
	for i, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if r := recvName(d); r != "" || d.Recv == nil {
					ps.funcs[r+d.Name.Name] = true
				}
				if d.Recv == nil {
					ps.names[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						ps.types[sp.Name.Name] = true
						if sp.Assign == 0 && sp.TypeParams == nil && scopes[i].isType(sp.Type, LoomPath, "Namespace") {
							ps.namespaces[sp.Name.Name] = true
						}
					case *ast.ValueSpec:
						for _, n := range sp.Names {
							ps.names[n.Name] = true
						}
					}
				}
			}
		}
	}

	info := &Info{Aliases: map[string]string{}}
	var defaultSpec, aliasSpec *varSpec
	var settings []taskCall
	for i, f := range files {
		fs := scopes[i]
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				settings = append(settings, fs.taskCalls(d)...)
				t, err := fs.task(d)
				if err != nil {
					return nil, err
				}
				if t != nil {
					info.Tasks = append(info.Tasks, t)
				}
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, sp := range d.Specs {
					vs := sp.(*ast.ValueSpec)
					for j, n := range vs.Names {
						var slot **varSpec
						switch n.Name {
						case "Default":
							slot = &defaultSpec
						case "Aliases":
							slot = &aliasSpec
						default:
							continue
						}
						v := &varSpec{name: n, fs: fs}
						if j < len(vs.Values) && len(vs.Values) == len(vs.Names) {
							v.value = vs.Values[j]
						}
						*slot = v
					}
				}
			}
		}
	}

	slices.SortFunc(info.Tasks, func(a, b *Task) int { return strings.Compare(a.Name, b.Name) })
	seen := map[string]*Task{}
	for _, t := range info.Tasks {
		k := key(t.Name)
		if o := seen[k]; o != nil {
			return nil, fmt.Errorf("%s: %s and %s (%s) are both task %s: rename one", t.Pos, t.Func, o.Func, o.Pos, t.Name)
		}
		seen[k] = t
		if sub := subcommand(t.Name); sub != "" {
			return nil, fmt.Errorf("%s: %s: task name %s is taken by `loom %s`: rename the function", t.Pos, t.Func, t.Name, sub)
		}
	}
	for path := range imports {
		info.Imports = append(info.Imports, path)
	}
	slices.Sort(info.Imports)

	if defaultSpec != nil {
		t, err := defaultSpec.task(info, "var Default = Deploy")
		if err != nil {
			return nil, err
		}
		info.Default = t.Name
	}
	if aliasSpec != nil {
		if err := aliasSpec.aliases(info, seen); err != nil {
			return nil, err
		}
	}
	if err := strayTaskCall(files, scopes, settings); err != nil {
		return nil, err
	}
	for _, c := range settings {
		if err := c.fs.settings(info, c.call); err != nil {
			return nil, err
		}
	}
	return info, nil
}

// subcommands are the words the loom command takes as its own before any
// task: a task or alias cannot have these names.
var subcommands = []string{"put", "get", "sync", "demo", "init", "help", "ssh", "last", "completion"}

// subcommand returns the subcommand a task or alias name would clash
// with, or "".
func subcommand(name string) string {
	k := key(name)
	for _, s := range subcommands {
		if k == s {
			return s
		}
	}
	return ""
}

// recvName returns "T." for a method of T or *T, "" for a function (or a
// method whose receiver is neither).
func recvName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) != 1 {
		return ""
	}
	rt := d.Recv.List[0].Type
	if st, ok := rt.(*ast.StarExpr); ok {
		rt = st.X
	}
	if id, ok := rt.(*ast.Ident); ok {
		return id.Name + "."
	}
	return ""
}

// importNames returns the names an import without a local name may give
// its package: without compiling, the package clause is unknown, so every
// usual form counts — the last path element, without a go- prefix or a
// .go, -go or .vN suffix, and the element before a /vN. Only loom, context
// and time need resolving for sure; for the rest, a selector matching none
// of them is reported as not imported.
func importNames(path string) []string {
	el := strings.Split(path, "/")
	last := el[len(el)-1]
	names := []string{last}
	if len(el) > 1 && isVersion(last) {
		names = append(names, el[len(el)-2])
	}
	for _, n := range slices.Clone(names) {
		m := strings.TrimPrefix(n, "go-")
		m = strings.TrimSuffix(m, ".go")
		m = strings.TrimSuffix(m, "-go")
		if i := strings.LastIndex(m, ".v"); i > 0 && isVersion(m[i+1:]) {
			m = m[:i]
		}
		names = append(names, m, strings.ReplaceAll(m, "-", "_"))
	}
	return names
}

// isVersion reports a major-version element: v2, v10.
func isVersion(s string) bool {
	return len(s) >= 2 && s[0] == 'v' && strings.Trim(s[1:], "0123456789") == ""
}

// pos formats a position as file:line.
func (ps *pkgScope) pos(p token.Pos) string {
	pp := ps.fset.Position(p)
	return pp.Filename + ":" + strconv.Itoa(pp.Line)
}

// exprString prints a type expression as written (normalised spacing).
func (ps *pkgScope) exprString(e ast.Expr) string {
	var b bytes.Buffer
	printer.Fprint(&b, ps.fset, e)
	return b.String()
}

// task returns the task d declares, nil if it declares none, or an error
// if it looks like a task but cannot be one.
func (fs *fileScope) task(d *ast.FuncDecl) (*Task, error) {
	if !d.Name.IsExported() || d.Type.TypeParams != nil {
		return nil, nil
	}
	t := &Task{Func: d.Name.Name, Name: kebab(d.Name.Name), Pos: fs.pos(d.Name.Pos())}
	if d.Recv != nil {
		if len(d.Recv.List) != 1 {
			return nil, nil
		}
		rt := d.Recv.List[0].Type
		if st, ok := rt.(*ast.StarExpr); ok {
			rt = st.X
		}
		id, ok := rt.(*ast.Ident)
		if !ok || !fs.namespaces[id.Name] {
			return nil, nil // a method of another type, or of a generic one
		}
		t.Namespace = id.Name
		t.Func = id.Name + "." + d.Name.Name
		t.Name = kebab(id.Name) + ":" + t.Name
	}

	// The result decides whether this is meant as a task: an exported
	// function returning a value is a helper, except a host task returning
	// a value and an error (its value is each host's answer).
	isError := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		return ok && id.Name == "error" && !fs.types["error"]
	}
	if res := d.Type.Results; res != nil && res.NumFields() > 0 {
		types := fieldTypes(res)
		switch {
		case len(types) == 1 && isError(types[0]):
			t.ReturnsError = true
		case len(types) == 2 && isError(types[1]) && d.Type.Params.NumFields() > 0 && fs.isConn(d.Type.Params.List[0].Type):
			t.ReturnsError, t.ReturnsValue = true, true
		default:
			return nil, nil
		}
	}

	type field struct {
		name string
		typ  ast.Expr
		pos  token.Pos
	}
	var params []field
	for _, f := range d.Type.Params.List {
		if len(f.Names) == 0 {
			params = append(params, field{"", f.Type, f.Type.Pos()})
		}
		for _, n := range f.Names {
			params = append(params, field{n.Name, f.Type, n.Pos()})
		}
	}

	t.Kind = Local
	if len(params) > 0 {
		switch first := params[0].typ; {
		case fs.isConn(first):
			t.Kind = Host
			params = params[1:]
		case fs.isType(first, "context", "Context"):
			t.TakesContext = true
			params = params[1:]
		}
	}

	keys := map[string]string{}
	for i, f := range params {
		p, err := fs.param(f.typ)
		if err != nil {
			name := f.name
			if name == "" || name == "_" {
				name = "#" + strconv.Itoa(i+1)
			}
			return nil, fmt.Errorf("%s: %s: parameter %s: %s", fs.pos(f.pos), t.Func, name, err)
		}
		p.Name = f.name
		if p.Name == "" || p.Name == "_" {
			p.Name = "arg" + strconv.Itoa(i+1)
		}
		k := key(p.Name)
		if o, dup := keys[k]; dup {
			return nil, fmt.Errorf("%s: %s: parameters %s and %s are both --%s: rename one", fs.pos(f.pos), t.Func, o, p.Name, kebab(p.Name))
		}
		keys[k] = p.Name
		t.Params = append(t.Params, p)
	}

	if d.Doc != nil {
		t.Doc = strings.TrimSpace(d.Doc.Text())
		t.Synopsis = new(doc.Package).Synopsis(t.Doc)
	}
	return t, nil
}

// isConn reports whether e is *loom.Conn.
func (fs *fileScope) isConn(e ast.Expr) bool {
	st, ok := e.(*ast.StarExpr)
	return ok && fs.isType(st.X, LoomPath, "Conn")
}

// argTypes is the hint unsupported-type errors end with.
const argTypes = "use string, int, int64, float64, bool, time.Duration or an encoding.TextUnmarshaler, a slice of one, *T for an optional one, or a final ...T"

// param describes an argument parameter of type e (without its name).
func (fs *fileScope) param(e ast.Expr) (Param, error) {
	p := Param{Type: fs.exprString(e)}
	var elem ast.Expr
	switch e := e.(type) {
	case *ast.Ellipsis:
		p.Variadic, p.Slice, elem = true, true, e.Elt
	case *ast.StarExpr:
		p.Optional, elem = true, e.X
		if at, ok := e.X.(*ast.ArrayType); ok && at.Len == nil {
			p.Slice, elem = true, at.Elt
		}
	case *ast.ArrayType:
		if e.Len != nil {
			return p, fmt.Errorf("unsupported type %s (use a slice; %s)", p.Type, argTypes)
		}
		p.Slice, elem = true, e.Elt
	default:
		elem = e
	}
	k, err := fs.kind(elem)
	if err != nil {
		if err == errUnsupported {
			return p, fmt.Errorf("unsupported type %s (%s)", p.Type, argTypes)
		}
		return p, err
	}
	p.Kind, p.Elem = k, fs.exprString(elem)
	return p, nil
}

var (
	errUnsupported = errors.New("unsupported")
	errConnFirst   = errors.New("a *loom.Conn must be the first parameter (a host task's context is c.Context())")
)

// predeclared are Go's predeclared type names that are not argument types.
var predeclared = map[string]bool{
	"any": true, "byte": true, "comparable": true, "complex64": true, "complex128": true,
	"error": true, "float32": true, "int8": true, "int16": true, "int32": true,
	"rune": true, "uint": true, "uint8": true, "uint16": true, "uint32": true,
	"uint64": true, "uintptr": true,
}

// kind classifies the type of one value.
func (fs *fileScope) kind(e ast.Expr) (Kind, error) {
	switch e := e.(type) {
	case *ast.Ident:
		if fs.types[e.Name] {
			return KindText, nil // the package's own type, even if it shadows a predeclared one
		}
		switch e.Name {
		case "string":
			return KindString, nil
		case "int":
			return KindInt, nil
		case "int64":
			return KindInt64, nil
		case "float64":
			return KindFloat64, nil
		case "bool":
			return KindBool, nil
		}
		if predeclared[e.Name] {
			return 0, errUnsupported
		}
		switch {
		case fs.isType(e, "time", "Duration"):
			return KindDuration, nil
		case fs.isType(e, LoomPath, "Conn"):
			return 0, errConnFirst
		case fs.isType(e, "context", "Context"):
			return 0, errors.New("a context.Context must be the first parameter")
		}
		return KindText, nil // a dot-imported type, or one the build will report
	case *ast.SelectorExpr:
		path, ok := fs.pkgOf(e.X)
		if !ok {
			return 0, fmt.Errorf("undefined: %s (package not imported, or imported under another name: name the import)", fs.exprString(e.X))
		}
		switch {
		case path == "time" && e.Sel.Name == "Duration":
			return KindDuration, nil
		case path == LoomPath && e.Sel.Name == "Conn":
			return 0, errConnFirst
		case path == "context" && e.Sel.Name == "Context":
			return 0, errors.New("a context.Context must be the first parameter")
		}
		return KindText, nil
	case *ast.IndexExpr, *ast.IndexListExpr:
		var x ast.Expr
		if ie, ok := e.(*ast.IndexExpr); ok {
			x = ie.X
		} else {
			x = e.(*ast.IndexListExpr).X
		}
		if _, ok := x.(*ast.Ident); ok {
			return KindText, nil
		}
		if sel, ok := x.(*ast.SelectorExpr); ok {
			if _, ok := fs.pkgOf(sel.X); ok {
				return KindText, nil
			}
		}
	case *ast.ParenExpr:
		return fs.kind(e.X)
	case *ast.StarExpr:
		if fs.isConn(e) {
			return 0, errConnFirst
		}
	}
	return 0, errUnsupported
}

// varSpec is a package-level var Default or var Aliases.
type varSpec struct {
	name  *ast.Ident
	value ast.Expr
	fs    *fileScope
}

// ref returns the Go expression naming a function, "Deploy" or
// "DB.Migrate" (from DB.Migrate or (*DB).Migrate), or "" when e is neither
// form.
func (fs *fileScope) ref(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		x := e.X
		if pe, ok := x.(*ast.ParenExpr); ok {
			if st, ok := pe.X.(*ast.StarExpr); ok {
				x = st.X
			}
		}
		if id, ok := x.(*ast.Ident); ok && fs.namespaces[id.Name] {
			return id.Name + "." + e.Sel.Name
		}
	case *ast.ParenExpr:
		return fs.ref(e.X)
	}
	return ""
}

// lookup finds the task a reference names.
func lookup(info *Info, ref string) *Task {
	for _, t := range info.Tasks {
		if t.Func == ref {
			return t
		}
	}
	return nil
}

// task resolves var Default.
func (v *varSpec) task(info *Info, example string) (*Task, error) {
	if v.value == nil {
		return nil, fmt.Errorf("%s: var %s needs a value naming a task: %s", v.fs.pos(v.name.Pos()), v.name.Name, example)
	}
	ref := v.fs.ref(v.value)
	if ref == "" {
		return nil, fmt.Errorf("%s: var %s must name a task function, as in %s", v.fs.pos(v.value.Pos()), v.name.Name, example)
	}
	t := lookup(info, ref)
	if t == nil {
		return nil, fmt.Errorf("%s: var %s: %s is not a task", v.fs.pos(v.value.Pos()), v.name.Name, ref)
	}
	return t, nil
}

// aliases resolves var Aliases into info.Aliases.
func (v *varSpec) aliases(info *Info, tasks map[string]*Task) error {
	const example = `var Aliases = map[string]any{"d": Deploy}`
	lit, ok := v.value.(*ast.CompositeLit)
	if ok {
		mt, isMap := lit.Type.(*ast.MapType)
		ok = isMap
		if ok {
			id, isIdent := mt.Key.(*ast.Ident)
			ok = isIdent && id.Name == "string"
		}
	}
	if !ok {
		at := v.name.Pos()
		if v.value != nil {
			at = v.value.Pos()
		}
		return fmt.Errorf("%s: var Aliases must be a map literal, as in %s", v.fs.pos(at), example)
	}
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		var name string
		if ok {
			bl, isLit := kv.Key.(*ast.BasicLit)
			ok = isLit && bl.Kind == token.STRING
			if ok {
				name, _ = strconv.Unquote(bl.Value)
			}
		}
		if !ok {
			return fmt.Errorf("%s: Aliases: each entry is \"alias\": Task, as in %s", v.fs.pos(el.Pos()), example)
		}
		at := v.fs.pos(kv.Key.Pos())
		if name == "" || strings.HasPrefix(name, "-") || strings.ContainsFunc(name, isSpaceOrControl) {
			return fmt.Errorf("%s: Aliases: alias %q: an alias is one word and does not start with -", at, name)
		}
		ref := v.fs.ref(kv.Value)
		if ref == "" {
			return fmt.Errorf("%s: Aliases: alias %q must name a task function, as in %s", at, name, example)
		}
		t := lookup(info, ref)
		if t == nil {
			return fmt.Errorf("%s: Aliases: alias %q: %s is not a task", at, name, ref)
		}
		k := key(name)
		if o := tasks[k]; o != nil {
			return fmt.Errorf("%s: Aliases: alias %q is already the name of task %s", at, name, o.Name)
		}
		if sub := subcommand(name); sub != "" {
			return fmt.Errorf("%s: Aliases: alias %q is taken by `loom %s`: choose another", at, name, sub)
		}
		lower := strings.ToLower(name)
		for a := range info.Aliases {
			if key(a) == k {
				return fmt.Errorf("%s: Aliases: alias %q is given twice", at, name)
			}
		}
		info.Aliases[lower] = t.Name
	}
	return nil
}

// escapeControls writes control characters as Go escapes (\n, \x00), so a
// message quoting source text stays on one line.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fieldTypes lists the types of a field list, one per name (a, b int is two).
func fieldTypes(fl *ast.FieldList) []ast.Expr {
	var ts []ast.Expr
	for _, f := range fl.List {
		n := max(1, len(f.Names))
		for range n {
			ts = append(ts, f.Type)
		}
	}
	return ts
}
