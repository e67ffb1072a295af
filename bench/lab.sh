#!/usr/bin/env bash
# A lab of N real OpenSSH "hosts" on one machine, for bench/race.sh.
#
#   bench/lab.sh up N          build or grow the lab (idempotent): N hosts 127.0.X.Y
#   bench/lab.sh exec CMD...   run CMD inside the lab's network namespace (every client must)
#   bench/lab.sh defaults on   sshd with OpenSSH's defaults: MaxStartups 10:30:100, MaxSessions 10
#   bench/lab.sh defaults off  back to the lab's raised limits
#   bench/lab.sh delay on [MS] start bench/delayproxy: 127.0.X.Y:2222 -> 127.0.X.Y:22, MS each way (default 25)
#   bench/lab.sh delay off
#   bench/lab.sh status
#   bench/lab.sh down          stop sshd and the proxy, delete the namespace
#   bench/lab.sh purge         down, then delete the lab user and $LAB
#
# What it builds: a network namespace ($NS, default "loombench") holding only a loopback
# interface, so nothing in it can reach or be reached from any real network; one sshd
# listening on 0.0.0.0:22 inside it, which answers on every 127.X.Y.Z address, so each
# address is a "host"; a throwaway system user ($LAB_USER, default "loombench", shell
# /bin/sh, home $LAB/home, no password); and under $LAB (default /tmp/loombench):
#
#   hosts                    one address a line (127.0.1.1 ... 250 a block, then 127.0.2.1 ...)
#   id_ed25519               the client key, authorized for the lab user
#   known_hosts              one line per host (as on a real fleet)
#   ssh_config               Host 127.*: User, IdentityFile, known_hosts, strict host keys, BatchMode
#   ssh_config.delay         the same through the delaying proxy (Port 2222)
#   known_hosts.delay        [127.0.X.Y]:2222 entries for it
#   sshd_config, sshd.pid    the lab's sshd
#
# Every "host" shares one sshd, so its MaxStartups (unauthenticated connections at once)
# and MaxSessions (sessions per connection) are raised; `defaults on` puts OpenSSH's
# defaults back to see what a tool loses against a stock sshd.
#
# Needs: root (network namespace, a system user, sshd on port 22), and the Debian
# packages iproute2 and openssh-server (openssh-client for the peers). The peers that
# race.sh compares against: apt-get install -y pdsh pssh clustershell fabric ansible-core
set -euo pipefail
LAB=${LAB:-/tmp/loombench}
NS=${NS:-loombench}
LAB_USER=${LAB_USER:-loombench}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

die() { echo "lab.sh: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespace, system user, sshd)"; }

sshd_running() { [ -f "$LAB/sshd.pid" ] && kill -0 "$(cat "$LAB/sshd.pid")" 2>/dev/null; }
proxy_running() { [ -f "$LAB/delayproxy.pid" ] && kill -0 "$(cat "$LAB/delayproxy.pid")" 2>/dev/null; }

# addr I: the I-th host address (1-based), 250 per /24 block, starting at 127.0.1.1
addr() { echo "127.0.$(( ($1 - 1) / 250 + 1 )).$(( ($1 - 1) % 250 + 1 ))"; }

write_sshd_config() { # defaults: "on" for OpenSSH's limits, "off" for the lab's
  local startups=100000:100:100000 sessions=1000
  if [ "$1" = on ]; then startups=10:30:100; sessions=10; fi
  cat > "$LAB/sshd_config" <<CFG
# written by bench/lab.sh (defaults $1)
ListenAddress 0.0.0.0:22
HostKey $LAB/hostkey
PidFile $LAB/sshd.pid
AuthorizedKeysFile $LAB/authorized_keys
AllowUsers $LAB_USER
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PrintMotd no
PrintLastLog no
LogLevel ERROR
MaxStartups $startups
MaxSessions $sessions
AllowAgentForwarding yes
AllowTcpForwarding yes
Subsystem sftp internal-sftp
CFG
  echo "$1" > "$LAB/defaults"
}

