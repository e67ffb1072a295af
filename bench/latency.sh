#!/usr/bin/env bash
# Helper for bench/race.sh job g: one host through bench/delayproxy, cold and warm, each
# run timed from inside the lab's namespace (bash's $EPOCHREALTIME, no process started for
# the clock, no `ip netns exec` in the time).
#
#   ip netns exec NS bench/latency.sh ROUNDS HOST LOOM SSH_CONFIG HOSTS_FILE FLOOR_ARGS...
#
# Each round runs, in this order: loom (direct: a login each run); loom --persist 10m with
# the holder stopped first (cold: the holder starts and logs in) and again (warm: through
# the held connection); ssh (a login); ssh with ControlMaster auto + ControlPersist 10m and
# no master yet (cold), and again (warm: through its mux master); the floor (a login).
# Prints a tab-separated line per run: LABEL MS OK (OK: 1 when it exited 0 and printed).
# Env: LOOM_HOLDER_DIR (the race's own holder directory, required), MUX_DIR (a directory
# for ssh's ControlPath, required). Stops the holder and the ssh master it started at the
# end of every round; touches nothing else.
set -uo pipefail
rounds=$1 host=$2 loom=$3 cfg=$4 hf=$5; shift 5
floor=("$@")
: "${LOOM_HOLDER_DIR:?}" "${MUX_DIR:?}"
out=$(mktemp -d /tmp/loomrace-lat.XXXXXX)
trap 'rm -rf "$out"' EXIT
mux=(-o ControlMaster=auto -o ControlPersist=10m -o "ControlPath=$MUX_DIR/%C")

# run LABEL CMD...: time one run, print its line
run() {
  local label=$1; shift
  local t0 t1 rc ok=0
  t0=$EPOCHREALTIME
  "$@" >"$out/o" 2>"$out/e" </dev/null
  rc=$?
  t1=$EPOCHREALTIME
  [ "$rc" = 0 ] && [ -s "$out/o" ] && ok=1
  [ "$ok" = 1 ] || echo "latency.sh: $label: exit $rc: $(head -c 300 "$out/e")" >&2
  printf '%s\t%s\t%s\n' "$label" "$(echo "($t1 - $t0) * 1000" | bc)" "$ok"
}

holder_pid() { sed -n 's/^loom holder \([0-9]*\): .* serving .*/\1/p' "$LOOM_HOLDER_DIR/holder.log" 2>/dev/null | tail -1; }

# holder_stop: loom --persist-stop, then wait for this holder's process to be gone
holder_stop() {
  local pid; pid=$(holder_pid)
  "$loom" --persist-stop >/dev/null 2>&1
  [ -n "$pid" ] || return 0
  for _ in $(seq 100); do
    grep -qsF -- "$LOOM_HOLDER_DIR" "/proc/$pid/cmdline" || return 0
    sleep 0.1
  done
  echo "latency.sh: holder $pid did not exit after loom --persist-stop" >&2
}

# mux_stop: ask ssh's master for $host to exit, wait until ssh says none is running
mux_stop() {
  ssh -F "$cfg" "${mux[@]}" -O exit "$host" >/dev/null 2>&1 || return 0
  for _ in $(seq 100); do
    ssh -F "$cfg" "${mux[@]}" -O check "$host" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  echo "latency.sh: ssh master for $host did not exit after ssh -O exit" >&2
}

holder_stop
mux_stop
for _ in $(seq "$rounds"); do
  run "loom" "$loom" -F "$cfg" -H "$host" -- uname -n
  holder_stop
  run "loom --persist, cold" "$loom" --persist 10m -F "$cfg" -H "$host" -- uname -n
  run "loom --persist, warm" "$loom" --persist 10m -F "$cfg" -H "$host" -- uname -n
  holder_stop
  run "ssh" ssh -F "$cfg" "$host" uname -n
  run "ssh + ControlPersist, cold" ssh -F "$cfg" "${mux[@]}" "$host" uname -n
  run "ssh + ControlPersist, warm" ssh -F "$cfg" "${mux[@]}" "$host" uname -n
  mux_stop
  run "floor" "${floor[@]}" -h "$hf" "uname -n"
done
