package sshconfig

import "strings"

// quietUnsupported are the unsupported directives whose absence leaves a
// run's result as the user meant it: checks Loom makes stricter or skips
// as harmless extras (CheckHostIP, UpdateHostKeys…), transport details
// (Compression, IPQoS, RekeyLimit…) and session details Loom decides per
// task (RequestTTY, StdinNull…). Ignoring them is said with -v only. Every
// other unsupported directive that applies to a host changes what the
// user asked for (an environment variable, a tunnel, a way to
// authenticate or to check host keys, a Match block that never matches),
// and a run says so once.
var quietUnsupported = map[string]bool{
	"addkeystoagent": true, "canonicalizehostname": true, "channeltimeout": true,
	"checkhostip": true, "compression": true, "forkafterauthentication": true,
	"hostbasedacceptedalgorithms": true, "ipqos": true, "nohostauthenticationforlocalhost": true,
	"rekeylimit": true, "requesttty": true, "sessiontype": true, "stdinnull": true,
	"tcpkeepalive": true, "updatehostkeys": true, "usekeychain": true, "verifyhostkeydns": true,
}

// QuietUnsupported reports whether the unsupported directive name (an
// entry of Host.Unsupported) may be ignored without a warning: see
// quietUnsupported.
func QuietUnsupported(name string) bool { return quietUnsupported[strings.ToLower(name)] }
