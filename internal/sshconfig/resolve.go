package sshconfig

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are command-line overrides. They take precedence over every
// configuration file, as ssh's -l, -p, -i and -o do, and carry the facts
// about the local side that tokens and "~" need.
type Options struct {
	// User is the remote user (ssh -l). A user given in the target
	// ("user@host") beats it: the target is per host, Options are for
	// every host. Both beat User in the files.
	User string
	// Port is the remote port (ssh -p); 0 means unset. A port in the
	// target beats it; both beat Port in the files.
	Port int
	// IdentityFiles (ssh -i) are tried before the files' IdentityFile
	// entries. They get the same "~" and token expansion.
	IdentityFiles []string
	// Set holds -o options, in command-line order, each "Keyword=value"
	// or "Keyword value" (keywords are case-insensitive). They are read
	// before the files, so for each keyword the first value wins, except
	// for keywords that accumulate such as IdentityFile. Host, Match and
	// Include are not allowed; an unknown keyword is an error.
	Set []string

	// LocalUser is the local user name (%u, Match localuser, default
	// remote user). Empty means the current user.
	LocalUser string
	// HomeDir is the local home directory ("~", %d). Empty means the
	// current user's home directory.
	HomeDir string
	// LocalHostname is the local host name (%l; %L is the part before the
	// first dot). Empty means os.Hostname.
	LocalHostname string
	// UID is the local numeric user ID (%i). Empty means os.Getuid.
	UID string
	// LookupEnv reads environment variables for "${NAME}",
	// "IdentityAgent $NAME" and $SHELL (which runs Match exec commands).
	// Nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Stderr receives what Match exec commands write to their stderr
	// (ssh(1) leaves it on its own). Nil means os.Stderr.
	Stderr io.Writer
}

