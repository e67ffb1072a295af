package taskrt

import (
	"context"
	"fmt"
	"reflect"
	"sync"
)

var errorType = reflect.TypeFor[error]()

// Bind checks that fn is a task taking a value of type first and then args
// (a method expression of a namespace, DB.Migrate or (*DB).Migrate, takes a
// zero receiver before them), returning nothing, an error, or a value and
// an error; what names fn's caller in messages ("loom.Execute"). It returns
// a function calling fn with first, which returns fn's value (the zero
// Value when fn returns none) and error.
func Bind(what string, fn any, first reflect.Type, args []any) (func(first reflect.Value) (reflect.Value, error), error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%s: %T is not a function", what, fn)
	}
	t := v.Type()
	name := FuncName(fn)
	var recv []reflect.Value
	if t.NumIn() >= 2 && t.In(1) == first {
		switch rt := t.In(0); {
		case rt.Kind() == reflect.Struct:
			recv = []reflect.Value{reflect.Zero(rt)}
		case rt.Kind() == reflect.Pointer && rt.Elem().Kind() == reflect.Struct:
			recv = []reflect.Value{reflect.New(rt.Elem())}
		}
	}
	skip := len(recv)
	if t.NumIn() <= skip || t.In(skip) != first {
		return nil, fmt.Errorf("%s: %s is not a host task (its first parameter must be a %s)", what, name, first)
	}
	switch {
	case t.NumOut() == 0:
	case t.NumOut() == 1 && t.Out(0) == errorType:
	case t.NumOut() == 2 && t.Out(1) == errorType:
	default:
		return nil, fmt.Errorf("%s: %s must return nothing, an error, or a value and an error", what, name)
	}
	params := t.NumIn() - skip - 1
	variadic := t.IsVariadic()
	if variadic && len(args) < params-1 || !variadic && len(args) != params {
		return nil, fmt.Errorf("%s: %s takes %d arguments after the %s, got %d", what, name, params, first, len(args))
	}
	in := append(append([]reflect.Value(nil), recv...), reflect.Value{})
	for i, a := range args {
		var want reflect.Type
		if variadic && i >= params-1 {
			want = t.In(t.NumIn() - 1).Elem()
		} else {
			want = t.In(skip + 1 + i)
		}
		av := reflect.ValueOf(a)
		if a == nil {
			switch want.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
				av = reflect.Zero(want)
			default:
				return nil, fmt.Errorf("%s: %s: argument %d is nil, want %s", what, name, i+1, want)
			}
		} else if !av.Type().AssignableTo(want) {
			return nil, fmt.Errorf("%s: %s: argument %d is a %s, want %s", what, name, i+1, av.Type(), want)
		}
		in = append(in, av)
	}
	return func(arg reflect.Value) (reflect.Value, error) {
		call := append([]reflect.Value(nil), in...)
		call[skip] = arg
		out := v.Call(call)
		var val reflect.Value
		if len(out) == 2 {
			val, out = out[0], out[1:]
		}
		if len(out) == 1 && !out[0].IsNil() {
			return val, out[0].Interface().(error)
		}
		return val, nil
	}, nil
}

// dep is one dependency's run: done is closed when it has finished.
type dep struct {
	done chan struct{}
	err  error
}

var deps struct {
	mu sync.Mutex
	m  map[string]*dep
}

// RunDep runs the local task fn (func(), func() error, func(context.Context)
// or func(context.Context) error) unless it ran already in this process,
// and returns its error; callers asking while it runs wait for it (or for
// their ctx). A panic is its error. hostTask says whether a function type is
// a host task, for a clear error.
func RunDep(ctx context.Context, fn any, hostTask func(reflect.Type) bool) error {
	var call func(context.Context) error
	switch f := fn.(type) {
	case func():
		call = func(context.Context) error { f(); return nil }
	case func() error:
		call = func(context.Context) error { return f() }
	case func(context.Context):
		call = func(ctx context.Context) error { f(ctx); return nil }
	case func(context.Context) error:
		call = f
	default:
		if t := reflect.TypeOf(fn); t != nil && t.Kind() == reflect.Func && hostTask(t) {
			return fmt.Errorf("loom.Deps: %s is a host task: call it directly, or run it with loom.Execute", FuncName(fn))
		}
		return fmt.Errorf("loom.Deps: %s: want a func(), func() error, func(context.Context) or func(context.Context) error, got %T", FuncName(fn), fn)
	}
	k, _ := FuncKey(fn)
	deps.mu.Lock()
	if deps.m == nil {
		deps.m = map[string]*dep{}
	}
	d, ran := deps.m[k]
	if !ran {
		d = &dep{done: make(chan struct{})}
		deps.m[k] = d
	}
	deps.mu.Unlock()
	if !ran {
		func() {
			defer close(d.done)
			defer func() {
				if p := recover(); p != nil {
					d.err = fmt.Errorf("%s: panic: %v", FuncName(fn), p)
				}
			}()
			d.err = call(ctx)
		}()
		return d.err
	}
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
