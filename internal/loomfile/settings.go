package loomfile

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"math"
	"strconv"
	"strings"
	"time"
)

// Settings are a task's settings as the loomfile gives them, read from
// the syntax of a statement of a func init:
//
//	func init() {
//		loom.Task(Deploy, loom.OnRoles("web"), loom.Parallel(5), loom.Batches(loom.Percent(25)),
//			loom.ArgDefault("wait", "30s"))
//	}
//
// Only literal arguments can be read without compiling: an option whose
// arguments are anything else (a variable, a call, a constant's name), an
// option that is not a call of a loom function, and a loom function the
// parser does not know set InCode, and the compiled program knows the
// rest. The command line's flags (-H, -R, -P, --batch, --max-fail,
// --fail-fast) win over these.
type Settings struct {
	// Hosts are the hosts of loom.OnHosts("a", "b"), and Roles the
	// inventory roles of loom.OnRoles("web"): where the task runs when
	// the command line names no hosts. Several calls add up.
	Hosts, Roles []string
	// Parallel is how many hosts the task works on at once: n of
	// loom.Parallel(n), 1 for loom.Serial(), 0 when unset.
	Parallel int
	// Batch is the sizes of the rolling batches of loom.Batches, MaxFail
	// the failure threshold of loom.MaxFailures and MaxFailBatch that of
	// loom.MaxFailuresPerBatch, as --batch, --max-fail and
	// --max-fail-batch take them: "3" for loom.Count(3), "25%" for
	// loom.Percent(25), "1,5,25%" for a ramp of three sizes; "" when
	// unset.
	Batch, MaxFail, MaxFailBatch string
	// Pause is the wait between batches of loom.Pause, as --pause takes
	// it ("30s"); "" when unset.
	Pause string
	// FailFast reports loom.FailFast(): at the first failure, no new host
	// is started and the running ones are interrupted.
	FailFast bool
	// Once reports loom.Once(): the host task runs on one host only, the
	// first of those selected.
	Once bool
	// ForwardAgent reports loom.ForwardAgent(): the hosts get your agent,
	// as with -A.
	ForwardAgent bool
	// InCode reports settings the parser could not read (see above): the
	// other fields are what the source says literally, and the compiled
	// program may set more, or other values.
	InCode bool
	// Pos is where the loom.Task call is: "file:line", like Task.Pos. It
	// is "" when the task has no settings.
	Pos string
}

// taskCall is a loom.Task call found in a func init.
type taskCall struct {
	fs   *fileScope
	call *ast.CallExpr
}

// taskCalls returns the loom.Task calls that are statements of d's body
// when d is a func init. Calls elsewhere are not read.
func (fs *fileScope) taskCalls(d *ast.FuncDecl) []taskCall {
	if d.Recv != nil || d.Name.Name != "init" || d.Body == nil {
		return nil
	}
	var calls []taskCall
	for _, st := range d.Body.List {
		es, ok := st.(*ast.ExprStmt)
		if !ok {
			continue
		}
		call, ok := es.X.(*ast.CallExpr)
		if !ok {
			continue
		}
		if name, ok := fs.loomFunc(call.Fun); ok && name == "Task" {
			calls = append(calls, taskCall{fs, call})
		}
	}
	return calls
}