// Host is the effective configuration for one destination, as `ssh -G`
// computes it. Paths are expanded ("~", %-tokens, ${VAR}).
type Host struct {
	// Alias is the host as typed (OpenSSH's "original host", %n).
	Alias string
	// HostName is the name or address to connect to: HostName with its
	// %h expanded, or Alias; lower-cased (IP addresses in canonical form)
	// as ssh(1) does.
	HostName string
	// User is the remote user; by default the local user.
	User string
	// Port is the remote port; by default 22.
	Port int

	// IdentityFiles lists private key files in the order to try: those
	// from Options.IdentityFiles, then those from the files, without
	// duplicates ("IdentityFile none" adds none). When none was given at
	// all, it holds the OpenSSH defaults and DefaultIdentities is true.
	IdentityFiles []string
	// DefaultIdentities is true when IdentityFiles holds the OpenSSH
	// default key files; callers should skip the ones that do not exist
	// without complaint.
	DefaultIdentities bool
	// IdentitiesOnly restricts authentication to IdentityFiles (agent
	// keys are used only when they match one of them).
	IdentitiesOnly bool
	// CertificateFiles lists certificate files, in order.
	CertificateFiles []string
	// SendEnv lists the patterns of local environment variables sent with
	// each session (SendEnv, "-PATTERN" applied); SetEnv the NAME=VALUE
	// pairs sent after them (the first SetEnv line obtained). See Env.
	SendEnv []string
	SetEnv  []string
	// IdentityAgent is the agent socket: "" means $SSH_AUTH_SOCK, "none"
	// means no agent; otherwise an expanded path.
	IdentityAgent string

	// ConnectTimeout bounds the TCP connect and the SSH handshake; 0
	// means no timeout of its own.
	ConnectTimeout time.Duration
	// ServerAliveInterval is the keepalive interval; 0 (the OpenSSH
	// default) means no keepalives.
	ServerAliveInterval time.Duration
	// ServerAliveCountMax is how many unanswered keepalives end the
	// connection; by default 3.
	ServerAliveCountMax int
	// ConnectionAttempts is how many times to try connecting, one second
	// apart; by default (and at least) 1.
	ConnectionAttempts int
	// AddressFamily is "any" (default), "inet" (IPv4 only) or "inet6".
	AddressFamily string

	// StrictHostKeyChecking is "yes", "accept-new" or "no". "ask" and
	// unset become "yes" (Loom never asks); "off" and "false" are "no";
	// "true" is "yes".
	StrictHostKeyChecking string
	// UserKnownHostsFiles are the user's known_hosts files, by default
	// ~/.ssh/known_hosts and ~/.ssh/known_hosts2; "none" leaves it empty.
	UserKnownHostsFiles []string
	// GlobalKnownHostsFiles are the system's known_hosts files, by
	// default /etc/ssh/ssh_known_hosts and /etc/ssh/ssh_known_hosts2.
	GlobalKnownHostsFiles []string
	// HashKnownHosts asks for new known_hosts entries to be hashed.
	HashKnownHosts bool
	// HostKeyAlias, lower-cased, replaces the host name when looking up
	// and recording host keys.
	HostKeyAlias string
	// HostKeyAlgorithms is the raw HostKeyAlgorithms value ("" if unset),
	// possibly starting with '+', '-' or '^'; the names in it are known to
	// OpenSSH (checked when parsed). KexAlgorithms, Ciphers, MACs,
	// PubkeyAcceptedAlgorithms and CASignatureAlgorithms are the same for
	// their keywords. See AssembleAlgorithms.
	HostKeyAlgorithms        string
	KexAlgorithms            string
	Ciphers                  string
	MACs                     string
	PubkeyAcceptedAlgorithms string
	CASignatureAlgorithms    string
	// RequiredRSASize is the smallest RSA key accepted, host or user, in
	// bits (default 1024, as ssh(1)).
	RequiredRSASize int
	// RevokedHostKeys are the expanded paths of the revoked host keys
	// files (nil if unset or "none"): public keys, one a line, or OpenSSH
	// KRLs. OpenSSH refuses every host key when one of them cannot be read.
	RevokedHostKeys []string

	// ProxyJump lists the jump hosts, first hop first, each as
	// "[user@]host[:port]" with its %h, %n, %p and %r tokens expanded;
	// nil when unset or "none". As with ssh -J, each hop is a target to
	// Resolve on its own (the destination's settings do not apply to
	// it); a later hop is reached through the hops before it, which
	// replace its own ProxyJump, while the first hop keeps its own.
	ProxyJump []string
	// ProxyCommand is the raw ProxyCommand, as `ssh -G` prints it, when
	// it is in effect (it was obtained before any ProxyJump); "" when
	// unset or "none".
	ProxyCommand string
	// ProxyCommandLine is ProxyCommand with its tokens (%h %k %n %p %r
	// %%) expanded, as ssh(1) runs it through the user's shell after
	// "exec ".
	ProxyCommandLine string

	// ForwardAgent enables agent forwarding.
	ForwardAgent bool
	// ForwardAgentSocket is the agent to forward when ForwardAgent named
	// one (a path or $VAR); "" means the agent from IdentityAgent.
	ForwardAgentSocket string

	// BatchMode disables the prompts of connecting (passwords,
	// passphrases, keyboard-interactive questions).
	BatchMode bool
	// PasswordAuthentication allows the "password" method (default true).
	PasswordAuthentication bool
	// KbdInteractiveAuthentication allows "keyboard-interactive" (default
	// true).
	KbdInteractiveAuthentication bool
	// PubkeyAuthentication allows "publickey" (default true).
	PubkeyAuthentication bool
	// PreferredAuthentications orders the methods to try; nil means the
	// client's default order.
	PreferredAuthentications []string
	// NumberOfPasswordPrompts is how many times to ask for a password
	// (default 3).
	NumberOfPasswordPrompts int

	// ControlMaster is ssh_config's ControlMaster, lower-cased: "no"
	// (default), "yes", "auto", "ask" or "autoask". ControlPersist is how
	// long the connection stays held after its last use: 0 (default, or
	// "no"), Forever ("yes" or 0: until stopped) or a time. With both,
	// Loom holds the host's connection across runs (docs/connections.md).
	ControlMaster  string
	ControlPersist time.Duration
	// ControlPath is where an OpenSSH master for this host listens, with
	// "~", %-tokens and ${VAR} expanded as ssh(1) expands it; "" when
	// unset or "none". %C hashes %l%h%p%r%j, as OpenSSH 9.6 and later do.
	// ControlPathLegacy is the same path as OpenSSH before 9.6 expands
	// it, whose %C leaves the jump host out, when that differs (a host
	// with a ProxyJump and %C in its ControlPath); "" otherwise.
	ControlPath       string
	ControlPathLegacy string

	// Unsupported lists, sorted, the directives that apply to this host
	// and would change what ssh(1) does, but that Loom ignores, e.g.
	// "ProxyCommand", "ControlMaster" or "Match exec". See
	// UnsupportedDirectives.
	Unsupported []string
}

