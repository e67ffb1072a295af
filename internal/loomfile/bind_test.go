package loomfile

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestBind(t *testing.T) {
	info := mustParse(t, deployLoomfile)
	for _, tc := range []struct {
		task string
		args []string
		want []any // Parsed, one per parameter
		rest []string
		err  string
	}{
		// deploy(version string, count *int, dryRun *bool, wait time.Duration)
		{task: "deploy", args: []string{"v2", "10s"}, want: []any{"v2", (*int)(nil), (*bool)(nil), 10 * time.Second}},
		{task: "deploy", args: []string{"v2", "10s", "build"}, want: []any{"v2", (*int)(nil), (*bool)(nil), 10 * time.Second}, rest: []string{"build"}},
		{task: "deploy", args: []string{"--version=v2", "--wait", "1m", "x", "y"}, want: []any{"v2", (*int)(nil), (*bool)(nil), time.Minute}, rest: []string{"x", "y"}},
		{task: "deploy", args: []string{"v2", "--count=3", "--dry-run", "5s"}, want: []any{"v2", ptr(3), ptr(true), 5 * time.Second}},
		{task: "deploy", args: []string{"--wait=5s", "--count", "-3", "v2"}, want: []any{"v2", ptr(-3), (*bool)(nil), 5 * time.Second}},
		{task: "deploy", args: []string{"v2", "--dry-run=false", "5s"}, want: []any{"v2", (*int)(nil), ptr(false), 5 * time.Second}},
		{task: "deploy", args: []string{"v2", "--DryRun=0", "5s"}, want: []any{"v2", (*int)(nil), ptr(false), 5 * time.Second}},
		{task: "deploy", args: []string{"v2", "--dry_run=TRUE", "5s"}, want: []any{"v2", (*int)(nil), ptr(true), 5 * time.Second}},
		{task: "deploy", args: []string{"v2", "--dry-run", "true", "5s"}, want: []any{"v2", (*int)(nil), ptr(true), 0 * time.Second}, err: `deploy: WAIT="true": not a duration (such as 90s, 5m or 1h30m)`},
		{task: "deploy", args: []string{"-v2", "-5s"}, want: []any{"-v2", (*int)(nil), (*bool)(nil), -5 * time.Second}},
		{task: "deploy", args: []string{"", "0s"}, want: []any{"", (*int)(nil), (*bool)(nil), time.Duration(0)}},
		{task: "deploy", args: []string{"v2", "5s", "--", "build"}, want: []any{"v2", (*int)(nil), (*bool)(nil), 5 * time.Second}, rest: []string{"build"}},
		{task: "deploy", args: []string{"v2"}, err: "deploy: missing argument WAIT"},
		{task: "deploy", args: nil, err: "deploy: missing argument VERSION"},
		{task: "deploy", args: []string{"--", "v2", "1s"}, err: "deploy: missing argument VERSION"},
		{task: "deploy", args: []string{"v2", "--count=x", "5s"}, err: `deploy: --count="x": not an int`},
		{task: "deploy", args: []string{"v2", "--count=99999999999999999999", "5s"}, err: `deploy: --count="99999999999999999999": out of range for an int`},
		{task: "deploy", args: []string{"v2", "soon"}, err: `deploy: WAIT="soon": not a duration (such as 90s, 5m or 1h30m)`},
		{task: "deploy", args: []string{"v2", "5s", "--count=1", "--count=2"}, err: "deploy: --count given twice"},
		{task: "deploy", args: []string{"v2", "--version=v3", "5s"}, err: "deploy: --version given twice"},
		{task: "deploy", args: []string{"--cnt=3"}, err: "deploy: unknown argument --cnt (did you mean --count?)"},
		{task: "deploy", args: []string{"--bogus"}, err: "deploy: unknown argument --bogus (deploy takes --version, --count, --dry-run, --wait)"},
		{task: "deploy", args: []string{"--=x"}, err: "deploy: unknown argument -- (deploy takes --version, --count, --dry-run, --wait)"},
		{task: "deploy", args: []string{"--a b\n"}, err: `deploy: unknown argument "--a b\n" (deploy takes --version, --count, --dry-run, --wait)`},
		{task: "deploy", args: []string{"v2", "5s", "--count"}, err: "deploy: --count needs a value (--count=INT)"},
		{task: "deploy", args: []string{"v2", "5s", "--count", "--dry-run"}, err: "deploy: --count needs a value (--count=INT)"},

		// rolling-restart(hosts []string, pause *time.Duration)
		{task: "rolling-restart", args: []string{"web1,web2", "--pause=5s"}, want: []any{[]string{"web1", "web2"}, ptr(5 * time.Second)}},
		{task: "rolling-restart", args: []string{"--hosts=web1", "--hosts", "web2,web3"}, want: []any{[]string{"web1", "web2", "web3"}, (*time.Duration)(nil)}},
		{task: "rolling-restart", args: []string{"--hosts="}, want: []any{[]string{}, (*time.Duration)(nil)}},
		{task: "rolling-restart", args: []string{"a,b", "c"}, want: []any{[]string{"a", "b"}, (*time.Duration)(nil)}, rest: []string{"c"}},
		{task: "rolling-restart", args: []string{"--pause=5s"}, err: "rolling-restart: missing argument HOSTS"},
		{task: "rolling-restart", args: []string{"a", "--pause=5"}, err: `rolling-restart: --pause="5": not a duration (such as 90s, 5m or 1h30m)`},

		// restart(services ...string)
		{task: "restart", args: nil, want: []any{[]string(nil)}},
		{task: "restart", args: []string{"app", "worker"}, want: []any{[]string{"app", "worker"}}},
		{task: "restart", args: []string{"app,x", "--", "deploy", "v2"}, want: []any{[]string{"app,x"}}, rest: []string{"deploy", "v2"}},
		{task: "restart", args: []string{"--services=a,b", "c"}, want: []any{[]string{"a", "b", "c"}}},
		{task: "restart", args: []string{"--", "--"}, want: []any{[]string(nil)}, rest: []string{"--"}},

		// logs(lines int64, ratio float64, levels []string, verbose bool)
		{task: "logs", args: []string{"100", "0.5", "info,warn", "true"}, want: []any{int64(100), 0.5, []string{"info", "warn"}, true}},
		{task: "logs", args: []string{"100", "1e3", "info", "--verbose"}, want: []any{int64(100), 1e3, []string{"info"}, true}},
		{task: "logs", args: []string{"100", "x"}, err: `logs: RATIO="x": not a number`},
		{task: "logs", args: []string{"1_000"}, err: `logs: LINES="1_000": not an int64`},
		{task: "logs", args: []string{"100", "0.5", "info", "yes"}, err: `logs: VERBOSE="yes": not a bool (true, false, 1 or 0)`},

		// db:snapshot(tag string, at Stamp, keep *[]time.Duration)
		{task: "db:snapshot", args: []string{"nightly", "2026-01-01T00:00:00Z", "--keep=24h,168h"}, want: []any{"nightly", "2026-01-01T00:00:00Z", ptr([]time.Duration{24 * time.Hour, 168 * time.Hour})}},
		{task: "db:snapshot", args: []string{"n", "x"}, want: []any{"n", "x", (*[]time.Duration)(nil)}},
		{task: "db:snapshot", args: []string{"n", "x", "--keep=1h,x"}, err: `db:snapshot: --keep="1h,x": "x": not a duration (such as 90s, 5m or 1h30m)`},

		// build()
		{task: "build", args: []string{"deploy", "v2"}, want: []any{}, rest: []string{"deploy", "v2"}},
		{task: "build", args: []string{"--fast"}, err: "build: unknown argument --fast (build takes no arguments)"},
	} {
		tk := task(t, info, tc.task)
		vals, rest, err := Bind(tk, tc.args)
		name := tc.task + " " + strings.Join(tc.args, " ")
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := []any{}
		for i, v := range vals {
			got = append(got, v.Parsed)
			if v.Param != &tk.Params[i] {
				t.Errorf("%s: value %d is for %v", name, i, v.Param)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, tc.want)
		}
		if len(rest) != len(tc.rest) || len(rest) > 0 && !reflect.DeepEqual(rest, tc.rest) {
			t.Errorf("%s: rest %q, want %q", name, rest, tc.rest)
		}
	}
}

func TestBindRawAndGiven(t *testing.T) {
	info := mustParse(t, deployLoomfile)
	vals, _, err := Bind(task(t, info, "rolling-restart"), []string{"--hosts=a,b", "--hosts=c"})
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Raw != "a,b,c" || !vals[0].Given || vals[1].Given || vals[1].Raw != "" {
		t.Errorf("values = %+v", vals)
	}
}

// TestBindChain runs what the command line will do with several tasks:
// resolve a name, bind its arguments, go on with the rest.
func TestBindChain(t *testing.T) {
	info := mustParse(t, deployLoomfile)
	args := []string{"build", "d", "v2", "10s", "--dry-run", "DB:Migrate", "--steps=2", "restart", "app", "worker"}
	var got []string
	for len(args) > 0 {
		tk, err := info.Resolve(args[0])
		if err != nil {
			t.Fatal(err)
		}
		vals, rest, err := Bind(tk, args[1:])
		if err != nil {
			t.Fatal(err)
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
	want := []string{"build()", "deploy(version=v2 dryRun=true wait=10s)", "db:migrate(steps=2)", "restart(services=app,worker)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