start_sshd() {
  mkdir -p /run/sshd
  /usr/sbin/sshd -t -f "$LAB/sshd_config"
  ip netns exec "$NS" /usr/sbin/sshd -f "$LAB/sshd_config"
  for _ in $(seq 50); do sshd_running && { sshd_cgroup; return 0; }; sleep 0.1; done
  die "sshd did not start"
}

# sshd_cgroup puts the lab's sshd in a CPU-accounting cgroup of its own, so that the CPU of
# every process it starts is counted, even those it never reaps: with an OpenSSH client, the
# per-connection sshd that ran the session is often not waited for by the one that forked it,
# and its CPU never reaches the master's cutime (with a 400 MB stream into cat: 0.01 s there,
# 0.4 s really). Records the cgroup's usage file in $LAB/sshd.cpu; without cgroups, none.
sshd_cgroup() {
  local pid; pid=$(cat "$LAB/sshd.pid")
  rm -f "$LAB/sshd.cpu"
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then # cgroup v2
    local cg=/sys/fs/cgroup/$NS-sshd
    mkdir -p "$cg" 2>/dev/null && echo "$pid" > "$cg/cgroup.procs" 2>/dev/null && echo "$cg/cpu.stat" > "$LAB/sshd.cpu"
  elif [ -d /sys/fs/cgroup/cpuacct ]; then # cgroup v1
    local cg=/sys/fs/cgroup/cpuacct/$NS-sshd
    mkdir -p "$cg" 2>/dev/null && echo "$pid" > "$cg/cgroup.procs" 2>/dev/null && echo "$cg/cpuacct.usage" > "$LAB/sshd.cpu"
  fi
  [ -f "$LAB/sshd.cpu" ] || echo "lab: no cgroup for sshd: sshd CPU will be the master's reaped children only (an undercount with OpenSSH clients)" >&2
}

stop_sshd() {
  if sshd_running; then
    local pid; pid=$(cat "$LAB/sshd.pid")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$LAB/sshd.pid"
  if [ -f "$LAB/sshd.cpu" ]; then rmdir "$(dirname "$(cat "$LAB/sshd.cpu")")" 2>/dev/null || true; rm -f "$LAB/sshd.cpu"; fi
}

stop_proxy() {
  if proxy_running; then kill "$(cat "$LAB/delayproxy.pid")"; fi
  rm -f "$LAB/delayproxy.pid"
}

cmd=${1:-}; shift || true
case "$cmd" in
up)
  need_root
  n=${1:-100}
  [ "$n" -ge 1 ] && [ "$n" -le 62500 ] || die "N must be 1..62500"
  command -v /usr/sbin/sshd >/dev/null || die "no /usr/sbin/sshd: apt-get install -y openssh-server"
  mkdir -p "$LAB"; chmod 755 "$LAB"
  [ -f "$LAB/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -C loombench-host -f "$LAB/hostkey"
  [ -f "$LAB/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C loombench-client -f "$LAB/id_ed25519"
  # A plain user with a plain shell: a login costs one sh, not a profile full of processes.
  if ! id "$LAB_USER" >/dev/null 2>&1; then
    useradd -r -M -d "$LAB/home" -s /bin/sh "$LAB_USER"
    usermod -p '*' "$LAB_USER"
  fi
  mkdir -p "$LAB/home"; chown "$LAB_USER" "$LAB/home"
  # where the file-copy job writes (tmpfs: the lab measures SSH, not a disk)
  mkdir -p /dev/shm/loombench-put; chown "$LAB_USER" /dev/shm/loombench-put
  cp "$LAB/id_ed25519.pub" "$LAB/authorized_keys"; chmod 644 "$LAB/authorized_keys"
  hk=$(cut -d' ' -f1,2 "$LAB/hostkey.pub")
  : > "$LAB/hosts.tmp"; : > "$LAB/known_hosts.tmp"; : > "$LAB/known_hosts.delay.tmp"
  for i in $(seq 1 "$n"); do
    a=$(addr "$i")
    echo "$a" >> "$LAB/hosts.tmp"
    echo "$a $hk" >> "$LAB/known_hosts.tmp"
    echo "[$a]:2222 $hk" >> "$LAB/known_hosts.delay.tmp"
  done
  mv "$LAB/hosts.tmp" "$LAB/hosts"; mv "$LAB/known_hosts.tmp" "$LAB/known_hosts"
  mv "$LAB/known_hosts.delay.tmp" "$LAB/known_hosts.delay"
  chmod 644 "$LAB/hosts" "$LAB/known_hosts" "$LAB/known_hosts.delay"
  for v in "" .delay; do
    port=22; [ -n "$v" ] && port=2222
    cat > "$LAB/ssh_config$v" <<CFG
# written by bench/lab.sh
Host 127.*
  User $LAB_USER
  Port $port
  IdentityFile $LAB/id_ed25519
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $LAB/known_hosts$v
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  ForwardAgent no
  ForwardX11 no
  ControlMaster no
  ControlPath none
  LogLevel ERROR
CFG
  done
  if ! ip netns list | grep -qw "$NS"; then
    ip netns add "$NS"
    ip -n "$NS" link set lo up
  fi
  if ! sshd_running; then
    write_sshd_config "$(cat "$LAB/defaults" 2>/dev/null || echo off)"
    start_sshd
  fi
  echo "lab up: $n hosts in $LAB/hosts (netns $NS, sshd pid $(cat "$LAB/sshd.pid"), user $LAB_USER, sshd defaults $(cat "$LAB/defaults"))"
  ;;
exec)
  exec ip netns exec "$NS" "$@"
  ;;
defaults)
  need_root
  case "${1:-}" in on|off) ;; *) die "usage: lab.sh defaults on|off" ;; esac
  ip netns list | grep -qw "$NS" || die "lab is not up"
  write_sshd_config "$1"
  stop_sshd; start_sshd
  echo "sshd restarted with defaults $1: $(grep -E '^Max(Startups|Sessions)' "$LAB/sshd_config" | paste -sd' ')"
  ;;
