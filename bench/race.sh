#!/usr/bin/env bash
# The race: the same job run by Loom, a bare x/crypto/ssh client (bench/floor), pdsh,
# pssh, ClusterShell, Fabric 2 and Ansible, one after another at the same fan-out against
# the lab (bench/lab.sh), one table per job.
#
#   bench/lab.sh up 1000
#   bench/race.sh [JOB...]        jobs: a100 a500 a1000 b c d e f500 f1000 g (default: all, in that order)
#   bench/lab.sh down
#
#   a100, a500, a1000  `uname -n` on 100, 500, 1,000 hosts (any aN), fan-out $P (default 100)
#   b                  a ten-step task on 100 hosts: Loom (bench/tenstep: ten Conn.Run on one
#                      connection per host), the floor (ten sessions on one connection),
#                      Fabric (ten Connection.run on one connection), and pssh, pdsh and clush
#                      run ten times, one command after another
#   c                  a 10 MB file to 50 hosts, fan-out 50: scp (xargs -P), parallel-scp, pdcp,
#                      clush --copy, Fabric's put, Ansible's copy, `loom put` and Conn.Put
#                      when they exist; the floor and the Loom library (Conn.Stdin) also
#                      stream it into `cat > FILE`
#   d                  job a1000 against sshd's default MaxStartups 10:30:100 and MaxSessions 10
#                      (lab.sh defaults on, then off): how many hosts each tool loses; Loom
#                      also with --handshakes 10
#   e                  job a100 through bench/delayproxy, 25 ms each way (a 50 ms round trip)
#   f500, f1000        warm runs (any fN): `uname -n` twice in a row on N hosts, fan-out $P: Loom
#                      direct; Loom --persist 10m cold (no holder) then warm (through the holder);
#                      pssh with OpenSSH's ControlMaster auto + ControlPersist 10m cold (no master)
#                      then warm (through the masters); Ansible with ControlPersist 10m cold then
#                      warm; the floor. The holder and the masters are stopped before and after.
#   g                  latency through bench/delayproxy at 50 ms RTT: one host (bench/latency.sh,
#                      LAT_ROUNDS rounds: loom, loom --persist cold and warm, ssh, ssh with its
#                      mux master cold and warm, the floor) and 100 hosts (loom, loom --persist
#                      cold and warm, pssh + ControlPersist cold and warm, the floor), round trips
#                      per command (wall / RTT)
#
# Each client runs as `/usr/bin/time ip netns exec loombench TOOL ...` (wall, CPU of the
# client and every process it waited for, e.g. its ssh children, largest single RSS), while
# bench/treemem samples the PSS of the client's whole process tree. sshd's work is not in
# these: it is reported apart as "sshd CPU", the CPU of the lab's sshd and everything it
# started during the run (per-connection sshd processes, the commands they ran), from its
# cgroup. "answered"
# counts hosts whose success the tool reported (a line of output, [SUCCESS], CHANGED...).
# A tool that is not installed is reported as such and the race goes on.
#
# Env: P (fan-out, 100), ROUNDS (runs of loom and the floor, alternating, median shown; 1),
#      KEX (KexAlgorithms for the OpenSSH-based tools, e.g. curve25519-sha256: the key exchange
#      Loom, the floor and Fabric use; default: OpenSSH's own, sntrup761x25519-sha512),
#      TOOLS (default "loom floor pdsh pssh clush fabric ansible"), SKIP_ANSIBLE_ABOVE
#      (skip Ansible on jobs with more hosts than this; default: never skip), LOOM (a loom
#      binary; default: built from $SRC), SRC (the Loom source tree to build from; default:
#      this checkout), SNAPSHOT (a git revision: build Loom as committed there, e.g. HEAD,
#      ignoring uncommitted changes, with this bench/ directory), OUT (where raw outputs go; default $LAB/race-DATE), TOOL_TIMEOUT
#      (seconds per client run, 1200), LAT_ROUNDS (rounds of job g's one-host runs, 20).
# Loom's holder (--persist) lives in a directory of the race's own (LOOM_HOLDER_DIR), never the
# user's; so do the ControlPath directories of pssh's and Ansible's masters. Only the holder and
# the masters the race started are stopped: loom --persist-stop, ssh -O exit per socket.
# Needs root (the lab), Go, /usr/bin/time (Debian package "time"), bc.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SRC=${SRC:-$(cd "$here/.." && pwd)}
LAB=${LAB:-/tmp/loombench}
NS=${NS:-loombench}
LAB_USER=${LAB_USER:-loombench}
P=${P:-100}
ROUNDS=${ROUNDS:-1}
TOOLS=${TOOLS:-loom floor pdsh pssh clush fabric ansible}
SKIP_ANSIBLE_ABOVE=${SKIP_ANSIBLE_ABOVE:-0}
TOOL_TIMEOUT=${TOOL_TIMEOUT:-1200}
OUT=${OUT:-$LAB/race-$(date +%Y%m%d-%H%M%S)}
PUTDIR=/dev/shm/loombench-put
PY=/usr/bin/python3
LAT_ROUNDS=${LAT_ROUNDS:-20}
JOBS=${*:-a100 a500 a1000 b c d e f500 f1000 g}

