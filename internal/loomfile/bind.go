package loomfile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Value is one argument of a task, bound from the command line.
type Value struct {
	// Param is the parameter the value is for (an element of the task's
	// Params).
	Param *Param
	// Given reports that the command line gave the argument; it is false
	// for an argument left out, even when its default is used.
	Given bool
	// Raw is the text as given; the words of a list given several times
	// (or of a variadic argument) are joined with commas. It is the
	// parameter's Default when that is used, and "" for an argument left
	// out without a default.
	Raw string
	// Parsed is the value, of the parameter's Go type: string, int,
	// int64, float64, bool or time.Duration; []T for a slice or variadic
	// (nil when a variadic argument got no words); *T or *[]T for an
	// optional argument, a nil *T or *[]T when left out; the default's
	// value for an argument with a default, left out. A text (named)
	// type is still text here — string, []string, *string or *[]string —
	// and is decoded by the compiled task program with UnmarshalText.
	Parsed any
}

// Bind binds a task's arguments from the words after its name and returns
// one Value per parameter, in order, and the words left over for the next
// task. It never looks at the user's code.
//
// The rules:
//
//   - A word starting with -- is a named argument, --name=value; the name is
//     the parameter's, compared ignoring case, hyphens and underscores
//     (--dry-run, --dryrun and --dry_run are one). --name value (two words)
//     works too unless the value starts with --. A bool (or *bool) may be
//     given as --name alone, meaning true. Every parameter can be named.
//   - Any other word is positional. Positional words fill the required
//     parameters (not a pointer, not variadic, without a default) in
//     order, skipping those already given by name; after them, a final
//     ...T takes every further positional word, one value per word.
//     Optional (pointer) parameters and parameters with a default
//     (Param.HasDefault, from loom.ArgDefault) are never positional.
//   - A parameter with a default that is not given gets its Default,
//     parsed exactly as if --name=Default had been typed, with Given
//     false.
//   - The first positional word with no parameter left to take it ends the
//     task's arguments: it and the words after it are returned as rest, for
//     the next task. So "loom build deploy v2" runs build with no
//     arguments, then deploy with v2, and "loom deploy build" passes
//     "build" as deploy's VERSION: words are taken up to the task's arity,
//     whatever they look like. A lone -- also ends the task's arguments (and
//     is dropped), which is how a task with a ...T argument is followed by
//     another.
//   - Values: an int or int64 is decimal; a float64 is any Go float; a bool
//     is true, false, 1 or 0 (any case); a duration is Go's (90s, 1h30m); a
//     slice is a comma-separated list, and a slice named several times
//     (--tag=a --tag=b,c) collects them all. A slice cannot hold a value
//     containing a comma; a variadic argument can.
//   - A non-slice argument given twice, a missing required argument, an
//     unknown name or a bad value is an error of one line naming the task
//     and the argument: `deploy: missing argument VERSION`,
//     `deploy: --count="x": not an int`.
//
// rest shares args' backing array.
func Bind(t *Task, args []string) (values []Value, rest []string, err error) {
	n := len(t.Params)
	given := make([]bool, n)
	raws := make([][]string, n)
	items := make([][]any, n)
	variadic := -1
	if n > 0 && t.Params[n-1].Variadic {
		variadic = n - 1
	}

	// set records raw as a value of parameter i; as is how the error
	// names the argument (--count, or COUNT when positional).
	set := func(i int, raw, as string, split bool) error {
		p := &t.Params[i]
		if given[i] && !p.Slice {
			return fmt.Errorf("%s: %s given twice", t.Name, p.Flag())
		}
		given[i] = true
		raws[i] = append(raws[i], raw)
		xs, msg := parseWords(p, raw, split)
		if msg != "" {
			return fmt.Errorf("%s: %s=%s: %s", t.Name, as, strconv.Quote(raw), msg)
		}
		items[i] = append(items[i], xs...)
		return nil
	}

	i := 0
args:
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			i++
			break args
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			pi := t.param(name)
			if pi < 0 {
				return nil, nil, unknownFlag(t, "--"+name)
			}
			p := &t.Params[pi]
			if !hasVal {
				switch {
				case p.Kind == KindBool && !p.Slice:
					val = "true"
				case i+1 < len(args) && !strings.HasPrefix(args[i+1], "--"):
					i++
					val = args[i]
				default:
					return nil, nil, fmt.Errorf("%s: %s needs a value (%s=%s)", t.Name, p.Flag(), p.Flag(), valueHint(p))
				}
			}
			if err := set(pi, val, p.Flag(), p.Slice); err != nil {
				return nil, nil, err
			}
		default:
			pi := -1
			for j := range t.Params {
				if !given[j] && t.Params[j].required() {
					pi = j
					break
				}
			}
			switch {
			case pi >= 0:
				p := &t.Params[pi]
				if err := set(pi, a, p.Metavar(), p.Slice); err != nil {
					return nil, nil, err
				}
			case variadic >= 0:
				if err := set(variadic, a, t.Params[variadic].Metavar(), false); err != nil {
					return nil, nil, err
				}
			default:
				break args
			}
		}
	}
	rest = args[i:]

	for j := range t.Params {
		if p := &t.Params[j]; !given[j] && p.required() {
			return nil, nil, fmt.Errorf("%s: missing argument %s", t.Name, p.Metavar())
		}
	}

	values = make([]Value, n)
	for j := range t.Params {
		p := &t.Params[j]
		if !given[j] && p.HasDefault {
			// As if --name=Default had been typed. Parse checks defaults,
			// so this fails only for a Task made by hand.
			xs, msg := parseWords(p, p.Default, p.Slice)
			if msg != "" {
				return nil, nil, fmt.Errorf("%s: default %s=%s: %s", t.Name, p.Flag(), strconv.Quote(p.Default), msg)
			}
			raws[j], items[j] = []string{p.Default}, xs
		}
		has := given[j] || p.HasDefault
		values[j] = Value{Param: p, Given: given[j], Raw: strings.Join(raws[j], ","), Parsed: makeValue(p, items[j], has)}
	}
	return values, rest, nil
}

