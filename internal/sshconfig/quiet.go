package sshconfig

import "strings"

// quietUnsupported are the unsupported directives whose absence leaves a
// run's result as the user meant it: checks Loom makes stricter or skips
// as harmless extras (CheckHostIP, UpdateHostKeys…), transport details
// (Compression, IPQoS, RekeyLimit…) and session details Loom decides per
// task (RequestTTY, StdinNull…), and GSSAPI, which Debian, Ubuntu and
// Fedora turn on for every host in /etc/ssh/ssh_config (a host that needs
// it fails authentication with an error naming the methods it accepts).
// Ignoring them is said with -v only. Every
// other unsupported directive that applies to a host changes what the
// user asked for (a tunnel, a key provider, a way to check host keys, a
// source address, a Match block that never matches),
// and a run says so once.
var quietUnsupported = map[string]bool{
	"addkeystoagent": true, "canonicalizehostname": true, "channeltimeout": true,
	"checkhostip": true, "gssapiauthentication": true, "gssapidelegatecredentials": true, "gssapikeyexchange": true, "compression": true, "forkafterauthentication": true,
	"hostbasedacceptedalgorithms": true, "ipqos": true, "nohostauthenticationforlocalhost": true,
	"rekeylimit": true, "requesttty": true, "sessiontype": true, "stdinnull": true,
	"tcpkeepalive": true, "updatehostkeys": true, "usekeychain": true, "verifyhostkeydns": true,
}

// QuietUnsupported reports whether the unsupported directive name (an
// entry of Host.Unsupported) may be ignored without a warning: see
// quietUnsupported.
func QuietUnsupported(name string) bool { return quietUnsupported[strings.ToLower(name)] }