// Forever is ControlPersist's "yes": held until stopped.
const Forever = time.Duration(1<<63 - 1)

// Hold returns how long the host's connection is to be held across runs
// as ssh_config asks (ControlMaster yes or auto with ControlPersist); 0
// when it does not. ok is false when ControlMaster asks for a
// confirmation (ask, autoask) Loom cannot give.
func (h *Host) Hold() (d time.Duration, ok bool) {
	switch h.ControlMaster {
	case "yes", "auto":
		return h.ControlPersist, true
	case "ask", "autoask":
		return h.ControlPersist, h.ControlPersist == 0
	}
	return 0, true
}

// KnownHostsName returns the name to look up in known_hosts files. It is
// HostKeyAlias when set (used as is, whatever the port, as ssh(1) does);
// otherwise HostName, written "[name]:port" when the port is not 22.
func (h *Host) KnownHostsName() string {
	if h.HostKeyAlias != "" {
		return h.HostKeyAlias
	}
	if h.Port != 22 {
		return "[" + h.HostName + "]:" + strconv.Itoa(h.Port)
	}
	return h.HostName
}

// Addr returns "hostname:port" for net.Dial, with an IPv6 address in
// brackets.
func (h *Host) Addr() string {
	return net.JoinHostPort(h.HostName, strconv.Itoa(h.Port))
}

// defaultIdentities are the key files ssh(1) tries when none is configured
// (DSA and XMSS keys are left out: Loom cannot use them).
var defaultIdentities = []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk"}

// local describes the local side.
type local struct {
	user, home, hostname, short, uid string
	env                              func(string) (string, bool)
}

func (o *Options) local() (local, error) {
	l := local{user: o.LocalUser, home: o.HomeDir, hostname: o.LocalHostname, uid: o.UID, env: o.LookupEnv}
	if l.env == nil {
		l.env = os.LookupEnv
	}
	if l.user == "" || l.home == "" || l.uid == "" {
		u, err := currentUser()
		if err == nil {
			if l.user == "" {
				l.user = u.Username
			}
			if l.home == "" {
				l.home = u.HomeDir
			}
			if l.uid == "" {
				l.uid = u.Uid
			}
		}
		if l.user == "" {
			l.user, _ = l.env("USER")
		}
		if l.home == "" {
			l.home, _ = os.UserHomeDir()
		}
		if l.uid == "" {
			l.uid = strconv.Itoa(os.Getuid())
		}
		if l.user == "" {
			return l, fmt.Errorf("cannot determine the local user name")
		}
	}
	if l.hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		l.hostname = h
	}
	l.short, _, _ = strings.Cut(l.hostname, ".")
	return l, nil
}

// setting is one obtained value and where it came from.
type setting struct {
	val any
	src source
}

// state accumulates values while the files are walked.
type state struct {
	alias      string // as typed
	matchName  string // what Host lines match: the alias, then (final pass) the host name
	final      bool   // in the final pass
	hostname   string // fixed after the first pass
	fixed      bool
	loc        local
	vals       map[string]setting   // first value obtained, by canonical keyword
	lists      map[string][]setting // accumulated values
	notes      []string             // unsupported Match criteria met
	hostTokens map[byte]string
	cfg        *Config // for the Match exec cache
	stderr     io.Writer
}

// Resolve computes the effective settings for one target, as `ssh -G`
// would: the target and Options first, then the files in order, each
// keyword keeping the first value obtained. See ParseTarget for the
// target syntax.
func (c *Config) Resolve(target string, o Options) (*Host, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	return c.ResolveTarget(t, o)
}