// strayTaskCall reports a loom.Task call that is not one of read, the
// statements of a func init: the compiled program would apply settings
// that loom -h does not show, and argument defaults that Bind does not
// know.
func strayTaskCall(files []*ast.File, scopes []*fileScope, read []taskCall) error {
	ok := make(map[*ast.CallExpr]bool, len(read))
	for _, c := range read {
		ok[c.call] = true
	}
	var err error
	for i, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, isCall := n.(*ast.CallExpr)
			if err != nil || !isCall || ok[call] {
				return err == nil
			}
			if name, isLoom := scopes[i].loomFunc(call.Fun); isLoom && name == "Task" {
				err = fmt.Errorf("%s: loom.Task is read only as a statement of a func init, outside any block (loom reads it without compiling): move it there", scopes[i].pos(call.Pos()))
			}
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// loomFunc returns the name of the loom function e names: "Task" for
// loom.Task (whatever the import's local name), or for Task when loom is
// dot-imported and the package declares no Task of its own.
func (fs *fileScope) loomFunc(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if path, ok := fs.pkgOf(e.X); ok && path == LoomPath {
			return e.Sel.Name, true
		}
	case *ast.Ident:
		if fs.dots[LoomPath] && !fs.names[e.Name] && !fs.types[e.Name] {
			return e.Name, true
		}
	case *ast.ParenExpr:
		return fs.loomFunc(e.X)
	}
	return "", false
}

const (
	taskExample  = `loom.Task(Deploy, loom.OnRoles("web"))`
	readsLiteral = "(loom reads it without compiling)"
)

// options is the one table of loom.Task's options, by name: every exported
// function of package loom that returns a loom.Option is here (a test
// checks it), and option reads each. hostOnly options make sense for a host
// task only.
var options = map[string]struct{ hostOnly bool }{
	"OnHosts": {true}, "OnRoles": {true}, "Parallel": {true}, "Serial": {true},
	"Batches": {true}, "Pause": {true}, "MaxFailures": {true}, "MaxFailuresPerBatch": {true},
	"FailFast": {true}, "Once": {true}, "ForwardAgent": {true}, "ArgDefault": {false},
}

// settings reads one loom.Task call into the settings of the task it
// names, and the argument defaults it gives into the task's Params.
func (fs *fileScope) settings(info *Info, call *ast.CallExpr) error {
	at := fs.pos(call.Pos())
	if len(call.Args) == 0 {
		return fmt.Errorf("%s: loom.Task needs the task first, as in %s", at, taskExample)
	}
	ref := fs.ref(call.Args[0])
	if ref == "" || len(call.Args) == 1 && call.Ellipsis.IsValid() {
		return fmt.Errorf("%s: loom.Task must name a task function first, as in %s", at, taskExample)
	}
	t := lookup(info, ref)
	switch {
	case t == nil && fs.funcs[ref]:
		return fmt.Errorf("%s: loom.Task: %s is not a task (a task is an exported function taking a *loom.Conn, a context.Context or nothing first, returning nothing or an error)", at, ref)
	case t == nil:
		return fmt.Errorf("%s: loom.Task: %s is not a task (the loomfiles declare no function %s)", at, ref, ref)
	case t.Settings.Pos != "":
		return fmt.Errorf("%s: loom.Task: %s already has settings (%s): give them in one loom.Task call", at, ref, t.Settings.Pos)
	}
	s := Settings{Pos: at}
	opts := call.Args[1:]
	if call.Ellipsis.IsValid() {
		// loom.Task(Deploy, opts...): a slice made in code.
		opts = opts[:len(opts)-1]
		s.InCode = true
	}
	for _, o := range opts {
		if err := fs.option(t, &s, o); err != nil {
			return err
		}
	}
	t.Settings = s
	return nil
}