delay)
  need_root
  case "${1:-}" in
  on)
    ms=${2:-25}
    ip netns list | grep -qw "$NS" || die "lab is not up"
    stop_proxy
    mkdir -p "$LAB/bin"
    (cd "$repo" && go build -o "$LAB/bin/delayproxy" ./bench/delayproxy)
    ip netns exec "$NS" "$LAB/bin/delayproxy" -h "$LAB/hosts" -port 2222 -to 22 -delay "${ms}ms" \
      </dev/null >"$LAB/delayproxy.log" 2>&1 &
    echo $! > "$LAB/delayproxy.pid"
    for _ in $(seq 100); do grep -q '^listening' "$LAB/delayproxy.log" 2>/dev/null && break; sleep 0.1; done
    grep -q '^listening' "$LAB/delayproxy.log" || { cat "$LAB/delayproxy.log" >&2; die "delayproxy did not start"; }
    echo "delay on: ${ms} ms each way on :2222 ($(cat "$LAB/delayproxy.log" | head -1)); use $LAB/ssh_config.delay"
    ;;
  off) stop_proxy; echo "delay off" ;;
  *) die "usage: lab.sh delay on [MS] | off" ;;
  esac
  ;;
status)
  ip netns list | grep -qw "$NS" && echo "netns $NS: up" || echo "netns $NS: down"
  sshd_running && echo "sshd: pid $(cat "$LAB/sshd.pid"), defaults $(cat "$LAB/defaults" 2>/dev/null)" || echo "sshd: not running"
  proxy_running && echo "delayproxy: pid $(cat "$LAB/delayproxy.pid")" || echo "delayproxy: not running"
  [ -f "$LAB/hosts" ] && echo "hosts: $(wc -l < "$LAB/hosts") in $LAB/hosts"
  ;;
down)
  need_root
  stop_proxy
  stop_sshd
  if ip netns list | grep -qw "$NS"; then ip netns del "$NS"; fi
  rm -rf /dev/shm/loombench-put
  echo "lab down"
  ;;
purge)
  need_root
  "$0" down
  if id "$LAB_USER" >/dev/null 2>&1; then userdel "$LAB_USER"; fi
  rm -rf "$LAB"
  echo "lab purged"
  ;;
*)
  sed -n '2,12p' "$0" >&2
  exit 2
  ;;
esac