// ResolveTarget is Resolve for an already parsed target.
func (c *Config) ResolveTarget(t Target, o Options) (*Host, error) {
	if err := checkHost(t.Host); err != nil {
		return nil, fmt.Errorf("target: %v", err)
	}
	if t.Port < 0 || t.Port > 65535 || o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("invalid port %d", max(t.Port, o.Port))
	}
	loc, err := o.local()
	if err != nil {
		return nil, err
	}
	s := &state{
		alias:     t.Host,
		matchName: t.Host,
		loc:       loc,
		vals:      map[string]setting{},
		lists:     map[string][]setting{},
		cfg:       c,
		stderr:    o.Stderr,
	}
	for _, u := range []struct{ user, src string }{{t.User, "target"}, {o.User, "command line (-l)"}} {
		if u.user == "" {
			continue
		}
		if err := checkUser(u.user); err != nil {
			return nil, fmt.Errorf("%s: %v", u.src, err)
		}
		s.setFirst("User", u.user, source{file: u.src})
	}
	if t.Port != 0 {
		s.setFirst("Port", t.Port, source{file: "target"})
	}
	if o.Port != 0 {
		s.setFirst("Port", o.Port, source{file: "command line (-p)"})
	}
	for _, f := range o.IdentityFiles {
		s.lists["IdentityFile"] = append(s.lists["IdentityFile"], setting{f, source{file: "command line (-i)"}})
	}
	ld := newLoader(loc.home)
	for _, opt := range o.Set {
		ln, err := ld.parseLine(opt, source{file: fmt.Sprintf("command-line option %q", opt)}, UserConfig, -1)
		if err != nil {
			return nil, err
		}
		s.apply(ln)
	}

	for _, f := range c.files {
		if err := s.walk(f); err != nil {
			return nil, err
		}
	}
	if s.hostname, err = s.currentHostName(); err != nil {
		return nil, err
	}
	s.fixed = true

	// ssh(1) reads the files again once the host name is known when a
	// Match line asks for the final pass, or when CanonicalizeHostname is
	// on (Loom does not canonicalize, but the second pass still happens).
	canon, ok := s.vals["CanonicalizeHostname"]
	if c.wantFinal || (ok && !isNo(canon.val)) {
		s.final = true
		s.matchName = s.hostname
		for _, f := range c.files {
			if err := s.walk(f); err != nil {
				return nil, err
			}
		}
	}
	return s.build()
}

func (s *state) has(name string) bool {
	_, ok := s.vals[name]
	return ok
}

func (s *state) setFirst(name string, v any, src source) {
	if !s.has(name) {
		s.vals[name] = setting{v, src}
	}
}

// apply records the value of an active line.
func (s *state) apply(ln *line) {
	kw := ln.kw
	switch {
	case kw.class == structural:
	case kw.name == "HostName" && s.fixed:
		// The host name is settled after the first pass.
	case kw.name == "ProxyJump":
		// ProxyJump and ProxyCommand compete: the first one obtained
		// wins. A ProxyJump other than "none" also settles
		// ProxyCommand, as ssh(1) does.
		if s.has("ProxyJump") || s.has("ProxyCommand") {
			return
		}
		s.vals["ProxyJump"] = setting{ln.val, ln.src}
		if ln.val.(jumpHosts) != nil {
			s.vals["ProxyCommand"] = setting{"none", ln.src}
		}
	case kw.multi:
		s.lists[kw.name] = append(s.lists[kw.name], setting{ln.val, ln.src})
	default:
		s.setFirst(kw.name, ln.val, ln.src)
	}
}

// walk applies one top-level file; each starts active.
func (s *state) walk(f *cfile) error {
	active := true
	return s.walkLines(f.lines, &active)
}

func (s *state) walkLines(lines []*line, active *bool) error {
	for _, ln := range lines {
		switch ln.kw.name {
		case "Host":
			*active = matchHost(s.matchName, ln.hosts)
		case "Match":
			m, err := s.evalMatch(ln)
			if err != nil {
				return err
			}
			*active = m
		case "Include":
			// An included file starts in the state of the block that
			// includes it, and its Host and Match lines do not leak out.
			if !*active {
				continue
			}
			for _, f := range ln.incl {
				a := true
				if err := s.walkLines(f.lines, &a); err != nil {
					return err
				}
			}
		default:
			if *active {
				s.apply(ln)
			}
		}
	}
	return nil
}

