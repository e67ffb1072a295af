package hostkey

import (
	"fmt"
	"strings"
)

// Policy says what to do with a host key that known_hosts does not vouch for.
// It corresponds to ssh_config's StrictHostKeyChecking.
type Policy int

const (
	// Strict refuses a host whose key is unknown or has changed. It is the
	// default (the zero value) and never writes to known_hosts.
	Strict Policy = iota
	// AcceptNew records the key of a host that known_hosts knows nothing about
	// in the first user known_hosts file, and refuses a changed key. A host
	// with known keys of other types only is treated as changed (see
	// [DB.Callback]).
	AcceptNew
	// Off accepts any key that is not revoked and never writes known_hosts.
	// A key that differs from the known ones is reported as a warning.
	// Use it only for throw-away hosts.
	Off
)

// ParsePolicy parses a StrictHostKeyChecking value, case-insensitively:
// "yes", "true" or "strict" give [Strict]; "accept-new" gives [AcceptNew];
// "no", "false" or "off" give [Off]. "ask", ssh's interactive default, gives
// [Strict], since a parallel run never prompts.
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "strict", "ask":
		return Strict, nil
	case "accept-new":
		return AcceptNew, nil
	case "no", "false", "off":
		return Off, nil
	}
	return Strict, fmt.Errorf("hostkey: unknown host key checking policy %q (want yes, accept-new or no)", s)
}

// String returns the StrictHostKeyChecking spelling of p: "yes",
// "accept-new" or "no". An out-of-range value behaves as Strict and prints
// as "yes".
func (p Policy) String() string {
	switch p {
	case AcceptNew:
		return "accept-new"
	case Off:
		return "no"
	}
	return "yes"
}