// option reads one option of a loom.Task call into s.
func (fs *fileScope) option(t *Task, s *Settings, e ast.Expr) error {
	call, ok := e.(*ast.CallExpr)
	var name string
	if ok {
		name, ok = fs.loomFunc(call.Fun)
	}
	if !ok {
		s.InCode = true // a variable, or a function of the loomfile's
		return nil
	}
	at := fs.pos(call.Pos())
	if options[name].hostOnly && t.Kind == Local {
		return fmt.Errorf("%s: loom.%s: %s is a local task: it runs once on this machine; open groups inside it with loom.NewGroup", at, name, t.Func)
	}
	args := call.Args
	if call.Ellipsis.IsValid() {
		if name == "ArgDefault" {
			return fmt.Errorf("%s: loom.ArgDefault: the name must be a string literal %s", at, readsLiteral)
		}
		s.InCode = true
		args = args[:len(args)-1]
	}
	switch name {
	case "OnHosts", "OnRoles":
		list := &s.Hosts
		if name == "OnRoles" {
			list = &s.Roles
		}
		for _, a := range args {
			if v, ok := literal(a); ok && v.Kind() == constant.String {
				*list = append(*list, constant.StringVal(v))
			} else {
				s.InCode = true
			}
		}
	case "Parallel":
		s.Parallel = 0 // the last one counts, and this one may be unreadable
		if len(args) != 1 {
			s.InCode = true
			break
		}
		v, ok := intLit(args[0])
		if !ok {
			s.InCode = true
			break
		}
		if constant.Sign(v) < 1 {
			return fmt.Errorf("%s: loom.Parallel(%s): a task works on at least 1 host at a time", at, oneLine(fs.exprString(args[0])))
		}
		n, exact := constant.Int64Val(v)
		if !exact || n > int64(^uint(0)>>1) {
			s.InCode = true
			break
		}
		s.Parallel = int(n)
	case "Serial":
		s.Parallel = 1
		if len(args) > 0 {
			s.InCode = true
		}
	case "Batches":
		s.Batch = ""
		if len(args) == 0 {
			s.InCode = true
			break
		}
		var sizes []string
		for _, a := range args {
			l, err := fs.limit(a)
			if err != nil {
				return fmt.Errorf("%s: loom.%s: %v", at, name, err)
			}
			if l == "0" {
				return fmt.Errorf("%s: loom.Batches: loom.Count(0): a batch has at least 1 host", at)
			}
			if l == "" {
				s.InCode = true
				sizes = nil
				break
			}
			sizes = append(sizes, l)
		}
		s.Batch = strings.Join(sizes, ",")
	case "MaxFailures", "MaxFailuresPerBatch":
		field := &s.MaxFail
		if name == "MaxFailuresPerBatch" {
			field = &s.MaxFailBatch
		}
		*field = ""
		if len(args) != 1 {
			s.InCode = true
			break
		}
		l, err := fs.limit(args[0])
		if err != nil {
			return fmt.Errorf("%s: loom.%s: %v", at, name, err)
		}
		if l == "" {
			s.InCode = true
		}
		*field = l
	case "Pause":
		s.Pause = ""
		if len(args) != 1 {
			s.InCode = true
			break
		}
		d, ok := fs.duration(args[0])
		if !ok {
			s.InCode = true
			break
		}
		if d <= 0 {
			return fmt.Errorf("%s: loom.Pause(%s): a pause is a positive duration", at, oneLine(fs.exprString(args[0])))
		}
		s.Pause = d.String()
	case "FailFast", "Once", "ForwardAgent":
		switch name {
		case "FailFast":
			s.FailFast = true
		case "Once":
			s.Once = true
		default:
			s.ForwardAgent = true
		}
		if len(args) > 0 {
			s.InCode = true
		}
	case "ArgDefault":
		return fs.argDefault(t, call)
	default:
		s.InCode = true // an option this parser does not know yet
	}
	return nil
}

// limit reads loom.Count(n) or loom.Percent(p) as --batch takes it, "3" or
// "25%". It returns "" for anything else, and an error for a literal out
// of range.
func (fs *fileScope) limit(e ast.Expr) (string, error) {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 || call.Ellipsis.IsValid() {
		return "", nil
	}
	name, ok := fs.loomFunc(call.Fun)
	if !ok {
		return "", nil
	}
	arg := call.Args[0]
	switch name {
	case "Count":
		v, ok := intLit(arg)
		if !ok {
			return "", nil
		}
		if constant.Sign(v) < 0 {
			return "", fmt.Errorf("loom.Count(%s): a count is 0 or more", oneLine(fs.exprString(arg)))
		}
		n, exact := constant.Int64Val(v)
		if !exact || n > int64(^uint(0)>>1) {
			return "", nil
		}
		return strconv.FormatInt(n, 10), nil
	case "Percent":
		v, ok := literal(arg)
		if ok {
			v = constant.ToFloat(v)
		}
		if !ok || v.Kind() != constant.Float {
			return "", nil
		}
		if constant.Sign(v) <= 0 || constant.Compare(v, token.GTR, constant.MakeInt64(100)) {
			return "", fmt.Errorf("loom.Percent(%s): a percentage is more than 0 and at most 100", oneLine(fs.exprString(arg)))
		}
		f, _ := constant.Float64Val(v)
		return strconv.FormatFloat(f, 'f', -1, 64) + "%", nil
	}
	return "", nil
}