// parseWords parses raw as the value of p, or as a comma-separated list
// of values when split is set (an empty raw is then an empty list). The
// message (not an error) says what is wrong, quoting the bad element of a
// list, so the caller can say which argument was wrong.
func parseWords(p *Param, raw string, split bool) (items []any, msg string) {
	if !split {
		v, msg := parseValue(p.Kind, raw)
		if msg != "" {
			return nil, msg
		}
		return []any{v}, ""
	}
	if raw == "" {
		return nil, ""
	}
	for part := range strings.SplitSeq(raw, ",") {
		v, msg := parseValue(p.Kind, part)
		if msg != "" {
			return nil, strconv.Quote(part) + ": " + msg
		}
		items = append(items, v)
	}
	return items, ""
}

// param returns the index of the parameter a flag names, or -1.
func (t *Task) param(name string) int {
	k := key(name)
	if k == "" {
		return -1
	}
	for i := range t.Params {
		if key(t.Params[i].Name) == k {
			return i
		}
	}
	return -1
}

// unknownFlag is the error for a named argument the task does not have.
func unknownFlag(t *Task, flag string) error {
	switch {
	case len(t.Params) == 0:
		return fmt.Errorf("%s: unknown argument %s (%s takes no arguments)", t.Name, word(flag), t.Name)
	case suggestParam(t, flag[2:]) != nil:
		return fmt.Errorf("%s: unknown argument %s (did you mean %s?)", t.Name, word(flag), suggestParam(t, flag[2:]).Flag())
	}
	flags := make([]string, len(t.Params))
	for i := range t.Params {
		flags[i] = t.Params[i].Flag()
	}
	return fmt.Errorf("%s: unknown argument %s (%s takes %s)", t.Name, word(flag), t.Name, strings.Join(flags, ", "))
}