// evalMatch evaluates the criteria of a Match line; all must hold. A line
// with a criterion Loom does not evaluate never matches; it is noted when
// the other criteria hold.
func (s *state) evalMatch(ln *line) (bool, error) {
	result := true
	var unsup []string
	for _, c := range ln.crit {
		var r bool
		switch c.name {
		case "all":
			r = true
		case "canonical", "final":
			r = s.final
		case "host":
			h, err := s.currentHostName()
			if err != nil {
				return false, err
			}
			r = matchList(h, c.arg, true)
		case "originalhost":
			r = matchList(strings.ToLower(s.alias), c.arg, true)
		case "user":
			r = matchList(s.remoteUser(), c.arg, false)
		case "localuser":
			r = matchList(s.loc.user, c.arg, false)
		case "exec":
			if !result {
				continue // as ssh(1): not run when an earlier criterion failed
			}
			var err error
			if r, err = s.matchExec(ln, c.arg); err != nil {
				return false, err
			}
		default:
			unsup = append(unsup, "Match "+c.name)
			continue
		}
		if c.negate {
			r = !r
		}
		if !r {
			result = false
		}
	}
	if len(unsup) > 0 {
		if result {
			s.notes = append(s.notes, unsup...)
		}
		return false, nil
	}
	return result, nil
}

// currentHostName is the host name as known so far: HostName with %h
// expanded, or the alias; lower-cased.
func (s *state) currentHostName() (string, error) {
	h, err := s.rawHostName()
	if err != nil || s.fixed {
		return h, err
	}
	return canonicalHost(h), nil
}

// rawHostName is currentHostName before the final pass without the
// lower-casing: what ssh(1) gives a Match exec as %h then.
func (s *state) rawHostName() (string, error) {
	if s.fixed {
		return s.hostname, nil
	}
	h := s.alias
	if st, ok := s.vals["HostName"]; ok {
		v, err := expandTokens(st.val.(string), map[byte]string{'h': s.alias}, nil)
		if err != nil {
			return "", st.src.errorf("HostName: %v", err)
		}
		if err := checkHost(v); err != nil {
			return "", st.src.errorf("HostName: %v", err)
		}
		h = v
	}
	return h, nil
}

// canonicalHost lower-cases a host name and writes an IP address in its
// canonical form.
func canonicalHost(h string) string {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String()
	}
	return strings.ToLower(h)
}

func (s *state) remoteUser() string {
	if st, ok := s.vals["User"]; ok {
		return st.val.(string)
	}
	return s.loc.user
}

// tokens returns the values of the %-tokens for path-like keywords.
func (s *state) tokens(h *Host) map[byte]string {
	if s.hostTokens != nil {
		return s.hostTokens
	}
	port := strconv.Itoa(h.Port)
	k := h.HostKeyAlias
	if k == "" {
		k = h.Alias
	}
	s.hostTokens = map[byte]string{
		'C': sha1Hex(s.loc.hostname + h.HostName + port + h.User + jumpHost(h)),
		'd': s.loc.home,
		'h': h.HostName,
		'i': s.loc.uid,
		'j': jumpHost(h),
		'k': k,
		'L': s.loc.short,
		'l': s.loc.hostname,
		'n': h.Alias,
		'p': port,
		'r': h.User,
		'u': s.loc.user,
	}
	return s.hostTokens
}

// jumpHost is OpenSSH's %j: the host name of the last ProxyJump hop (the
// one that reaches the target), without its user and port; "" without a
// ProxyJump.
func jumpHost(h *Host) string {
	if len(h.ProxyJump) == 0 {
		return ""
	}
	t, err := ParseTarget(h.ProxyJump[len(h.ProxyJump)-1])
	if err != nil {
		return ""
	}
	return t.Host
}