die() { echo "race.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (ip netns exec)"
[ -x /usr/bin/time ] || die "needs /usr/bin/time: apt-get install -y time"
command -v bc >/dev/null || die "needs bc: apt-get install -y bc"
ip netns list | grep -qw "$NS" && [ -f "$LAB/hosts" ] || die "the lab is not up: bench/lab.sh up 1000"
mkdir -p "$OUT/bin" "$OUT/raw"
BIN=$OUT/bin
RAW=$OUT/raw

# The ssh_config every client reads (ssh -F for the OpenSSH-based tools, loom -F). With KEX
# set (e.g. KEX=curve25519-sha256), a copy with KexAlgorithms $KEX: OpenSSH 9.x picks the
# post-quantum sntrup761x25519-sha512 by default, which x/crypto/ssh (Loom, the floor) and
# paramiko (Fabric) do not speak, and it costs the ssh client ~60 ms more CPU per connection.
CFG=$LAB/ssh_config
CFG_DELAY=$LAB/ssh_config.delay
KEX_NOTE=""
if [ -n "${KEX:-}" ]; then
  for v in "" .delay; do
    sed "s/^Host 127\.\*\$/&\n  KexAlgorithms $KEX/" "$LAB/ssh_config$v" > "$OUT/ssh_config$v"
  done
  CFG=$OUT/ssh_config; CFG_DELAY=$OUT/ssh_config.delay
  KEX_NOTE="; KexAlgorithms $KEX for the OpenSSH-based tools"
fi

# ---- build ----
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$SRC" diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ' (with uncommitted changes)')
if [ -n "${SNAPSHOT:-}" ]; then # build Loom as committed at SNAPSHOT, with this bench/ directory
  rm -rf "$OUT/src"; mkdir -p "$OUT/src"
  git -C "$SRC" archive "$SNAPSHOT" | tar -x -C "$OUT/src" || die "git archive $SNAPSHOT failed"
  cp -r "$here/." "$OUT/src/bench/"
  commit=$(git -C "$SRC" rev-parse --short "$SNAPSHOT"); dirty=""
  SRC=$OUT/src
fi
build() { (cd "$SRC" && go build -o "$BIN/$1" "./$2") 2>"$RAW/build-$1.err"; }
if [ -n "${LOOM:-}" ]; then cp "$LOOM" "$BIN/loom"; else build loom cmd/loom || die "loom does not build: $(cat "$RAW/build-loom.err")"; fi
for b in floor tenstep put treemem; do
  build "$b" "bench/$b" || echo "race.sh: bench/$b does not build ($(head -1 "$RAW/build-$b.err")); its rows will say so" >&2
done
# Conn.Put in the library: bench/put -mode put (build tag loomput); `loom put` on the command line
have_put=no
if grep -q 'func (c \*Conn) Put' "$SRC"/*.go 2>/dev/null; then
  (cd "$SRC" && go build -tags loomput -o "$BIN/put-lib" ./bench/put) 2>"$RAW/build-put-lib.err" && have_put=yes
fi
have_put_cli=no
"$BIN/loom" put -h >"$RAW/loom-put-h.out" 2>&1 && have_put_cli=yes

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "loom: $commit$dirty"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sshd: $(/usr/sbin/sshd -V 2>&1 | head -1)"
  echo "go: $(go version)"
  command -v pdsh >/dev/null && echo "pdsh: $(pdsh -V 2>&1 | head -1)"
  command -v parallel-ssh >/dev/null && echo "pssh: $(parallel-ssh --version 2>&1)"
  command -v clush >/dev/null && echo "clush: $(clush --version 2>&1)"
  $PY -c 'import fabric, paramiko; print("fabric:", fabric.__version__, "paramiko:", paramiko.__version__)' 2>/dev/null
  command -v ansible >/dev/null && echo "ansible: $(ansible --version 2>/dev/null | head -1)"
} > "$OUT/versions"

installed() { # tool
  case $1 in
  loom|floor) [ -x "$BIN/$1" ] ;;
  pdsh) command -v pdsh >/dev/null ;;
  pssh) command -v parallel-ssh >/dev/null ;;
  clush) command -v clush >/dev/null ;;
  fabric) $PY -c 'import fabric' 2>/dev/null ;;
  ansible) command -v ansible >/dev/null ;;
  *) return 1 ;;
  esac
}
wanted() { [[ " $TOOLS " == *" $1 "* ]]; }

# ---- measuring ----
ADDR='127\.[0-9]+\.[0-9]+\.[0-9]+'
# answered KIND OUT ERR N: hosts whose success the tool reported
answered() {
  local kind=$1 out=$2 err=$3 n=$4
  case $kind in
  colon) grep -oE "^$ADDR: " "$out" | sort -u | wc -l ;;
  loomsum) grep -oE '[0-9]+ ok' "$err" | tail -1 | grep -oE '^[0-9]+' || echo "?" ;;   # loom's summary line          # floor, pdsh, clush, fabric_race.py, tenstep
  loom) grep -oE "^$ADDR +\| " "$out" | grep -oE "^$ADDR" | sort -u | wc -l ;;
  lines:*) grep -oE "^$ADDR: " "$out" | sort | uniq -c | awk -v k="${kind#lines:}" '$1 >= k' | wc -l ;; # a line per step
  pssh:*) grep -oE "\[SUCCESS\] $ADDR" "$out" | sort | uniq -c | awk -v k="${kind#pssh:}" '$1 >= k' | wc -l ;;
  ansible) grep -oE "^$ADDR \| (CHANGED|SUCCESS)" "$out" | grep -oE "^$ADDR" | sort -u | wc -l ;;
  silent) echo $(( n - $(grep -oE "$ADDR" "$err" | sort -u | wc -l) )) ;; # pdcp, clush --copy: only failures print
  esac
}

# server_cpu: CPU ticks of the lab's sshd and every process it started (the per-connection
# sshd processes and the commands they ran): the server's share of a run. From sshd's cgroup
# (bench/lab.sh puts it in one) when there is one; else the master's own and reaped children's
# CPU, which misses per-connection processes nobody waited for (common with OpenSSH clients).
CLK=$(getconf CLK_TCK)
server_cpu() {
  if [ -f "$LAB/sshd.cpu" ]; then
    local f; f=$(cat "$LAB/sshd.cpu")
    case "$f" in
    *cpu.stat) awk -v c="$CLK" '$1 == "usage_usec" {printf "%d\n", $2 * c / 1000000}' "$f" ;;
    *) awk -v c="$CLK" '{printf "%d\n", $1 * c / 1000000000}' "$f" ;;
    esac
    return
  fi
  local pid; pid=$(cat "$LAB/sshd.pid" 2>/dev/null) || { echo 0; return; }
  # fields after "(comm)": utime 12, stime 13, cutime 14, cstime 15 (counting state as 1)
  sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}' || echo 0
}

# measure JOB LABEL KIND N CMD...: run CMD in the lab, append a row to $OUT/JOB.rows
measure() {
  local job=$1 label=$2 kind=$3 n=$4; shift 4
  local base=$RAW/$job.$label
  # with WATCH=1 (jobs f, g): the CPU of the holder and of the mux masters (processes no
  # client waits for, so in no client column) and the connections sshd has open
  local b0=0
  if [ "${WATCH:-0}" = 1 ]; then b0=$(bg_cpu); sshd_conns > "$base.conns0"; fi
  local s0; s0=$(server_cpu)
  /usr/bin/time -f '%e %U %S %M' -o "$base.time" \
    ip netns exec "$NS" timeout -k 10 "$TOOL_TIMEOUT" "$@" >"$base.out" 2>"$base.err" </dev/null &
  local pid=$!
  "$BIN/treemem" -every 200ms "$pid" >"$base.mem" 2>/dev/null &
  local mpid=$!
  wait "$pid"; local rc=$?
  wait "$mpid"
  sleep 0.2 # let sshd reap its last children
  local srv; srv=$(echo "scale=2; ($(server_cpu) - $s0) / $CLK" | bc)
  local w u s m
  read -r w u s m < <(tail -1 "$base.time")
  local tree; tree=$(sed -n 's/.*peak_kb=\([0-9]*\).*/\1/p' "$base.mem")
  local ans; ans=$(answered "$kind" "$base.out" "$base.err" "$n")
  [ "$rc" = 124 ] && ans="timeout"
  local extra="" more=""
  if [ "${WATCH:-0}" = 1 ]; then
    local bg held new
    bg=$(echo "scale=2; ($(bg_cpu) - $b0) / 1000000000" | bc)
    sshd_conns > "$base.conns1"
    held=$(wc -l < "$base.conns1"); new=$(comm -13 "$base.conns0" "$base.conns1" | wc -l)
    extra=$(printf '\t%s\t%s\t%s' "$bg" "$held" "$new")
    more=$(printf '  holder/masters cpu %5.2fs  sshd conns %s (%s new)' "$bg" "$held" "$new")
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n' "${label%%#*}" "$w" "$(echo "$u + $s" | bc)" "$m" "${tree:-0}" "$ans" "$n" "$rc" "$srv" "$extra" >> "$OUT/$job.rows"
  printf '  %-26s wall %7.2fs  cpu %7.2fs  sshd cpu %7.2fs  answered %s/%s  exit %s%s\n' "$label" "$w" "$(echo "$u + $s" | bc)" "$srv" "$ans" "$n" "$rc" "$more" >&2
}
note() { # JOB LABEL TEXT: a row without numbers
  local job=$1 label=$2; shift 2
  printf '%s\t-\t%s\n' "$label" "$*" >> "$OUT/$job.rows"
  printf '  %-14s %s\n' "$label" "$*" >&2
}

