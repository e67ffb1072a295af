#!/usr/bin/env bash
# Loomfiles: what a loomfile costs on the command line. In a project that is not a Go
# module (a Django-like directory with manage.py) holding a loomfile.go of 30 tasks (host
# tasks, local tasks, a namespace, settings in func init, doc comments), it measures:
#
#   list       `loom -l`: find and parse the loomfile, print 30 tasks; nothing is compiled
#   help       `loom -h noop`: the same, and one task's help
#   version    `loom --version`: the loom binary starting and exiting, the floor of the two above
#   direct     `tasks noop`: the compiled program (`loom --compile tasks`) running a task that
#              returns nil at once
#   cached     `loom noop`: the loom command finding, parsing and hashing the loomfile, finding
#              the program in its cache, and exec'ing it: the same work as `direct`, plus loom
#   first      the first `loom noop` with an empty LOOM_CACHE: extract Loom's source, generate
#              main, go build offline (GOPROXY=off) against it, check the program, cache it.
#              Run COLD times, each with a new empty LOOM_CACHE; the Go build cache is the
#              user's own (warm for the standard library and Loom's dependencies)
#   first, cold Go cache   once more with an empty GOCACHE too: a machine that never built Go
#   rebuild    `loom noop` after an edit of the loomfile (a comment added), EDITS times
#
# list, help, version, direct and cached run interleaved (bench/cmdtime: each round runs each
# once, in a rotating order), N rounds after a warm-up, so the noise of a shared machine hits
# them alike. The table gives medians, p10–p90, and the overhead of a cached run over the
# compiled program: the median of the per-round differences cached − direct.
#
#   bench/loomfile.sh                   N=30 COLD=3 EDITS=3 COLD_GOCACHE=1: about 30 s on 2 cores
#   N=100 COLD=1 COLD_GOCACHE=0 bench/loomfile.sh
#
# Env: N (rounds, 30), COLD (first builds, 3), EDITS (rebuilds after an edit, 3), COLD_GOCACHE
# (1: also time a first build with an empty GOCACHE; 0: skip it), LOOM (a loom binary;
# default: built from this checkout), OUT (raw results; default: a temporary directory,
# removed at the end). Needs Go and Loom's dependencies in the module cache (`go mod
# download`, which the script tries first and may fail offline); no network, no root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-30}; COLD=${COLD:-3}; EDITS=${EDITS:-3}; COLD_GOCACHE=${COLD_GOCACHE:-1}
tmp=$(mktemp -d /tmp/loomfile-bench.XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
OUT=${OUT:-$tmp/out}
mkdir -p "$OUT"
res=$OUT/results.tsv
: >"$res"

echo "loomfile bench: commit $(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$here" && [ -n "$(git status --porcelain 2>/dev/null)" ] && echo ' (+ uncommitted changes)' || true)," \
  "$(go version | cut -d' ' -f3-), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${LOOM:-}" ]; then LOOM=$tmp/loom; (cd "$here" && go build -o "$LOOM" ./cmd/loom); fi
ct=$tmp/cmdtime
(cd "$here" && go build -o "$ct" ./bench/cmdtime)
# The offline build takes Loom's dependencies from the module cache: fill it if we can.
(cd "$here" && go mod download 2>/dev/null) || echo "note: go mod download failed (offline?): using the module cache as it is"

# The project: a Django app, not a Go module, with a loomfile of 30 tasks.
proj=$tmp/shop
mkdir -p "$proj/shop" "$proj/static"
printf '#!/usr/bin/env python\nimport os, sys\nif __name__ == "__main__":\n    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")\n    from django.core.management import execute_from_command_line\n    execute_from_command_line(sys.argv)\n' >"$proj/manage.py"
printf 'DEBUG = False\nINSTALLED_APPS = ["shop"]\n' >"$proj/shop/settings.py"
: >"$proj/shop/__init__.py"
printf 'Django==5.1\npsycopg==3.2\n' >"$proj/requirements.txt"
cat >"$proj/loomfile.go" <<'EOF'
//go:build loom

// The shop's tasks: deploying the Django app to the web hosts, its database,
// and the release chores run from a laptop.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/loomssh/loom"
)

const app = "/srv/shop"

func init() {
	loom.Task(Deploy, loom.OnRoles("web"), loom.Parallel(5), loom.ArgDefault("wait", "30s"))
	loom.Task(Restart, loom.OnRoles("web", "worker"))
	loom.Task(DB.Migrate, loom.OnRoles("web"), loom.Once())
	loom.Task(DB.Backup, loom.OnRoles("db"), loom.Serial())
}