// controlPath expands ControlPath as ssh(1) does: "~", then the tokens
// and ${VAR}. legacy is the path OpenSSH before 9.6 computes, when it
// differs: its %C does not hash the jump host.
func (s *state) controlPath(h *Host, st setting) (path, legacy string, err error) {
	v := st.val.(string)
	if strings.EqualFold(v, "none") {
		return "", "", nil
	}
	if path, err = s.expandPath(h, "ControlPath", v, st.src); err != nil {
		return "", "", err
	}
	if jumpHost(h) == "" || strings.Contains(v, "%j") {
		return path, "", nil
	}
	tok := maps.Clone(s.tokens(h))
	tok['C'] = sha1Hex(s.loc.hostname + h.HostName + strconv.Itoa(h.Port) + h.User)
	p, err := expandTilde(v, s.loc.home, lookupHome)
	if err == nil {
		p, err = expandTokens(p, tok, s.loc.env)
	}
	if err != nil || p == path {
		return path, "", nil
	}
	return path, p, nil
}

// sha1Hex is the hex SHA-1 of s (the %C token).
func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// expandPath expands "~", %-tokens and ${VAR} in a path-like value.
func (s *state) expandPath(h *Host, kw, v string, src source) (string, error) {
	p, err := expandTilde(v, s.loc.home, lookupHome)
	if err != nil {
		return "", src.errorf("%s: %v", kw, err)
	}
	p, err = expandTokens(p, s.tokens(h), s.loc.env)
	if err != nil {
		return "", src.errorf("%s: %v", kw, err)
	}
	return p, nil
}

