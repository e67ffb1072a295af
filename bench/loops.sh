#!/bin/sh
# Helpers for bench/race.sh: tools run once per host or once per step, one after another.
#
#   loops.sh steps TOOL HOSTS FANOUT USER SSH_CONFIG STEP...
#       run each STEP on every host with TOOL (pssh, pdsh or clush), one STEP after
#       another: a ten-step task the way those tools do it
#   loops.sh scp HOSTS FANOUT SSH_CONFIG SRC DST
#       scp SRC to HOST:DST, FANOUT hosts at once (xargs -P); prints "HOST: ok" for each
set -u
what=$1; shift
case $what in
steps)
  tool=$1 hosts=$2 p=$3 user=$4 cfg=$5; shift 5
  for c in "$@"; do
    case $tool in
    pssh)  parallel-ssh -h "$hosts" -p "$p" -l "$user" -t 0 -x "-F $cfg" -i "$c" ;;
    pdsh)  PDSH_SSH_ARGS_APPEND="-F $cfg" pdsh -R ssh -l "$user" -f "$p" -w "^$hosts" "$c" ;;
    clush) clush -f "$p" --hostfile "$hosts" -l "$user" -o "-F $cfg" "$c" ;;
    *) echo "loops.sh: unknown tool $tool" >&2; exit 2 ;;
    esac
  done
  ;;
scp)
  hosts=$1 p=$2 cfg=$3 src=$4 dst=$5
  xargs -P "$p" -I{} sh -c 'scp -q -F "$1" "$2" "$4:$3" && echo "$4: ok"' sh "$cfg" "$src" "$dst" {} < "$hosts"
  ;;
*) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