// word returns s as it can be shown in a one-line message: as is when it
// is printable and has no spaces, else quoted.
func word(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' }) {
		return strconv.Quote(s)
	}
	return s
}

// valueHint is the placeholder a usage line shows for a parameter's value.
func valueHint(p *Param) string {
	switch p.Kind {
	case KindInt, KindInt64:
		return "INT"
	case KindFloat64:
		return "NUMBER"
	case KindBool:
		return "BOOL"
	case KindDuration:
		return "DURATION"
	}
	return p.Metavar()
}

// parseValue parses one value of kind k. It returns a message (not an
// error) so the caller can say which argument was wrong.
func parseValue(k Kind, s string) (any, string) {
	switch k {
	case KindString, KindText:
		return s, ""
	case KindInt:
		n, err := strconv.ParseInt(s, 10, strconv.IntSize)
		if err != nil {
			return nil, numErr(err, "an int")
		}
		return int(n), ""
	case KindInt64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, numErr(err, "an int64")
		}
		return n, ""
	case KindFloat64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, numErr(err, "a number")
		}
		return f, ""
	case KindBool:
		switch strings.ToLower(s) {
		case "true", "1":
			return true, ""
		case "false", "0":
			return false, ""
		}
		return nil, "not a bool (true, false, 1 or 0)"
	case KindDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, "not a duration (such as 90s, 5m or 1h30m)"
		}
		return d, ""
	}
	return nil, "unknown argument kind " + k.String()
}

func numErr(err error, what string) string {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return "out of range for " + what
	}
	return "not " + what
}

// makeValue turns the parsed elements of one parameter into a value of its Go
// type; given reports a value, given or defaulted.
func makeValue(p *Param, xs []any, given bool) any {
	ops := opsFor(p.Kind)
	switch {
	case p.Slice && p.Optional:
		if !given {
			return ops.nilSlicePtr
		}
		return ops.slicePtr(xs)
	case p.Slice:
		if !given {
			return ops.nilSlice
		}
		return ops.slice(xs)
	case p.Optional:
		if !given {
			return ops.nilPtr
		}
		return ops.ptr(xs[0])
	case len(xs) == 0:
		return nil // only for a Param Parse never makes (variadic, not slice)
	}
	return xs[0]
}

// typeOps builds values of one Go type T from parsed elements.
type typeOps struct {
	slice       func([]any) any // a []T, never nil
	slicePtr    func([]any) any // a *[]T
	ptr         func(any) any   // a *T
	nilSlice    any             // []T(nil)
	nilPtr      any             // (*T)(nil)
	nilSlicePtr any             // (*[]T)(nil)
}

func opsOf[T any]() typeOps {
	slice := func(xs []any) []T {
		out := make([]T, len(xs))
		for i, x := range xs {
			out[i] = x.(T)
		}
		return out
	}
	return typeOps{
		slice:       func(xs []any) any { return slice(xs) },
		slicePtr:    func(xs []any) any { s := slice(xs); return &s },
		ptr:         func(x any) any { v := x.(T); return &v },
		nilSlice:    []T(nil),
		nilPtr:      (*T)(nil),
		nilSlicePtr: (*[]T)(nil),
	}
}

var (
	stringOps   = opsOf[string]()
	intOps      = opsOf[int]()
	int64Ops    = opsOf[int64]()
	float64Ops  = opsOf[float64]()
	boolOps     = opsOf[bool]()
	durationOps = opsOf[time.Duration]()
)

func opsFor(k Kind) *typeOps {
	switch k {
	case KindInt:
		return &intOps
	case KindInt64:
		return &int64Ops
	case KindFloat64:
		return &float64Ops
	case KindBool:
		return &boolOps
	case KindDuration:
		return &durationOps
	}
	return &stringOps // string and text
}