// expandFiles expands a list of IdentityFile-like settings, dropping
// "none" and duplicates.
func (s *state) expandFiles(h *Host, kw string, sets []setting) ([]string, error) {
	var out []string
	for _, st := range sets {
		v := st.val.(string)
		if strings.EqualFold(v, "none") {
			continue
		}
		p, err := s.expandPath(h, kw, v, st.src)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// agentSocket resolves an IdentityAgent-style value: "" for the default
// agent ($SSH_AUTH_SOCK), "none" for no agent, or a path.
func (s *state) agentSocket(h *Host, kw string, v agentPath, src source) (string, error) {
	switch {
	case v == "SSH_AUTH_SOCK":
		return "", nil
	case v == "none":
		return "none", nil
	case strings.HasPrefix(string(v), "$") && !strings.HasPrefix(string(v), "${"):
		p, ok := s.loc.env(string(v[1:]))
		if !ok || p == "" {
			return "none", nil
		}
		return p, nil
	}
	return s.expandPath(h, kw, string(v), src)
}

func (s *state) str(name, def string) string {
	if st, ok := s.vals[name]; ok {
		return st.val.(string)
	}
	return def
}

func (s *state) flag(name string, def bool) bool {
	if st, ok := s.vals[name]; ok {
		return st.val.(bool)
	}
	return def
}

func (s *state) num(name string, def int) int {
	if st, ok := s.vals[name]; ok {
		return st.val.(int)
	}
	return def
}

func (s *state) dur(name string) time.Duration {
	if st, ok := s.vals[name]; ok {
		return st.val.(time.Duration)
	}
	return 0
}

// build turns the state into a Host.
func (s *state) build() (*Host, error) {
	if st, ok := s.vals["RefuseConnection"]; ok && st.val.(bool) {
		return nil, st.src.errorf("RefuseConnection: the configuration refuses connections to %q", s.alias)
	}
	h := &Host{
		Alias:                        s.alias,
		HostName:                     s.hostname,
		User:                         s.remoteUser(),
		Port:                         s.num("Port", 22),
		IdentitiesOnly:               s.flag("IdentitiesOnly", false),
		ConnectTimeout:               s.dur("ConnectTimeout"),
		ServerAliveInterval:          s.dur("ServerAliveInterval"),
		ServerAliveCountMax:          s.num("ServerAliveCountMax", 3),
		ConnectionAttempts:           max(s.num("ConnectionAttempts", 1), 1),
		AddressFamily:                s.str("AddressFamily", "any"),
		StrictHostKeyChecking:        s.str("StrictHostKeyChecking", "yes"),
		HashKnownHosts:               s.flag("HashKnownHosts", false),
		HostKeyAlias:                 strings.ToLower(s.str("HostKeyAlias", "")),
		HostKeyAlgorithms:            s.str("HostKeyAlgorithms", ""),
		KexAlgorithms:                s.str("KexAlgorithms", ""),
		Ciphers:                      s.str("Ciphers", ""),
		MACs:                         s.str("MACs", ""),
		PubkeyAcceptedAlgorithms:     s.str("PubkeyAcceptedAlgorithms", ""),
		CASignatureAlgorithms:        s.str("CASignatureAlgorithms", ""),
		RequiredRSASize:              s.num("RequiredRSASize", 1024),
		BatchMode:                    s.flag("BatchMode", false),
		PasswordAuthentication:       s.flag("PasswordAuthentication", true),
		KbdInteractiveAuthentication: s.flag("KbdInteractiveAuthentication", true),
		PubkeyAuthentication:         s.flag("PubkeyAuthentication", true),
		NumberOfPasswordPrompts:      s.num("NumberOfPasswordPrompts", 3),
		ControlMaster:                s.str("ControlMaster", "no"),
		ControlPersist:               s.dur("ControlPersist"),
	}
	var err error
	if st, ok := s.vals["PreferredAuthentications"]; ok {
		h.PreferredAuthentications = slices.Clone(st.val.([]string))
	}
	if st, ok := s.vals["ProxyJump"]; ok {
		if h.ProxyJump, err = s.expandJump(h, st); err != nil {
			return nil, err
		}
	}
	if pc := s.str("ProxyCommand", "none"); !isNone(pc) {
		h.ProxyCommand = pc
		if h.ProxyCommandLine, err = expandProxyCommand(h, pc); err != nil {
			return nil, s.vals["ProxyCommand"].src.errorf("ProxyCommand: %v", err)
		}
	}

	ids := s.lists["IdentityFile"]
	if len(ids) == 0 {
		h.DefaultIdentities = true
		for _, n := range defaultIdentities {
			h.IdentityFiles = append(h.IdentityFiles, strings.TrimSuffix(s.loc.home, "/")+"/.ssh/"+n)
		}
	} else if h.IdentityFiles, err = s.expandFiles(h, "IdentityFile", ids); err != nil {
		return nil, err
	}
	if h.CertificateFiles, err = s.expandFiles(h, "CertificateFile", s.lists["CertificateFile"]); err != nil {
		return nil, err
	}
	for _, st := range s.lists["SendEnv"] {
		for _, p := range st.val.([]string) {
			if rm, ok := strings.CutPrefix(p, "-"); ok {
				h.SendEnv = slices.DeleteFunc(h.SendEnv, func(q string) bool { return matchPattern(q, rm) })
				continue
			}
			h.SendEnv = append(h.SendEnv, p)
		}
	}
	if sets := s.lists["SetEnv"]; len(sets) > 0 {
		// Only the first SetEnv line obtained counts, as in ssh.
		h.SetEnv = slices.Clone(sets[0].val.([]string))
	}
	if st, ok := s.vals["IdentityAgent"]; ok {
		if h.IdentityAgent, err = s.agentSocket(h, "IdentityAgent", st.val.(agentPath), st.src); err != nil {
			return nil, err
		}
	}
	if st, ok := s.vals["ForwardAgent"]; ok {
		fa := st.val.(forwardAgent)
		h.ForwardAgent = fa.on
		if fa.path != "" {
			if h.ForwardAgentSocket, err = s.agentSocket(h, "ForwardAgent", fa.path, st.src); err != nil {
				return nil, err
			}
		}
	}
	if st, ok := s.vals["UserKnownHostsFile"]; ok {
		for _, f := range st.val.([]string) {
			if f == "none" {
				continue
			}
			p, err := s.expandPath(h, "UserKnownHostsFile", f, st.src)
			if err != nil {
				return nil, err
			}
			h.UserKnownHostsFiles = append(h.UserKnownHostsFiles, p)
		}
	} else {
		home := strings.TrimSuffix(s.loc.home, "/")
		h.UserKnownHostsFiles = []string{home + "/.ssh/known_hosts", home + "/.ssh/known_hosts2"}
	}
	if st, ok := s.vals["GlobalKnownHostsFile"]; ok {
		for _, f := range st.val.([]string) {
			if f == "none" {
				continue
			}
			p, err := expandTilde(f, s.loc.home, lookupHome)
			if err != nil {
				return nil, st.src.errorf("GlobalKnownHostsFile: %v", err)
			}
			h.GlobalKnownHostsFiles = append(h.GlobalKnownHostsFiles, p)
		}
	} else {
		h.GlobalKnownHostsFiles = globalKnownHostsFiles()
	}
	if st, ok := s.vals["RevokedHostKeys"]; ok {
		for _, f := range st.val.([]string) {
			if strings.EqualFold(f, "none") {
				continue
			}
			p, err := s.expandPath(h, "RevokedHostKeys", f, st.src)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(h.RevokedHostKeys, p) {
				h.RevokedHostKeys = append(h.RevokedHostKeys, p)
			}
		}
	}
	if st, ok := s.vals["ControlPath"]; ok {
		if h.ControlPath, h.ControlPathLegacy, err = s.controlPath(h, st); err != nil {
			return nil, err
		}
	}
	h.Unsupported = s.unsupported()
	return h, nil
}

// expandJump expands the %h, %n, %p and %r tokens in the jump hosts, as
// ssh(1) does (it runs the jump through a ProxyCommand it expands), and
// checks the result.
func (s *state) expandJump(h *Host, st setting) ([]string, error) {
	tok := map[byte]string{'h': h.HostName, 'n': h.Alias, 'p': strconv.Itoa(h.Port), 'r': h.User}
	var hops []string
	for _, hop := range st.val.(jumpHosts) {
		v, err := expandTokens(hop, tok, nil)
		if err != nil {
			return nil, st.src.errorf("ProxyJump: %v", err)
		}
		t, err := ParseTarget(v)
		if err != nil {
			return nil, st.src.errorf("ProxyJump: %v", err)
		}
		hops = append(hops, t.String())
	}
	return hops, nil
}

// expandProxyCommand expands the tokens ssh(1) expands in a ProxyCommand:
// %h (host name), %k (HostKeyAlias, else the alias), %n (alias), %p, %r
// and %%.
func expandProxyCommand(h *Host, cmd string) (string, error) {
	k := h.HostKeyAlias
	if k == "" {
		k = h.Alias
	}
	return expandTokens(cmd, map[byte]string{'h': h.HostName, 'k': k, 'n': h.Alias, 'p': strconv.Itoa(h.Port), 'r': h.User}, nil)
}

// unsupported lists the unsupported directives in effect.
func (s *state) unsupported() []string {
	out := slices.Clone(s.notes)
	for name, st := range s.vals {
		kw := keywords[strings.ToLower(name)]
		if kw.class == unsupported && (kw.inert == nil || !kw.inert(st.val)) {
			out = append(out, name)
		}
	}
	for name, sts := range s.lists {
		kw := keywords[strings.ToLower(name)]
		if kw.class != unsupported {
			continue
		}
		for _, st := range sts {
			if kw.inert == nil || !kw.inert(st.val) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// EnvVar is one environment variable a session sends to the server.
type EnvVar struct{ Name, Value string }

// Env returns the variables to send with each session, as ssh sends them:
// those of environ (os.Environ's form) whose names match a SendEnv
// pattern, in environ's order, then SetEnv's. The server takes only those
// its AcceptEnv (or SetEnv) allows.
func (h *Host) Env(environ []string) []EnvVar {
	var out []EnvVar
	if len(h.SendEnv) > 0 {
		for _, kv := range environ {
			name, value, ok := strings.Cut(kv, "=")
			if !ok || name == "" {
				continue
			}
			if slices.ContainsFunc(h.SendEnv, func(p string) bool { return matchPattern(name, p) }) {
				out = append(out, EnvVar{name, value})
			}
		}
	}
	for _, kv := range h.SetEnv {
		name, value, _ := strings.Cut(kv, "=")
		out = append(out, EnvVar{name, value})
	}
	return out
}