// timeUnits are package time's Duration constants.
var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

// duration reads a literal duration as loomfiles write one: time.Second,
// 30 * time.Second, time.Minute * 2, 1500 * time.Millisecond. Anything
// else is not read (ok false).
func (fs *fileScope) duration(e ast.Expr) (time.Duration, bool) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return fs.duration(e.X)
	case *ast.SelectorExpr:
		if path, ok := fs.pkgOf(e.X); ok && path == "time" {
			d, ok := timeUnits[e.Sel.Name]
			return d, ok
		}
	case *ast.BinaryExpr:
		if e.Op != token.MUL {
			break
		}
		n, unit := e.X, e.Y
		if _, isNum := intLit(unit); isNum {
			n, unit = unit, n
		}
		v, ok := intLit(n)
		if !ok {
			break
		}
		u, ok := fs.duration(unit)
		k, exact := constant.Int64Val(v)
		if !ok || !exact || k > int64(math.MaxInt64/u) || k < -int64(math.MaxInt64/u) {
			break
		}
		return time.Duration(k) * u, true
	}
	return 0, false
}

// argDefault reads loom.ArgDefault("name", "value") into the parameter it
// names. Unlike the other options it must be literal: whether an argument
// is required depends on it.
func (fs *fileScope) argDefault(t *Task, call *ast.CallExpr) error {
	at := fs.pos(call.Pos())
	if len(call.Args) != 2 {
		return fmt.Errorf(`%s: loom.ArgDefault takes the argument's name and its default, as in loom.ArgDefault("wait", "30s")`, at)
	}
	name, ok := stringLit(call.Args[0])
	if !ok {
		return fmt.Errorf("%s: loom.ArgDefault: the name must be a string literal %s", at, readsLiteral)
	}
	value, ok := stringLit(call.Args[1])
	if !ok {
		return fmt.Errorf("%s: loom.ArgDefault: the value must be a string literal %s", at, readsLiteral)
	}
	pi := t.param(name)
	if pi < 0 {
		switch s := suggestParam(t, name); {
		case len(t.Params) == 0:
			return fmt.Errorf("%s: loom.ArgDefault: %s has no argument %s (it takes none)", at, t.Func, word(name))
		case s != nil:
			return fmt.Errorf("%s: loom.ArgDefault: %s has no argument %s (did you mean %s?)", at, t.Func, word(name), s.Name)
		}
		names := make([]string, len(t.Params))
		for i := range t.Params {
			names[i] = t.Params[i].Name
		}
		return fmt.Errorf("%s: loom.ArgDefault: %s has no argument %s (it takes %s)", at, t.Func, word(name), strings.Join(names, ", "))
	}
	p := &t.Params[pi]
	switch {
	case p.Variadic:
		return fmt.Errorf("%s: loom.ArgDefault: %s: %s is variadic (%s): it takes the remaining words and cannot have a default", at, t.Func, p.Name, oneLine(p.Type))
	case p.Optional:
		return fmt.Errorf("%s: loom.ArgDefault: %s: %s is a pointer (%s), so it is already optional, and nil when left out: drop the * to give it a default", at, t.Func, p.Name, oneLine(p.Type))
	case p.HasDefault:
		return fmt.Errorf("%s: loom.ArgDefault: %s: %s is given a default twice", at, t.Func, p.Name)
	}
	if _, msg := parseWords(p, value, p.Slice); msg != "" {
		return fmt.Errorf("%s: loom.ArgDefault: %s: %s=%s: %s", at, t.Func, p.Flag(), strconv.Quote(value), msg)
	}
	p.HasDefault, p.Default = true, value
	return nil
}

