package cli

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/loomfile"
	"github.com/loomssh/loom/internal/taskrt"
)

// TaskFunc is one task of a compiled loomfile: its name on the command
// line and its Go function.
type TaskFunc struct {
	Name string
	Func any
}

// program is a compiled loomfile: what the parser learnt of it, and its
// functions by task name.
type program struct {
	name  string // the program's name, for its help and messages
	info  *loomfile.Info
	funcs map[string]reflect.Value
}

// newProgram checks a compiled loomfile's functions against what the
// parser found when the program was generated: every task has its
// function, of the shape the parser saw, and every named argument type
// can be decoded from text. An error names the task's file:line.
func newProgram(infoJSON string, funcs []TaskFunc) (*program, error) {
	info := new(loomfile.Info)
	if err := json.Unmarshal([]byte(infoJSON), info); err != nil {
		return nil, fmt.Errorf("the compiled loomfile's task table is damaged: %v (rebuild it)", err)
	}
	p := &program{name: filepath.Base(os.Args[0]), info: info, funcs: map[string]reflect.Value{}}
	for _, f := range funcs {
		p.funcs[f.Name] = reflect.ValueOf(f.Func)
	}
	var errs []error
	for _, t := range info.Tasks {
		fn, ok := p.funcs[t.Name]
		if !ok || fn.Kind() != reflect.Func {
			errs = append(errs, fmt.Errorf("%s: %s: not in the compiled program (rebuild it)", t.Pos, t.Func))
			continue
		}
		if err := checkFunc(t, fn.Type()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %v", t.Pos, t.Func, err))
		}
	}
	if err := taskrt.Errors(); err != nil {
		errs = append(errs, err)
	}
	return p, errors.Join(errs...)
}

var (
	connType    = reflect.TypeFor[*loom.Conn]()
	contextType = reflect.TypeFor[context.Context]()
	unmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// argOffset is the number of parameters before t's arguments.
func argOffset(t *loomfile.Task) int {
	if t.Kind == loomfile.Host || t.TakesContext {
		return 1
	}
	return 0
}

// checkFunc reports how ft differs from what the parser saw of task t.
func checkFunc(t *loomfile.Task, ft reflect.Type) error {
	off := argOffset(t)
	if ft.NumIn() != off+len(t.Params) {
		return fmt.Errorf("has %d parameters, the parser saw %d", ft.NumIn(), off+len(t.Params))
	}
	if t.Kind == loomfile.Host && ft.In(0) != connType || t.TakesContext && ft.In(0) != contextType {
		return errors.New("its first parameter is not what the parser saw")
	}
	for i := range t.Params {
		p := &t.Params[i]
		pt := ft.In(off + i)
		if p.Kind != loomfile.KindText {
			continue
		}
		et := pt
		for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
			et = et.Elem()
		}
		if !reflect.PointerTo(et).Implements(unmarshaler) && et.Kind() != reflect.String {
			return fmt.Errorf("parameter %s: %s does not implement encoding.TextUnmarshaler (give it an UnmarshalText method, or use a string)", p.Name, et)
		}
	}
	return nil
}

// args converts bound values to the Go types of fn's parameters (after
// its *loom.Conn or context.Context), decoding named types from text.
func (p *program) args(t *loomfile.Task, vals []loomfile.Value) ([]reflect.Value, error) {
	ft := p.funcs[t.Name].Type()
	off := argOffset(t)
	out := make([]reflect.Value, len(vals))
	for i, v := range vals {
		pt := ft.In(off + i)
		rv, err := convert(v.Parsed, pt)
		if err != nil {
			as := v.Param.Flag()
			if v.Given && !v.Param.Optional && !v.Param.HasDefault {
				as = v.Param.Metavar()
			}
			return nil, fmt.Errorf("%s: %s=%s: %v", t.Name, as, strconv.Quote(v.Raw), err)
		}
		out[i] = rv
	}
	return out, nil
}

// convert makes a value of type pt from a bound value: as is when the
// types agree, else by decoding text (a string, []string, *string or
// *[]string) into pt's named type.
func convert(v any, pt reflect.Type) (reflect.Value, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return reflect.Zero(pt), nil
	}
	if rv.Type().AssignableTo(pt) {
		return rv, nil
	}
	switch rv.Kind() {
	case reflect.String:
		return decodeText(rv.String(), pt)
	case reflect.Slice:
		if pt.Kind() != reflect.Slice {
			break
		}
		if rv.IsNil() {
			return reflect.Zero(pt), nil
		}
		s := reflect.MakeSlice(pt, rv.Len(), rv.Len())
		for i := range rv.Len() {
			e, err := convert(rv.Index(i).Interface(), pt.Elem())
			if err != nil {
				return reflect.Value{}, err
			}
			s.Index(i).Set(e)
		}
		return s, nil
	case reflect.Pointer:
		if pt.Kind() != reflect.Pointer {
			break
		}
		if rv.IsNil() {
			return reflect.Zero(pt), nil
		}
		e, err := convert(rv.Elem().Interface(), pt.Elem())
		if err != nil {
			return reflect.Value{}, err
		}
		ptr := reflect.New(pt.Elem())
		ptr.Elem().Set(e)
		return ptr, nil
	}
	return reflect.Value{}, fmt.Errorf("cannot make a %s from a %s", pt, rv.Type())
}

// decodeText makes a value of the named type t from text, with its
// UnmarshalText method, or by conversion when t is a string type.
func decodeText(s string, t reflect.Type) (reflect.Value, error) {
	ptr := reflect.New(t)
	if u, ok := ptr.Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return reflect.Value{}, err
		}
		return ptr.Elem(), nil
	}
	if t.Kind() == reflect.String {
		return reflect.ValueOf(s).Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("%s does not implement encoding.TextUnmarshaler", t)
}

// call calls task t's function with its first parameter (a Conn, a
// context, or nothing) and its arguments; a panic becomes an error.
func (p *program) call(t *loomfile.Task, first reflect.Value, args []reflect.Value) error {
	_, err := p.callValue(t, first, args)
	return err
}

// callValue calls the task and returns its value too (the zero Value when
// it returns none).
func (p *program) callValue(t *loomfile.Task, first reflect.Value, args []reflect.Value) (val reflect.Value, err error) {
	fn := p.funcs[t.Name]
	in := args
	if first.IsValid() {
		in = append([]reflect.Value{first}, args...)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	var out []reflect.Value
	if fn.Type().IsVariadic() {
		out = fn.CallSlice(in)
	} else {
		out = fn.Call(in)
	}
	if len(out) == 2 {
		val, out = out[0], out[1:]
	}
	if len(out) == 1 && !out[0].IsNil() {
		return val, out[0].Interface().(error)
	}
	return val, nil
}

// describe is how a task call is shown: "deploy v2 --dry-run".
func describe(t *loomfile.Task, vals []loomfile.Value) string {
	parts := []string{t.Name}
	for _, v := range vals {
		if !v.Given {
			continue
		}
		if v.Param.Optional || v.Param.HasDefault {
			parts = append(parts, v.Param.Flag()+"="+v.Raw)
		} else {
			parts = append(parts, v.Raw)
		}
	}
	return strings.Join(parts, " ")
}