// manage runs a manage.py command in the app's virtualenv.
func manage(c *loom.Conn, args ...string) {
	c.Cd(app).Env("DJANGO_SETTINGS_MODULE", "shop.settings").Run(append([]string{"venv/bin/python", "manage.py"}, args...)...)
}

// local runs a command on this machine.
func local(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// Deploy checks out VERSION on the web hosts, installs the requirements,
// collects the static files and restarts the app, then waits up to WAIT for
// the health check.
//
// With --dry-run it shows what would change and changes nothing.
func Deploy(c *loom.Conn, version string, wait time.Duration, dryRun *bool) error {
	src := c.Cd(app)
	src.Run("git", "fetch", "--tags")
	if dryRun != nil && *dryRun {
		src.Run("git", "diff", "--stat", "HEAD", version)
		return c.Err()
	}
	src.Run("git", "checkout", version)
	src.Shell("venv/bin/pip install -q -r requirements.txt")
	manage(c, "collectstatic", "--noinput")
	c.Sudo("systemctl", "restart", "gunicorn")
	c.Timeout(wait).Run("curl", "-fsS", "--retry", "10", "--retry-connrefused", "http://localhost:8000/health/")
	return c.Err()
}

// Rollback puts the previous release back: RELEASE is the tag to return to.
func Rollback(c *loom.Conn, release string) error {
	c.Cd(app).Run("git", "checkout", release)
	c.Sudo("systemctl", "restart", "gunicorn")
	return c.Err()
}

// Restart restarts the given services, or gunicorn and celery when none is named.
func Restart(c *loom.Conn, services ...string) error {
	if len(services) == 0 {
		services = []string{"gunicorn", "celery"}
	}
	c.Sudo(append([]string{"systemctl", "restart"}, services...)...)
	return c.Err()
}

// Status shows whether the app's services are running.
func Status(c *loom.Conn) error {
	c.Run("systemctl", "is-active", "gunicorn", "celery", "nginx")
	return c.Err()
}

// Logs prints the last LINES lines of the app's log, of the given levels only.
func Logs(c *loom.Conn, lines int, levels []string) error {
	c.Shell(fmt.Sprintf("tail -n %d /var/log/shop/app.log | grep -E '%s'", lines, strings.Join(levels, "|")))
	return c.Err()
}

// Tail follows FILE under /var/log/shop until interrupted.
func Tail(c *loom.Conn, file string) error {
	c.Run("tail", "-F", "/var/log/shop/"+file)
	return c.Err()
}

// DiskFree shows the free space of the app's disk, or of PATH.
func DiskFree(c *loom.Conn, path *string) error {
	p := app
	if path != nil {
		p = *path
	}
	c.Run("df", "-h", p)
	return c.Err()
}

// Maintenance turns the maintenance page on or off.
func Maintenance(c *loom.Conn, on bool) error {
	if on {
		c.Run("touch", app+"/maintenance.on")
	} else {
		c.Run("rm", "-f", app+"/maintenance.on")
	}
	return c.Err()
}

// ClearCache empties Django's cache.
func ClearCache(c *loom.Conn) error {
	manage(c, "shell", "-c", "from django.core.cache import cache; cache.clear()")
	return c.Err()
}

// Collectstatic collects the static files without deploying.
func Collectstatic(c *loom.Conn) error {
	manage(c, "collectstatic", "--noinput")
	return c.Err()
}

// Check runs Django's deployment checks.
func Check(c *loom.Conn) error {
	manage(c, "check", "--deploy")
	return c.Err()
}

// Health waits up to TIMEOUT for the health check to answer.
func Health(c *loom.Conn, timeout time.Duration) error {
	c.Timeout(timeout).Run("curl", "-fsS", "--retry", "5", "http://localhost:8000/health/")
	return c.Err()
}

// Noop does nothing: the benchmark's task.
func Noop(ctx context.Context) error { return nil }

// Test runs the test suite here, of the given apps or of all of them.
func Test(ctx context.Context, apps ...string) error {
	return local(ctx, "python", append([]string{"manage.py", "test"}, apps...)...)
}

// Lint runs ruff over the project.
func Lint(ctx context.Context) error { return local(ctx, "ruff", "check", ".") }

// Build builds the release archive for TAG.
func Build(ctx context.Context, tag string) error {
	return local(ctx, "git", "archive", "-o", "shop-"+tag+".tar.gz", tag)
}

// Bump bumps the version: PART is major, minor or patch (patch by default).
func Bump(ctx context.Context, part *string) error {
	p := "patch"
	if part != nil {
		p = *part
	}
	return local(ctx, "bump-my-version", "bump", p)
}

// Changelog prints the commits since the last tag.
func Changelog(ctx context.Context) error {
	return local(ctx, "git", "log", "--oneline", "$(git describe --tags --abbrev=0)..HEAD")
}

// Release deploys VERSION to HOSTS a quarter at a time and stops at the
// first host that fails.
func Release(ctx context.Context, version string, hosts []string) error {
	d := &loom.Dialer{}
	defer d.Close()
	g := &loom.Group{Dialer: d, Hosts: loom.Hosts(hosts...), Batch: loom.Percent(25), MaxFail: loom.Count(1)}
	return g.Each(ctx, func(c *loom.Conn) error { return Deploy(c, version, 30*time.Second, nil) }).Err()
}

// Clean removes build outputs.
func Clean() error { return os.RemoveAll("dist") }

// DB holds the database tasks.
type DB loom.Namespace

// Migrate applies the pending migrations, or the first STEPS of them.
func (DB) Migrate(c *loom.Conn, steps *int) error {
	manage(c, "migrate", "--noinput")
	return c.Err()
}

// Backup dumps the database to TO on the database host.
func (DB) Backup(c *loom.Conn, to string) error {
	c.Shell("pg_dump -Fc shop > " + to)
	return c.Err()
}

// Restore loads the dump FROM; --yes skips the question.
func (DB) Restore(c *loom.Conn, from string, yes *bool) error {
	c.Run("pg_restore", "--clean", "-d", "shop", from)
	return c.Err()
}

// Vacuum vacuums and analyzes the database.
func (DB) Vacuum(c *loom.Conn) error {
	c.Run("psql", "-d", "shop", "-c", "VACUUM ANALYZE")
	return c.Err()
}

// Reindex rebuilds the indexes of TABLES.
func (DB) Reindex(c *loom.Conn, tables []string) error {
	for _, t := range tables {
		c.Run("psql", "-d", "shop", "-c", "REINDEX TABLE "+t)
	}
	return c.Err()
}

// Dump dumps one table as CSV.
func (DB) Dump(c *loom.Conn, table string) error {
	c.Run("psql", "-d", "shop", "-c", "\\copy "+table+" to stdout csv header")
	return c.Err()
}

// Stats shows the sizes of the largest tables.
func (DB) Stats(c *loom.Conn) error {
	c.Run("psql", "-d", "shop", "-c", "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class ORDER BY 2 DESC LIMIT 10")
	return c.Err()
}

// Lag shows the replicas' lag, and fails when it is above MAX.
func (DB) Lag(c *loom.Conn, max *time.Duration) error {
	c.Run("psql", "-d", "shop", "-c", "SELECT now() - pg_last_xact_replay_timestamp()")
	return c.Err()
}

// Shell opens psql.
func (DB) Shell(c *loom.Conn) error {
	c.Run("psql", "-d", "shop")
	return c.Err()
}

// Sessions clears the expired sessions.
func (DB) Sessions(c *loom.Conn) error {
	manage(c, "clearsessions")
	return c.Err()
}

var Default = Status

var Aliases = map[string]any{"d": Deploy, "m": DB.Migrate, "s": Status}
EOF
if gomod=$(cd "$proj" && go env GOMOD) && [ -n "$gomod" ] && [ "$gomod" != /dev/null ]; then
  echo "the project is inside a Go module ($gomod): this bench wants one that is not" >&2; exit 1
fi
ntasks=$(cd "$proj" && LOOM_CACHE=$tmp/unused "$LOOM" -l | grep -cE '^  [a-z].*  (host|local)') || true
echo "project: $proj, $ntasks tasks"

# bench/cmdtime -tsv lines: "time LABEL RUNS MEDIAN P10 P90 MIN CPU", "diff A-B RUNS MEDIAN P10 P90 RATIO".
cell() { # KIND LABEL FIELD (LABEL is field 1): one field of results.tsv
  awk -F'\t' -v k="$1" -v l="$2" -v c="$3" '$1 == k && $2 == l {print $(c + 1)}' "$res" | tail -1
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# First builds: each with an empty LOOM_CACHE of its own, so Loom's packages are compiled
# from a newly extracted source each time (the Go build cache keys them by directory), as on
# a first run.
for i in $(seq "$COLD"); do
  LOOM_CACHE=$tmp/cache.$i "$ct" -n 1 -warmup 0 -dir "$proj" -tsv "$res" "first.$i" "$LOOM" noop
done
if [ "$COLD_GOCACHE" = 1 ]; then
  LOOM_CACHE=$tmp/cache.gocold GOCACHE=$tmp/gocache "$ct" -n 1 -warmup 0 -dir "$proj" -tsv "$res" first.gocold "$LOOM" noop
  chmod -R u+w "$tmp/gocache"; rm -rf "$tmp/gocache" "$tmp/cache.gocold"
fi

# The warm runs, interleaved, in the first build's cache.
export LOOM_CACHE=$tmp/cache.1
(cd "$proj" && "$LOOM" --compile "$tmp/tasks" 2>/dev/null)
bins=$(ls "$LOOM_CACHE/bin" | wc -l)
"$ct" -n "$N" -warmup 2 -dir "$proj" -diff cached:direct -diff list:version -tsv "$res" \
  version "$LOOM" --version ::: list "$LOOM" -l ::: help "$LOOM" -h noop ::: \
  direct "$tmp/tasks" noop ::: cached "$LOOM" noop
if [ "$(ls "$LOOM_CACHE/bin" | wc -l)" != "$bins" ]; then echo "a warm run built a program: the cache did not hold" >&2; exit 1; fi

# Rebuilds after an edit: Loom's source is extracted and its packages are in the Go cache.
cp "$proj/loomfile.go" "$tmp/loomfile.go.orig"
for i in $(seq "$EDITS"); do
  echo "// edit $i at $(date +%s%N)" >>"$proj/loomfile.go"
  "$ct" -n 1 -warmup 0 -dir "$proj" -tsv "$res" "rebuild.$i" "$LOOM" noop
done
cp "$tmp/loomfile.go.orig" "$proj/loomfile.go"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

fmt() { awk -v x="$1" 'BEGIN {if (x == "") print "-"; else if (x >= 1000 || x <= -1000) printf "%.2f s\n", x/1000; else printf "%.1f ms\n", x}'; }
t() { fmt "$(cell time "$1" 3)"; }
range() { echo "$(fmt "$(cell "$1" "$2" 4)") – $(fmt "$(cell "$1" "$2" 5)")"; }
each() { for x in "$@"; do t "$x"; done | paste -sd, | sed 's/,/, /g'; }
firsts=$(for i in $(seq "$COLD"); do cell time "first.$i" 3; done | median)
rebuilds=$(for i in $(seq "$EDITS"); do cell time "rebuild.$i" 3; done | median)
echo
echo "load average at end: $load_end"
echo
echo "| what | median | p10 – p90 (or each run) | runs |"
echo "|---|---:|---:|---:|"
echo "| \`loom --version\`: loom starts and exits (the floor) | $(t version) | $(range time version) | $N |"
echo "| \`loom -l\` ($ntasks tasks, parsed, not compiled) | **$(t list)** | $(range time list) | $N |"
echo "| \`loom -h noop\` | $(t help) | $(range time help) | $N |"
echo "| \`tasks noop\`: the compiled program, run directly | $(t direct) | $(range time direct) | $N |"
echo "| \`loom noop\`, cached | $(t cached) | $(range time cached) | $N |"
echo "| \`loom -l\` − \`loom --version\`, paired by round: find, parse, list | $(fmt "$(cell diff list-version 3)") | $(range diff list-version) | $N |"
echo "| **a cached run's overhead**: \`loom noop\` − \`tasks noop\`, paired by round | **$(fmt "$(cell diff cached-direct 3)")** | $(range diff cached-direct) | $N |"
echo "| first \`loom noop\`: empty LOOM_CACHE, warm Go build cache | **$(fmt "$firsts")** | $(each $(seq -f 'first.%g' "$COLD")) | $COLD |"
if [ "$COLD_GOCACHE" = 1 ]; then
  echo "| first \`loom noop\`: empty LOOM_CACHE **and empty GOCACHE** | **$(t first.gocold)** | (CPU $(fmt "$(cell time first.gocold 7)")) | 1 |"
fi
echo "| \`loom noop\` after an edit of the loomfile: a rebuild | $(fmt "$rebuilds") | $(each $(seq -f 'rebuild.%g' "$EDITS")) | $EDITS |"
echo
awk -v l="$(cell time list 3)" -v o="$(cell diff cached-direct 3)" 'BEGIN {
  printf "claim: loom -l under 100 ms: %s (median %.1f ms)\n", (l < 100 ? "met" : "NOT met"), l
  printf "claim: a cached run adds under 150 ms: %s (median %.1f ms)\n", (o < 150 ? "met" : "NOT met"), o
}'
if [ "$OUT" != "$tmp/out" ]; then echo "raw results: $res"; fi