# table JOB TITLE: one table, medians of repeated runs, ratio of wall time to the floor
table() {
  local job=$1 title=$2
  awk -F'\t' -v title="$title" '
    function median(s,   a, k, i, j, t) {
      k = split(s, a, " ")
      for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
      return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
    }
    $2 == "-" { if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1 }; text[$1] = $3; next }
    {
      if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1; ans[$1] = $6 }
      wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " $3; runs[$1]++
      if ($4 > rss[$1]) rss[$1] = $4
      if ($5 > tree[$1]) tree[$1] = $5
      if ($6 + 0 < ans[$1] + 0 || $6 !~ /^[0-9]+$/) ans[$1] = $6
      n[$1] = $7
      srv[$1] = srv[$1] " " $9
    }
    END {
      print "### " title
      print ""
      print "| tool | wall s | client CPU s | sshd CPU s | peak RSS MB (largest process) | peak tree PSS MB | hosts answered | wall / floor |"
      print "|---|---:|---:|---:|---:|---:|---:|---:|"
      fw = 0
      for (i = 1; i <= no; i++) if (order[i] ~ /^floor/ && order[i] in wall) { fw = median(wall[order[i]]); break }
      for (i = 1; i <= no; i++) {
        t = order[i]
        if (t in text) { printf "| %s | %s | | | | | | |\n", t, text[t]; continue }
        w = median(wall[t])
        r = fw > 0 ? sprintf("%.2f×", w / fw) : "–"
        m = runs[t] > 1 ? sprintf(" (median of %d)", runs[t]) : ""
        printf "| %s | %.2f%s | %.2f | %.2f | %.1f | %.1f | %s/%s | %s |\n", t, w, m, median(cpu[t]), median(srv[t]), rss[t] / 1024, tree[t] / 1024, ans[t], n[t], r
      }
      print ""
    }' "$OUT/$job.rows" | tee -a "$OUT/tables.md"
  # the individual runs, when repeated
  awk -F'\t' '$2 != "-" { w[$1] = w[$1] " " $2; c[$1]++ } END { for (t in w) if (c[t] > 1) printf "runs of %s (wall s):%s\n", t, w[t] }' "$OUT/$job.rows" | sort | tee -a "$OUT/tables.md"
  echo | tee -a "$OUT/tables.md" >/dev/null
}

# ---- warm runs: Loom's holder, OpenSSH's mux masters (jobs f and g) ----
# The race's own holder directory: its loom --persist never meets the user's holder (or another
# race's), and its loom --persist-stop stops only this one.
HOLDER_DIR=$(mktemp -d /tmp/loomrace-holder.XXXXXX) || die "mktemp failed"
export LOOM_HOLDER_DIR=$HOLDER_DIR
MUX_DIRS=() # the ControlPath directories of the mux masters now running (pssh's, Ansible's)
DELAY_MS=25 # jobs e and g: each way, so a round trip is 2 × DELAY_MS