// literal returns the value of a basic literal, possibly signed and in
// parentheses: "web", 5, -1, 2.5. Anything else is not read.
func literal(e ast.Expr) (constant.Value, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		v := constant.MakeFromLiteral(e.Value, e.Kind, 0)
		return v, v.Kind() != constant.Unknown
	case *ast.ParenExpr:
		return literal(e.X)
	case *ast.UnaryExpr:
		if e.Op != token.SUB && e.Op != token.ADD {
			break
		}
		if v, ok := literal(e.X); ok && (v.Kind() == constant.Int || v.Kind() == constant.Float) {
			return constant.UnaryOp(e.Op, v, 0), true
		}
	}
	return nil, false
}

// intLit returns the value of a literal that is an integer: 5, -1, 2.0.
func intLit(e ast.Expr) (constant.Value, bool) {
	v, ok := literal(e)
	if !ok || v.Kind() != constant.Int && v.Kind() != constant.Float {
		return nil, false
	}
	v = constant.ToInt(v)
	return v, v.Kind() == constant.Int
}

// stringLit returns the value of a string literal.
func stringLit(e ast.Expr) (string, bool) {
	v, ok := literal(e)
	if !ok || v.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(v), true
}

// settingsLine describes a task's settings for its help, or returns "".
func (t *Task) settingsLine() string {
	s := &t.Settings
	var parts []string
	if len(s.Roles) > 0 {
		parts = append(parts, "roles "+strings.Join(s.Roles, ", "))
	}
	if len(s.Hosts) > 0 {
		parts = append(parts, "hosts "+strings.Join(s.Hosts, ", "))
	}
	switch {
	case s.Parallel == 1:
		parts = append(parts, "one host at a time")
	case s.Parallel > 1:
		parts = append(parts, strconv.Itoa(s.Parallel)+" hosts at a time")
	}
	if s.Batch != "" {
		parts = append(parts, "in batches of "+s.Batch)
	}
	if s.Pause != "" {
		parts = append(parts, "pausing "+s.Pause+" between batches")
	}
	if s.MaxFail != "" {
		parts = append(parts, "stops after more than "+s.MaxFail+" failed")
	}
	if s.MaxFailBatch != "" {
		parts = append(parts, "stops after more than "+s.MaxFailBatch+" of a batch failed")
	}
	if s.FailFast {
		parts = append(parts, "fail-fast")
	}
	if s.Once {
		parts = append(parts, "once (one host)")
	}
	if s.ForwardAgent {
		parts = append(parts, "your agent forwarded")
	}
	switch {
	case len(parts) > 0 && s.InCode:
		return oneLine("Runs on: " + strings.Join(parts, "; ") + " (and settings made in code).")
	case len(parts) > 0:
		return oneLine("Runs on: " + strings.Join(parts, "; ") + ".")
	case s.InCode:
		return "Some settings are made in code."
	}
	return ""
}

// targets is the short form of a host task's default hosts and roles in
// List, as the flags that would select them: "-R web", "-H a,b"; "" for
// none. A long one is cut.
func (t *Task) targets() string {
	if t.Kind != Host {
		return ""
	}
	var fl []string
	if len(t.Settings.Roles) > 0 {
		fl = append(fl, "-R "+strings.Join(t.Settings.Roles, ","))
	}
	if len(t.Settings.Hosts) > 0 {
		fl = append(fl, "-H "+strings.Join(t.Settings.Hosts, ","))
	}
	s := []rune(oneLine(strings.Join(fl, " ")))
	const max = 24
	if len(s) > max {
		return string(s[:max-1]) + "…"
	}
	return string(s)
}
