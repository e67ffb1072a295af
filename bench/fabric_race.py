#!/usr/bin/python3
"""Fabric 2 for bench/race.sh: ThreadingGroup with a fan-out.

    fabric_race.py -H HOSTS -P N -u USER -i KEY [-p PORT] [-k KNOWN_HOSTS] CMD...
    fabric_race.py ... --put SRC DST

Fabric's own ThreadingGroup starts one thread per host at once, with no limit.
To race it at the same fan-out as the other tools, each thread here waits for
one of N slots before it connects and gives its slot back (closing its
connection) when it is done; everything else is ThreadingGroup._do unchanged.

Several CMDs run one after another on the host's one Connection (job b).
With --put, SRC is put (SFTP, Fabric's Connection.put) to DST.HOST on each host:
a path per host, because paramiko checks the remote size after writing and all
lab hosts share one file system.

Host keys: Fabric accepts any key by default (paramiko AutoAddPolicy). With -k
the known_hosts file is read once and each connection gets its host's key and
RejectPolicy, so Fabric checks keys like the other tools at no extra cost.

Prints "HOST: OUTPUT" per host that succeeded (newlines shown as " ; "),
"HOST: error: ..." on stderr for the others, then "ok=N failed=M" on stderr.
"""
import argparse
import sys
import threading

from fabric import Config, Connection, ThreadingGroup
from fabric.exceptions import GroupException
from paramiko import HostKeys, RejectPolicy


class SlotConnection(Connection):
    """A Connection that holds one of the group's slots while it works."""

    slots = None  # threading.BoundedSemaphore, set in main

    def race_steps(self, cmds):
        with self.slots:
            try:
                return "".join(self.run(c, hide=True, in_stream=False).stdout for c in cmds)
            finally:
                self.close()

    def race_put(self, src, dst):
        with self.slots:
            try:
                self.put(src, "%s.%s" % (dst, self.host))
                return "ok\n"
            finally:
                self.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", dest="hosts", required=True, help="hosts file")
    ap.add_argument("-P", dest="par", type=int, default=100, help="hosts at once")
    ap.add_argument("-u", dest="user", default="loombench")
    ap.add_argument("-i", dest="key", default="/tmp/loombench/id_ed25519")
    ap.add_argument("-p", dest="port", type=int, default=22)
    ap.add_argument("-k", dest="known_hosts", help="check host keys against this file")
    ap.add_argument("--put", nargs=2, metavar=("SRC", "DST"))
    ap.add_argument("cmds", nargs="*")
    a = ap.parse_args()
    if not a.cmds and not a.put:
        ap.error("a command or --put is needed")

    hosts = [h.strip() for h in open(a.hosts) if h.strip()]
    SlotConnection.slots = threading.BoundedSemaphore(a.par)
    config = Config(overrides={"load_ssh_configs": False})
    known = HostKeys(a.known_hosts) if a.known_hosts else None
    cxns = []
    for h in hosts:
        c = SlotConnection(
            h, user=a.user, port=a.port, config=config,
            connect_kwargs={"key_filename": a.key, "look_for_keys": False, "allow_agent": False},
        )
        if known is not None:
            name = h if a.port == 22 else "[%s]:%d" % (h, a.port)
            for keytype, key in (known.lookup(name) or {}).items():
                c.client.get_host_keys().add(name, keytype, key)
            c.client.set_missing_host_key_policy(RejectPolicy())
        cxns.append(c)
    g = ThreadingGroup.from_connections(cxns)
    try:
        if a.put:
            res = g._do("race_put", *a.put)
        else:
            res = g._do("race_steps", a.cmds)
    except GroupException as e:
        res = e.result
    ok = 0
    for c, r in res.items():
        if isinstance(r, BaseException):
            print("%s: error: %r" % (c.host, r), file=sys.stderr)
            continue
        ok += 1
        sys.stdout.write("%s: %s\n" % (c.host, r.rstrip("\n").replace("\n", " ; ")))
    print("ok=%d failed=%d" % (ok, len(res) - ok), file=sys.stderr)
    sys.exit(0 if ok == len(hosts) else 1)


if __name__ == "__main__":
    main()