holder_pid() { # the pid of this race's holder, when one runs
  local p; p=$(sed -n 's/^loom holder \([0-9]*\): .* serving .*/\1/p' "$HOLDER_DIR/holder.log" 2>/dev/null | tail -1)
  [ -n "$p" ] && grep -qsF -- "$HOLDER_DIR" "/proc/$p/cmdline" && echo "$p"
}
mux_pids() { # DIR: the ssh mux masters whose sockets are in DIR (OpenSSH retitles them "ssh: PATH [mux]")
  grep -lsa -- "^ssh: $1/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3
}
bg_cpu() { # CPU time (ns) of this race's holder and mux masters, now running: no client waits for them
  # The holder (many threads): utime + stime from /proc/PID/stat, in clock ticks. A master (one
  # thread) uses a tick or less per warm command, so its ticks would round to nothing: its
  # /proc/PID/schedstat (time on a CPU, ns) instead.
  local p d files=() h=0
  p=$(holder_pid) && h=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk -v c="$CLK" '{printf "%.0f\n", ($12 + $13) * 1e9 / c}')
  for d in "${MUX_DIRS[@]}"; do for p in $(mux_pids "$d"); do files+=("/proc/$p/schedstat"); done; done
  if [ ${#files[@]} = 0 ]; then echo "${h:-0}"; return; fi
  cat "${files[@]}" 2>/dev/null | awk -v h="${h:-0}" '{s += $1} END {printf "%.0f\n", s + h}'
}
sshd_conns() { # the peers of the TCP connections sshd has open in the lab, sorted
  ip netns exec "$NS" ss -Htn state established '( sport = :22 )' 2>/dev/null | awk '{print $4}' | sort
}
conns_drain() { # wait (up to 60 s) until sshd has no connection open: the next run starts clean
  local i
  for i in $(seq 600); do [ "$(sshd_conns | wc -l)" = 0 ] && return 0; sleep 0.1; done
  echo "race.sh: sshd still has $(sshd_conns | wc -l) connections open 60 s after the holder or the masters were stopped" >&2
}
holder_stop() { # loom --persist-stop, then wait until the holder has exited and sshd let its connections go
  [ -x "$BIN/loom" ] || return 0
  local p i; p=$(holder_pid)
  ip netns exec "$NS" "$BIN/loom" --persist-stop >>"$RAW/persist-stop.log" 2>&1
  if [ -n "$p" ]; then
    for i in $(seq 300); do grep -qsF -- "$HOLDER_DIR" "/proc/$p/cmdline" || break; sleep 0.1; done
    if grep -qsF -- "$HOLDER_DIR" "/proc/$p/cmdline"; then
      echo "race.sh: the holder (pid $p) still runs 30 s after loom --persist-stop: sending it SIGTERM" >&2
      kill "$p"
    fi
  fi
  conns_drain
}
mux_stop() { # DIR: ssh -O exit on every master socket in DIR, wait for the masters to exit, remove DIR
  local d=$1 s p i
  for s in "$d"/*; do [ -S "$s" ] && printf '%s\0' "$s"; done |
    xargs -0 -r -P 20 -I{} ssh -F "$CFG" -o ControlPath={} -O exit 127.0.0.1 >>"$RAW/mux-stop.log" 2>&1
  for i in $(seq 300); do [ -z "$(mux_pids "$d")" ] && break; sleep 0.1; done
  for p in $(mux_pids "$d"); do
    echo "race.sh: ssh master $p ($d) still runs 30 s after ssh -O exit: sending it SIGTERM" >&2
    kill "$p"
  done
  rm -rf "$d"
  MUX_DIRS=()
  conns_drain
}

# warm_rows JOB N HOSTS_FILE CFG KNOWN_HOSTS PORT: `uname -n` on N hosts, twice in a row for each
# tool that can hold its connections, cold (nothing held) then warm; the same once for the floor
warm_rows() {
  local job=$1 n=$2 hf=$3 cfg=$4 kh=$5 port=$6 cmd="uname -n" r cm
  local WATCH=1
  for r in $(seq "$ROUNDS"); do
    if wanted loom; then
      if ! installed loom; then [ "$r" = 1 ] && note "$job" loom "not installed"
      else
        measure "$job" "loom#$r" loom "$n" "$BIN/loom" -F "$cfg" -H "@$hf" -P "$P" -- "$cmd"
        holder_stop
        measure "$job" "loom --persist, cold#$r" loom "$n" "$BIN/loom" --persist 10m -F "$cfg" -H "@$hf" -P "$P" -- "$cmd"
        measure "$job" "loom --persist, warm#$r" loom "$n" "$BIN/loom" --persist 10m -F "$cfg" -H "@$hf" -P "$P" -- "$cmd"
        holder_stop
      fi
    fi
    if wanted floor; then
      if ! installed floor; then [ "$r" = 1 ] && note "$job" floor "not installed"
      else measure "$job" "floor#$r" colon "$n" "$BIN/floor" -h "$hf" -p "$P" -i "$LAB/id_ed25519" -k "$kh" -u "$LAB_USER" -port "$port" "$cmd"; fi
    fi
  done
  if wanted pssh; then
    if ! installed pssh; then note "$job" pssh "not installed"
    else
      cm=$(mktemp -d /tmp/loomrace-mux.XXXXXX); MUX_DIRS=("$cm")
      local x="-F $cfg -o ControlMaster=auto -o ControlPersist=10m -o ControlPath=$cm/%C"
      measure "$job" "pssh + ControlPersist, cold" pssh:1 "$n" parallel-ssh -h "$hf" -p "$P" -l "$LAB_USER" -t 0 -x "$x" -i "$cmd"
      measure "$job" "pssh + ControlPersist, warm" pssh:1 "$n" parallel-ssh -h "$hf" -p "$P" -l "$LAB_USER" -t 0 -x "$x" -i "$cmd"
      mux_stop "$cm"
    fi
  fi
  if wanted ansible && [ "${WARM_ANSIBLE:-1}" = 1 ]; then
    if ! installed ansible; then note "$job" ansible "not installed"
    elif [ "$SKIP_ANSIBLE_ABOVE" -gt 0 ] && [ "$n" -gt "$SKIP_ANSIBLE_ABOVE" ]; then note "$job" ansible "skipped (SKIP_ANSIBLE_ABOVE=$SKIP_ANSIBLE_ABOVE)"
    else
      # Ansible's own ControlPersist (its default is 60s), with its ControlPath in a fresh directory
      cm=$(mktemp -d /tmp/loomrace-cp.XXXXXX); MUX_DIRS=("$cm")
      mkdir -p "$OUT/ansible/home"
      ansible_env "$cfg -o ControlMaster=auto -o ControlPersist=10m"
      ANS+=(ANSIBLE_SSH_CONTROL_PATH_DIR="$cm" HOME="$OUT/ansible/home")
      local inv; inv="$(paste -sd, "$hf"),"
      measure "$job" "Ansible + ControlPersist, cold" ansible "$n" "${ANS[@]}" ansible all -i "$inv" -f "$P" -u "$LAB_USER" -m command -a "$cmd"
      measure "$job" "Ansible + ControlPersist, warm" ansible "$n" "${ANS[@]}" ansible all -i "$inv" -f "$P" -u "$LAB_USER" -m command -a "$cmd"
      mux_stop "$cm"
    fi
  fi
}

# table_warm JOB TITLE [RTT_MS]: medians of repeated runs, with the CPU of the holder and the
# masters, sshd's connections, and the ratios the warm-run targets are about
table_warm() {
  local job=$1 title=$2 rtt=${3:-0}
  awk -F'\t' -v title="$title" -v rtt="$rtt" '
    function median(s,   a, k, i, j, t) {
      k = split(s, a, " ")
      for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j+1] = a[j]; a[j+1] = t }
      return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
    }
    function ratio(a, b) { return (a in wall) && (b in wall) && median(wall[b]) > 0 ? sprintf("%.2f×", median(wall[a]) / median(wall[b])) : "–" }
    $2 == "-" { if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1 }; text[$1] = $3; next }
    {
      if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1; ans[$1] = $6 }
      wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " $3; runs[$1]++
      if ($6 + 0 < ans[$1] + 0 || $6 !~ /^[0-9]+$/) ans[$1] = $6
      n[$1] = $7; srv[$1] = srv[$1] " " $9; bg[$1] = bg[$1] " " $10
      held[$1] = held[$1] " " $11; nw[$1] = nw[$1] " " $12
    }
    END {
      print "### " title
      print ""
      hr = rtt > 0 ? " round trips (wall / " rtt " ms) |" : ""
      print "| run | wall s | client CPU s | holder / masters CPU s | sshd CPU s | sshd connections open after (new) | hosts answered | wall / floor |" hr
      print "|---|---:|---:|---:|---:|---:|---:|---:|" (rtt > 0 ? "---:|" : "")
      for (i = 1; i <= no; i++) if (order[i] == "floor") { fl = "floor"; break }
      for (i = 1; i <= no; i++) {
        t = order[i]
        if (t in text) { printf "| %s | %s | | | | | | |%s\n", t, text[t], rtt > 0 ? " |" : ""; continue }
        w = median(wall[t])
        m = runs[t] > 1 ? sprintf(" (median of %d)", runs[t]) : ""
        rt = rtt > 0 ? sprintf(" %.1f |", w * 1000 / rtt) : ""
        printf "| %s | %.2f%s | %.2f | %.2f | %.2f | %d (%d) | %s/%s | %s |%s\n", t, w, m, median(cpu[t]), median(bg[t]), median(srv[t]), median(held[t]), median(nw[t]), ans[t], n[t], fl ? ratio(t, fl) : "–", rt
      }
      print ""
      print "- loom --persist warm / pssh + ControlPersist warm: " ratio("loom --persist, warm", "pssh + ControlPersist, warm")
      print "- loom --persist warm / Ansible + ControlPersist warm: " ratio("loom --persist, warm", "Ansible + ControlPersist, warm")
      print "- loom --persist warm / loom (direct): " ratio("loom --persist, warm", "loom")
      print "- loom (direct) / floor: " ratio("loom", "floor") "; loom --persist cold / floor: " ratio("loom --persist, cold", "floor")
      print "- pssh + ControlPersist warm / cold: " ratio("pssh + ControlPersist, warm", "pssh + ControlPersist, cold")
      print ""
    }' "$OUT/$job.rows" | tee -a "$OUT/tables.md"
  awk -F'\t' '$2 != "-" { w[$1] = w[$1] " " $2; c[$1]++ } END { for (t in w) if (c[t] > 1) printf "runs of %s (wall s):%s\n", t, w[t] }' "$OUT/$job.rows" | sort | tee -a "$OUT/tables.md"
  echo | tee -a "$OUT/tables.md" >/dev/null
}

# table_lat JOB TITLE RTT_MS: job g's one-host runs (bench/latency.sh lines: LABEL MS OK), through
# the delay ($OUT/JOB.runs) and without it ($OUT/JOB.runs0). Round trips on the wire: the median
# through the delay less the median without it, over the round trip: what is left is the client's
# and the server's own time, which is also in the plain "wall / RTT".
table_lat() {
  local job=$1 title=$2 rtt=$3
  awk -F'\t' -v title="$title" -v rtt="$rtt" '
    function sorted(s, a,   k, i, j, t) {
      k = split(s, a, " ")
      for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j+1] = a[j]; a[j+1] = t }
      return k
    }
    function pct(a, k, p,   i) { i = int(p * (k - 1) + 0.5) + 1; return a[i] }
    function med(a, k) { return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2 }
    FNR == NR { ms0[$1] = ms0[$1] " " $2; next }
    { if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1 }; ms[$1] = ms[$1] " " $2; runs[$1]++; ok[$1] += $3 }
    END {
      print "### " title
      print ""
      print "| run | median ms | p10 – p90 ms | fastest ms | runs answered | wall / RTT | median ms without the delay | round trips on the wire |"
      print "|---|---:|---:|---:|---:|---:|---:|---:|"
      for (i = 1; i <= no; i++) {
        t = order[i]; k = sorted(ms[t], a); m = med(a, k); med_[t] = m
        z = "–"; wire = "–"
        if (t in ms0) { k0 = sorted(ms0[t], b); m0 = med(b, k0); z = sprintf("%.1f", m0); wire = sprintf("%.2f", (m - m0) / rtt) }
        printf "| %s | %.1f | %.1f – %.1f | %.1f | %d/%d | %.2f | %s | %s |\n", t, m, pct(a, k, 0.1), pct(a, k, 0.9), a[1], ok[t], runs[t], m / rtt, z, wire
      }
      print ""
      if (("loom --persist, warm" in med_) && ("ssh + ControlPersist, warm" in med_))
        printf "- loom --persist warm / ssh + ControlPersist warm: %.2f×\n", med_["loom --persist, warm"] / med_["ssh + ControlPersist, warm"]
      if (("loom --persist, warm" in med_) && ("loom" in med_))
        printf "- loom --persist warm / loom (direct): %.2f×\n", med_["loom --persist, warm"] / med_["loom"]
      print ""
    }' "$OUT/$job.runs0" "$OUT/$job.runs" | tee -a "$OUT/tables.md"
}

hostsfile() { # N -> a file with the first N lab hosts
  local f=$OUT/hosts.$1
  [ -f "$f" ] || head -n "$1" "$LAB/hosts" > "$f"
  [ "$(wc -l < "$f")" = "$1" ] || die "the lab has fewer than $1 hosts: bench/lab.sh up $1"
  echo "$f"
}

ansible_env() { # CFG: sets ANS (env ...) for Ansible ad-hoc with its best settings here:
  # pipelining, no interpreter discovery, ssh options from the lab's ssh_config (no ControlMaster)
  mkdir -p "$OUT/ansible"
  [ -f "$OUT/ansible/ansible.cfg" ] || printf '[defaults]\n' > "$OUT/ansible/ansible.cfg"
  ANS=(env ANSIBLE_CONFIG="$OUT/ansible/ansible.cfg" ANSIBLE_HOME="$OUT/ansible" ANSIBLE_LOCAL_TEMP="$OUT/ansible/tmp"
    ANSIBLE_SSH_ARGS="-F $1" ANSIBLE_PIPELINING=True ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
    ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_DEPRECATION_WARNINGS=False)
}

# one_command JOB N CMD [CFG KNOWN_HOSTS PORT]: every tool runs CMD once on N hosts
one_command() {
  local job=$1 n=$2 cmd=$3 cfg=${4:-$CFG} kh=${5:-$LAB/known_hosts} port=${6:-22}
  local hf; hf=$(hostsfile "$n")
  : > "$OUT/$job.rows"
  for r in $(seq "$ROUNDS"); do
    for t in loom floor; do
      wanted $t || continue
      if ! installed $t; then [ "$r" = 1 ] && note "$job" $t "not installed"; continue; fi
      case $t in
      loom)  measure "$job" "loom#$r" loom "$n" "$BIN/loom" -F "$cfg" -H "@$hf" -P "$P" -- "$cmd" ;;
      floor) measure "$job" "floor#$r" colon "$n" "$BIN/floor" -h "$hf" -p "$P" -i "$LAB/id_ed25519" -k "$kh" -u "$LAB_USER" -port "$port" "$cmd" ;;
      esac
    done
  done
  for t in pdsh pssh clush fabric ansible; do
    wanted $t || continue
    if ! installed $t; then note "$job" $t "not installed"; continue; fi
    case $t in
    pdsh)   measure "$job" pdsh colon "$n" env PDSH_SSH_ARGS_APPEND="-F $cfg" pdsh -R ssh -l "$LAB_USER" -f "$P" -w "^$hf" "$cmd" ;;
    pssh)   measure "$job" pssh pssh:1 "$n" parallel-ssh -h "$hf" -p "$P" -l "$LAB_USER" -t 0 -x "-F $cfg" -i "$cmd" ;;
    clush)  measure "$job" clush colon "$n" clush -f "$P" --hostfile "$hf" -l "$LAB_USER" -o "-F $cfg" "$cmd" ;;
    fabric) measure "$job" fabric colon "$n" $PY "$here/fabric_race.py" -H "$hf" -P "$P" -u "$LAB_USER" -i "$LAB/id_ed25519" -p "$port" -k "$kh" "$cmd" ;;
    ansible)
      if [ "$SKIP_ANSIBLE_ABOVE" -gt 0 ] && [ "$n" -gt "$SKIP_ANSIBLE_ABOVE" ]; then note "$job" ansible "skipped (SKIP_ANSIBLE_ABOVE=$SKIP_ANSIBLE_ABOVE)"; continue; fi
      ansible_env "$cfg"
      measure "$job" ansible ansible "$n" "${ANS[@]}" ansible all -i "$(paste -sd, "$hf")," -f "$P" -u "$LAB_USER" -m command -a "$cmd" ;;
    esac
  done
}

# ten commands, each printing one line (so every tool's output shows which steps answered)
STEPS=('uname -n' 'id -un' 'pwd' 'ls -d /tmp' 'ls -d /etc' 'cat /etc/debian_version' 'date +%Y' 'echo step8' 'uname -s' 'id -u')

job_b() {
  local job=b n=100 hf; hf=$(hostsfile 100)
  : > "$OUT/$job.rows"
  for r in $(seq "$ROUNDS"); do
    if wanted loom; then
      if [ -x "$BIN/tenstep" ]; then measure $job "loom#$r" colon $n "$BIN/tenstep" -F "$CFG" -h "$hf" -P "$P" "${STEPS[@]}"
      else [ "$r" = 1 ] && note $job loom "bench/tenstep does not build against this Loom"; fi
    fi
    wanted floor && measure $job "floor#$r" colon $n "$BIN/floor" -h "$hf" -p "$P" -i "$LAB/id_ed25519" -k "$LAB/known_hosts" -u "$LAB_USER" "${STEPS[@]}"
  done
  for t in fabric pssh pdsh clush; do
    wanted $t || continue
    if ! installed $t; then note $job "$t" "not installed"; continue; fi
    case $t in
    fabric) measure $job "fabric" colon $n $PY "$here/fabric_race.py" -H "$hf" -P "$P" -u "$LAB_USER" -i "$LAB/id_ed25519" -k "$LAB/known_hosts" "${STEPS[@]}" ;;
    pssh)   measure $job "pssh×10" pssh:10 $n "$here/loops.sh" steps pssh "$hf" "$P" "$LAB_USER" "$CFG" "${STEPS[@]}" ;;
    pdsh)   measure $job "pdsh×10" lines:10 $n "$here/loops.sh" steps pdsh "$hf" "$P" "$LAB_USER" "$CFG" "${STEPS[@]}" ;;
    clush)  measure $job "clush×10" lines:10 $n "$here/loops.sh" steps clush "$hf" "$P" "$LAB_USER" "$CFG" "${STEPS[@]}" ;;
    esac
  done
}

job_c() {
  local job=c n=50 fp=50 hf; hf=$(hostsfile 50)
  local src=$LAB/file10m
  [ -f "$src" ] || head -c 10485760 /dev/urandom > "$src"
  chmod 644 "$src"
  rm -rf "${PUTDIR:?}"/*; mkdir -p "$PUTDIR"; chown "$LAB_USER" "$PUTDIR"
  : > "$OUT/$job.rows"
  if wanted loom; then
    if [ "$have_put_cli" = yes ]; then measure $job "loom put" loomsum $n "$BIN/loom" put -F "$CFG" -H "@$hf" -P $fp "$src" "$PUTDIR/loomcli.bin"
    else note $job "loom put" "not available yet (\`loom put -h\`: $(head -1 "$RAW/loom-put-h.out"))"; fi
    if [ "$have_put" = yes ]; then measure $job "loom Conn.Put" colon $n "$BIN/put-lib" -mode put -F "$CFG" -h "$hf" -P $fp -src "$src" -dst "$PUTDIR/loomlib.bin"
    else note $job "loom Conn.Put" "not available yet (no func (c *Conn) Put)"; fi
    if [ -x "$BIN/put" ]; then measure $job "loom Stdin→cat" colon $n "$BIN/put" -F "$CFG" -h "$hf" -P $fp -src "$src" -dst "$PUTDIR/loom.bin"
    else note $job "loom Stdin→cat" "bench/put does not build against this Loom"; fi
  fi
  wanted floor && measure $job "floor stdin→cat" colon $n "$BIN/floor" -h "$hf" -p $fp -i "$LAB/id_ed25519" -k "$LAB/known_hosts" -u "$LAB_USER" -stdin "$src" "cat > $PUTDIR/floor.bin"
  measure $job "scp (xargs -P)" colon $n "$here/loops.sh" scp "$hf" $fp "$CFG" "$src" "$PUTDIR/scp.bin"
  if wanted pssh; then
    if command -v parallel-scp >/dev/null; then measure $job "parallel-scp" pssh:1 $n parallel-scp -h "$hf" -p $fp -l "$LAB_USER" -t 0 -x "-F $CFG" "$src" "$PUTDIR/pscp.bin"
    else note $job parallel-scp "not installed"; fi
  fi
  if wanted pdsh; then
    if command -v pdcp >/dev/null; then measure $job "pdcp" silent $n env PDSH_SSH_ARGS_APPEND="-F $CFG" pdcp -R ssh -l "$LAB_USER" -f $fp -w "^$hf" "$src" "$PUTDIR/pdcp.bin"
    else note $job pdcp "not installed"; fi
  fi
  if wanted clush; then
    if installed clush; then measure $job "clush --copy" silent $n clush -f $fp --hostfile "$hf" -l "$LAB_USER" -o "-F $CFG" --copy "$src" --dest "$PUTDIR/clush.bin"
    else note $job "clush --copy" "not installed"; fi
  fi
  if wanted fabric; then
    if installed fabric; then measure $job "fabric put" colon $n $PY "$here/fabric_race.py" -H "$hf" -P $fp -u "$LAB_USER" -i "$LAB/id_ed25519" -k "$LAB/known_hosts" --put "$src" "$PUTDIR/fabric.bin"
    else note $job "fabric put" "not installed"; fi
  fi
  if wanted ansible; then
    if installed ansible; then ansible_env "$CFG"; measure $job "ansible copy" ansible $n "${ANS[@]}" ansible all -i "$(paste -sd, "$hf")," -f $fp -u "$LAB_USER" -m copy -a "src=$src dest=$PUTDIR/ansible.bin"
    else note $job "ansible copy" "not installed"; fi
  fi
  # every file written must be the source, byte for byte
  local want; want=$(md5sum < "$src" | cut -d' ' -f1)
  local bad=0 total=0
  for f in "$PUTDIR"/*; do total=$((total + 1)); [ "$(md5sum < "$f" | cut -d' ' -f1)" = "$want" ] || bad=$((bad + 1)); done
  echo "files written: $total, differing from the source: $bad" | tee -a "$OUT/c.check" >&2
  rm -rf "${PUTDIR:?}"/*
}

restore() {
  [ -f "$OUT/.defaults-on" ] && { "$here/lab.sh" defaults off >&2; rm -f "$OUT/.defaults-on"; }
  [ -f "$OUT/.delay-on" ] && { "$here/lab.sh" delay off >&2; rm -f "$OUT/.delay-on"; }
  return 0
}
cleanup() { # at exit: this race's holder and masters, and their directories
  restore
  local d
  for d in "${MUX_DIRS[@]}"; do mux_stop "$d"; done
  holder_pid >/dev/null && holder_stop
  rm -rf "$HOLDER_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg() { # JOB start|end: the machine's load average, kept for the table's title
  local l; l=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "load average at $2 of job $1: $l" >&2
  if [ "$2" = start ]; then printf 'load %s' "$l" > "$OUT/$1.load"; else printf ' → %s' "$l" >> "$OUT/$1.load"; fi
}

# job_g1: one host, cold and warm, each run timed inside the namespace (bench/latency.sh): without
# the delay first ($OUT/g1.runs0: what the client and the server cost), then through it
job_g1() {
  local cm h1; h1=$(hostsfile 1)
  cm=$(mktemp -d /tmp/loomrace-mux.XXXXXX); MUX_DIRS=("$cm")
  ip netns exec "$NS" env LOOM_HOLDER_DIR="$HOLDER_DIR" MUX_DIR="$cm" bash "$here/latency.sh" "$LAT_ROUNDS" "$(cat "$h1")" \
    "$BIN/loom" "$CFG" "$h1" "$BIN/floor" -p 1 -i "$LAB/id_ed25519" -k "$LAB/known_hosts" -u "$LAB_USER" -port 22 \
    > "$OUT/g1.runs0" 2> "$RAW/g1.err0"
  cat "$RAW/g1.err0" >&2
  ip netns exec "$NS" env LOOM_HOLDER_DIR="$HOLDER_DIR" MUX_DIR="$cm" bash "$here/latency.sh" "$LAT_ROUNDS" "$(cat "$h1")" \
    "$BIN/loom" "$CFG_DELAY" "$h1" "$BIN/floor" -p 1 -i "$LAB/id_ed25519" -k "$LAB/known_hosts.delay" -u "$LAB_USER" -port 2222 \
    > "$OUT/g1.runs" 2> "$RAW/g1.err"
  cat "$RAW/g1.err" >&2
  mux_stop "$cm"
  holder_pid >/dev/null && holder_stop
}

echo "race: jobs $JOBS; fan-out $P; tools $TOOLS; raw output in $OUT" >&2
cat "$OUT/versions" >&2
for j in $JOBS; do
  echo "== job $j" >&2
  case $j in
  a[0-9]*)
    n=${j#a}
    one_command "$j" "$n" "uname -n"
    table "$j" "Job a: \`uname -n\` on $n hosts, fan-out $P$KEX_NOTE" ;;
  b)
    job_b
    table b "Job b: a ten-step task on 100 hosts, fan-out $P (Loom, the floor and Fabric: one connection per host; pssh, pdsh, clush: run ten times$KEX_NOTE)" ;;
  c)
    job_c
    table c "Job c: a 10 MB file to 50 hosts, fan-out 50 (written to tmpfs$KEX_NOTE)"
    cat "$OUT/c.check" | tee -a "$OUT/tables.md" ;;
  d)
    "$here/lab.sh" defaults on >&2 && touch "$OUT/.defaults-on"
    sleep 1
    one_command d 1000 "uname -n"
    # Loom with handshakes capped at sshd's MaxStartups start value
    wanted loom && measure d "loom --handshakes 10" loom 1000 "$BIN/loom" -F "$CFG" -H "@$(hostsfile 1000)" -P "$P" --handshakes 10 -- "uname -n"
    restore
    table d "Job d: \`uname -n\` on 1,000 hosts, fan-out $P, against sshd's defaults (MaxStartups 10:30:100, MaxSessions 10$KEX_NOTE)" ;;
  e)
    "$here/lab.sh" delay on 25 >&2 && touch "$OUT/.delay-on"
    one_command e 100 "uname -n" "$CFG_DELAY" "$LAB/known_hosts.delay" 2222
    restore
    table e "Job e: \`uname -n\` on 100 hosts, fan-out $P, 25 ms each way (50 ms round trip) through bench/delayproxy$KEX_NOTE" ;;
  f[0-9]*)
    n=${j#f}
    loadavg "$j" start
    warm_rows "$j" "$n" "$(hostsfile "$n")" "$CFG" "$LAB/known_hosts" 22
    loadavg "$j" end
    table_warm "$j" "Job f: \`uname -n\` twice in a row on $n hosts, cold then warm, fan-out $P$KEX_NOTE ($(cat "$OUT/$j.load"))" ;;
  g)
    "$here/lab.sh" delay on "$DELAY_MS" >&2 && touch "$OUT/.delay-on"
    loadavg g1 start
    job_g1
    loadavg g1 end
    table_lat g1 "Job g: \`uname -n\` on one host, $((2 * DELAY_MS)) ms round trip through bench/delayproxy, $LAT_ROUNDS rounds$KEX_NOTE ($(cat "$OUT/g1.load"))" $((2 * DELAY_MS))
    loadavg g100 start
    warm_rows g100 100 "$(hostsfile 100)" "$CFG_DELAY" "$LAB/known_hosts.delay" 2222
    loadavg g100 end
    restore
    table_warm g100 "Job g: \`uname -n\` on 100 hosts, $((2 * DELAY_MS)) ms round trip, cold then warm, fan-out $P$KEX_NOTE ($(cat "$OUT/g100.load"))" $((2 * DELAY_MS)) ;;
  *) echo "race.sh: unknown job $j" >&2 ;;
  esac
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/versions" >&2
echo "tables: $OUT/tables.md" >&2
