#!/usr/bin/env bash
# Scale: Loom against up to 10,000 in-process SSH hosts (bench/manyhosts, no lab needed),
# varying the number of hosts at one fan-out and the fan-out at one number of hosts, to
# separate memory per host in flight from memory per host finished.
#
#   bench/scale.sh                   N = 1000 3000 10000 at -P 100; -P = 25 100 400 at N = 10000
#   NS_LIST="1000 10000" PS_LIST="50 200" N_FOR_P=10000 P_FOR_N=100 bench/scale.sh
#
# Env: LOOM (a loom binary; default: built from SRC), SRC (the Loom source tree; default:
# this checkout), OUT (raw output; default /tmp/loom-scale-DATE). Needs RLIMIT_NOFILE above
# N+1000 (manyhosts raises it to the hard limit). The servers run in the benchmark process on the same cores as Loom: wall time is
# the two together; CPU and peak RSS are Loom's alone (measured by /usr/bin/time).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$here} # the Loom source tree to build loom and manyhosts from
NS_LIST=${NS_LIST:-1000 3000 10000}
PS_LIST=${PS_LIST:-25 100 400}
N_FOR_P=${N_FOR_P:-10000}
P_FOR_N=${P_FOR_N:-100}
OUT=${OUT:-/tmp/loom-scale-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
if [ -z "${LOOM:-}" ]; then LOOM=$OUT/loom; (cd "$SRC" && go build -o "$LOOM" ./cmd/loom); fi
(cd "$SRC" && go build -o "$OUT/manyhosts" ./bench/manyhosts)

declare -A rss
run() { # N P
  local key="$1/$2"
  [ -n "${rss[$key]:-}" ] && return
  local line; line=$("$OUT/manyhosts" -loom "$LOOM" -n "$1" -P "$2" 2>"$OUT/err.$1.$2" | tail -1)
  echo "$line" >> "$OUT/runs"
  echo "$line" >&2
  local w c m l
  w=$(sed -n 's/.*wall=\([0-9.]*\)s.*/\1/p' <<<"$line"); c=$(sed -n 's/.* cpu=\([0-9.]*\)s.*/\1/p' <<<"$line")
  m=$(sed -n 's/.*maxrss=\([0-9]*\)KB.*/\1/p' <<<"$line"); l=$(sed -n 's/.*out_lines=\([0-9]*\).*/\1/p' <<<"$line")
  rss[$key]=$m
  printf '| %s | %s | %.1f | %.2f | %.2f | %.1f | %s/%s |\n' "$1" "$2" "$w" "$c" "$(echo "scale=4; $c * 1000 / $1" | bc)" "$(echo "scale=2; $m / 1024" | bc)" "$l" "$1" >> "$OUT/table"
}
echo "| hosts | -P | wall s | client CPU s | CPU ms/host | client peak RSS MB | answered |" > "$OUT/table"
echo "|---:|---:|---:|---:|---:|---:|---:|" >> "$OUT/table"
for n in $NS_LIST; do run "$n" "$P_FOR_N"; done
for p in $PS_LIST; do run "$N_FOR_P" "$p"; done
cat "$OUT/table"
slope() { # rss1 rss2 d -> KB per unit
  printf "%.2f" "$(echo "scale=4; ($2 - $1) / $3" | bc)"
}
set -- $NS_LIST; n1=$1; n2=${*: -1}
set -- $PS_LIST; p1=$1; p2=${*: -1}
echo
echo "memory per host finished (N $n1 -> $n2 at -P $P_FOR_N): $(slope "${rss[$n1/$P_FOR_N]}" "${rss[$n2/$P_FOR_N]}" $((n2 - n1))) KB"
echo "memory per host in flight (-P $p1 -> $p2 at N $N_FOR_P): $(slope "${rss[$N_FOR_P/$p1]}" "${rss[$N_FOR_P/$p2]}" $((p2 - p1))) KB"
echo "raw: $OUT"
