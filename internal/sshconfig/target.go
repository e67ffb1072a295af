package sshconfig

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Target is a destination as the user typed it on the command line or in an
// inventory: "host", "user@host", "user@host:port", "[::1]:2222", "::1" (a
// bare IPv6 address, without port) or "ssh://user@host:port".
type Target struct {
	User string // remote user; "" when not given
	Host string // host name, alias or address, without brackets
	Port int    // remote port; 0 when not given
}

// ParseTarget parses a destination. It accepts "[user@]host[:port]",
// "[user@][ipv6]:port", a bare IPv6 address (which cannot carry a port) and
// the ssh URI form "ssh://[user@]host[:port]". The user is everything
// before the last '@'.
//
// It rejects, with a one-line error naming the input, an empty host or
// user, an invalid port, whitespace and control characters anywhere, and a
// host or user starting with '-' (which another program could take for an
// option).
func ParseTarget(s string) (Target, error) {
	var t Target
	if s == "" {
		return t, fmt.Errorf("empty target")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return t, fmt.Errorf("invalid character %q in target %q", r, s)
		}
	}
	rest := s
	uri := false
	if len(rest) >= 6 && strings.EqualFold(rest[:6], "ssh://") {
		uri = true
		rest = rest[6:]
		rest = strings.TrimSuffix(rest, "/")
		if strings.Contains(rest, "/") {
			return t, fmt.Errorf("invalid ssh URI %q: a path is not allowed", s)
		}
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		user := rest[:i]
		rest = rest[i+1:]
		if uri {
			// ssh URIs may carry ";key=value" connection parameters
			// after the user (RFC draft); OpenSSH ignores them.
			if j := strings.IndexByte(user, ';'); j >= 0 {
				user = user[:j]
			}
			u, err := url.PathUnescape(user)
			if err != nil {
				return t, fmt.Errorf("invalid user in target %q: %v", s, err)
			}
			user = u
			for _, r := range user {
				if r <= ' ' || r == 0x7f {
					return t, fmt.Errorf("invalid character %q in user of target %q", r, s)
				}
			}
		}
		if user == "" {
			return t, fmt.Errorf("empty user in target %q", s)
		}
		if user[0] == '-' {
			return t, fmt.Errorf("invalid user %q in target %q: must not start with '-'", user, s)
		}
		if strings.ContainsRune(user, '/') {
			return t, fmt.Errorf("invalid user %q in target %q: must not contain '/'", user, s)
		}
		t.User = user
	}
	host, port, err := splitHostPort(rest, s)
	if err != nil {
		return Target{}, err
	}
	if err := checkHost(host); err != nil {
		return Target{}, fmt.Errorf("%v in target %q", err, s)
	}
	t.Host = host
	t.Port = port
	return t, nil
}

// splitHostPort splits "host", "host:port", "[host]:port", "[host]" and a
// bare IPv6 address. orig is the whole target, for error messages.
func splitHostPort(hp, orig string) (host string, port int, err error) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("missing ']' in target %q", orig)
		}
		host = hp[1:end]
		after := hp[end+1:]
		switch {
		case after == "":
			return host, 0, nil
		case after[0] == ':':
			port, err = parsePortIn(after[1:], orig)
			return host, port, err
		default:
			return "", 0, fmt.Errorf("unexpected %q after ']' in target %q", after, orig)
		}
	}
	switch strings.Count(hp, ":") {
	case 0:
		return hp, 0, nil
	case 1:
		i := strings.IndexByte(hp, ':')
		port, err = parsePortIn(hp[i+1:], orig)
		return hp[:i], port, err
	default:
		if _, perr := netip.ParseAddr(hp); perr != nil {
			return "", 0, fmt.Errorf("invalid host %q in target %q (write an IPv6 address with a port as [addr]:port)", hp, orig)
		}
		return hp, 0, nil
	}
}

func parsePortIn(p, orig string) (int, error) {
	n, ok := parsePort(p)
	if !ok {
		return 0, fmt.Errorf("invalid port %q in target %q", p, orig)
	}
	return n, nil
}

// parsePort parses a decimal TCP port in 1..65535.
func parsePort(p string) (int, bool) {
	if p == "" || len(p) > 5 {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// checkHost validates a host name or address used as a destination.
func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if h[0] == '-' {
		return fmt.Errorf("invalid host %q: must not start with '-'", h)
	}
	for _, r := range h {
		switch {
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("invalid character %q in host %q", r, h)
		case r == '@' || r == '/' || r == ',' || r == '[' || r == ']':
			return fmt.Errorf("invalid character %q in host %q", r, h)
		}
	}
	return nil
}

// String formats t back into the "user@host:port" form, bracketing an IPv6
// address when a port is present. ParseTarget(t.String()) returns t.
func (t Target) String() string {
	var b strings.Builder
	if t.User != "" {
		b.WriteString(t.User)
		b.WriteByte('@')
	}
	host := t.Host
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); t.Port != 0 || err != nil {
			host = "[" + host + "]"
		}
	}
	b.WriteString(host)
	if t.Port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(t.Port))
	}
	return b.String()
}
