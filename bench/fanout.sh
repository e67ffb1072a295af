#!/usr/bin/env bash
# Loom's fan-out against a floor (a bare x/crypto/ssh client, e.g. the lab's
# rawssh), side by side in one run, alternating, so machine noise hits both.
#
#   bench/fanout.sh HOSTS_FILE SSH_CONFIG [ROUNDS] [FANOUT] [COMMAND]
#
# Env: RAWSSH=/path/to/rawssh (optional floor, called as RAWSSH -h HOSTS -p FANOUT CMD),
#      NETNS=name (run every client inside `ip netns exec NAME`),
#      LOOM=/path/to/loom (default: built from this checkout).
# Prints one line per run (wall and CPU seconds, peak RSS, output lines),
# then the median wall time of each tool and the ratio loom/floor.
set -euo pipefail
hosts=${1:?hosts file}; cfg=${2:?ssh_config}; rounds=${3:-3}; fanout=${4:-100}; cmd=${5:-uname -n}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ -z "${LOOM:-}" ]; then LOOM=$tmp/loom; (cd "$here" && go build -o "$LOOM" ./cmd/loom); fi
wrap=(); if [ -n "${NETNS:-}" ]; then wrap=(ip netns exec "$NETNS"); fi
n=$(grep -c . "$hosts")
measure() { # name cmd...
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/t" "${wrap[@]}" "$@" >"$tmp/out" 2>/dev/null || true
  read -r w u s m < <(tail -1 "$tmp/t")
  printf '%-7s hosts=%d P=%d wall=%6.2fs cpu=%5.2fs maxrss=%6dKB lines=%d\n' \
    "$name" "$n" "$fanout" "$w" "$(echo "$u+$s" | bc)" "$m" "$(wc -l <"$tmp/out")"
  echo "$w" >> "$tmp/$name.wall"
}
for _ in $(seq "$rounds"); do
  measure loom "$LOOM" -F "$cfg" -H "@$hosts" -P "$fanout" -- "$cmd"
  if [ -n "${RAWSSH:-}" ]; then measure rawssh "$RAWSSH" -h "$hosts" -p "$fanout" "$cmd"; fi
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
lm=$(median "$tmp/loom.wall"); echo "median wall: loom ${lm}s"
if [ -n "${RAWSSH:-}" ]; then
  rm_=$(median "$tmp/rawssh.wall")
  echo "median wall: rawssh ${rm_}s; ratio loom/rawssh = $(echo "scale=3; $lm/$rm_" | bc)"
fi
