package sshconfig

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// class says what Loom does with a keyword.
type class int

const (
	// structural keywords shape the file: Host, Match, Include.
	structural class = iota
	// supported keywords are parsed, validated and reported in Host.
	supported
	// unsupported keywords change what ssh(1) would do, but Loom does
	// not implement them; they are listed in Host.Unsupported when they
	// apply to a host with a value that asks for something.
	unsupported
	// ignored keywords are accepted and have no effect on Loom (logging,
	// terminal and forwarding details, and options OpenSSH itself has
	// deprecated or removed).
	ignored
)

// keyword describes one ssh_config keyword.
type keyword struct {
	name  string // canonical spelling, e.g. "IdentityFile"
	class class
	// parse validates the arguments and returns the value stored for
	// the keyword. It is called for every line, active or not, the way
	// ssh(1) validates every line it reads.
	parse func(args []string, rest string) (any, error)
	// multi keywords accumulate their values; all others keep the first
	// value obtained.
	multi bool
	// inert reports whether an unsupported keyword's value asks for
	// nothing (e.g. "ControlMaster no"); nil means every value counts.
	inert func(v any) bool
}

var keywords = map[string]*keyword{}

// aliases maps other spellings ssh(1) accepts to the canonical keyword.
var aliases = map[string]string{
	"challengeresponseauthentication": "kbdinteractiveauthentication",
	"skeyauthentication":              "kbdinteractiveauthentication",
	"tisauthentication":               "kbdinteractiveauthentication",
	"dsaauthentication":               "pubkeyauthentication",
	"pubkeyacceptedkeytypes":          "pubkeyacceptedalgorithms",
	"hostbasedkeytypes":               "hostbasedacceptedalgorithms",
	"identityfile2":                   "identityfile",
	// Debian-specific compatibility aliases (see ssh_config(5) on Debian).
	"protocolkeepalives": "serveraliveinterval",
	"setuptimeout":       "serveraliveinterval",
}

func def(k *keyword) {
	keywords[strings.ToLower(k.name)] = k
}

func init() {
	for _, n := range []string{"Host", "Match", "Include"} {
		def(&keyword{name: n, class: structural})
	}

	// Supported.
	def(&keyword{name: "HostName", class: supported, parse: parseOne})
	def(&keyword{name: "User", class: supported, parse: parseUser})
	def(&keyword{name: "Port", class: supported, parse: parsePortArg})
	def(&keyword{name: "IdentityFile", class: supported, parse: parseOne, multi: true})
	def(&keyword{name: "CertificateFile", class: supported, parse: parseOne, multi: true})
	def(&keyword{name: "IdentitiesOnly", class: supported, parse: parseFlag})
	def(&keyword{name: "IdentityAgent", class: supported, parse: parseAgentPath})
	def(&keyword{name: "ConnectTimeout", class: supported, parse: parseTime})
	def(&keyword{name: "ServerAliveInterval", class: supported, parse: parseTime})
	def(&keyword{name: "ServerAliveCountMax", class: supported, parse: parseInt})
	def(&keyword{name: "StrictHostKeyChecking", class: supported, parse: parseStrict})
	def(&keyword{name: "UserKnownHostsFile", class: supported, parse: parseList})
	def(&keyword{name: "GlobalKnownHostsFile", class: supported, parse: parseList})
	def(&keyword{name: "HostKeyAlias", class: supported, parse: parseOne})
	def(&keyword{name: "HostKeyAlgorithms", class: supported, parse: parseAlgorithms(keyKind)})
	def(&keyword{name: "KexAlgorithms", class: supported, parse: parseAlgorithms(kexKind)})
	def(&keyword{name: "Ciphers", class: supported, parse: parseAlgorithms(cipherKind)})
	def(&keyword{name: "MACs", class: supported, parse: parseAlgorithms(macKind)})
	def(&keyword{name: "PubkeyAcceptedAlgorithms", class: supported, parse: parseAlgorithms(keyKind)})
	def(&keyword{name: "CASignatureAlgorithms", class: supported, parse: parseAlgorithms(sigKind)})
	def(&keyword{name: "RequiredRSASize", class: supported, parse: parseRSASize})
	def(&keyword{name: "HashKnownHosts", class: supported, parse: parseFlag})
	def(&keyword{name: "RevokedHostKeys", class: supported, parse: parseRevoked})
	def(&keyword{name: "ProxyJump", class: supported, parse: parseProxyJump})
	def(&keyword{name: "ForwardAgent", class: supported, parse: parseForwardAgent})
	def(&keyword{name: "BatchMode", class: supported, parse: parseFlag})
	def(&keyword{name: "PasswordAuthentication", class: supported, parse: parseFlag})
	def(&keyword{name: "KbdInteractiveAuthentication", class: supported, parse: parseFlag})
	def(&keyword{name: "PubkeyAuthentication", class: supported, parse: parsePubkey})
	def(&keyword{name: "PreferredAuthentications", class: supported, parse: parseCommaList})
	def(&keyword{name: "NumberOfPasswordPrompts", class: supported, parse: parseInt})
	def(&keyword{name: "ConnectionAttempts", class: supported, parse: parseInt})
	def(&keyword{name: "AddressFamily", class: supported, parse: parseEnum("any", "inet", "inet6")})
	def(&keyword{name: "IgnoreUnknown", class: supported, parse: parseOne})
	def(&keyword{name: "RefuseConnection", class: supported, parse: parseFlag})

	// ControlMaster with ControlPersist: the host's connection is held
	// across runs by Loom's own holder (docs/connections.md).
	def(&keyword{name: "ControlMaster", class: supported, parse: parseEnum("yes", "no", "ask", "auto", "autoask")})
	def(&keyword{name: "ControlPersist", class: supported, parse: parsePersist})
	// ControlPath names an OpenSSH master's socket: Loom runs the host's
	// commands through a live one (the root package's dialer_mux.go).
	def(&keyword{name: "ControlPath", class: supported, parse: parseOne})

	// Environment variables sent with each session, as ssh sends them
	// (the server's AcceptEnv decides what it takes).
	def(&keyword{name: "SendEnv", class: supported, parse: parseSendEnv, multi: true})
	def(&keyword{name: "SetEnv", class: supported, parse: parseSetEnv, multi: true})

	// ProxyCommand competes with ProxyJump (whichever comes first wins).
	def(&keyword{name: "ProxyCommand", class: supported, parse: parseCommand})

	// Unsupported: they change what ssh would do.
	for _, n := range []string{"KnownHostsCommand", "LocalCommand", "RemoteCommand", "PKCS11Provider", "ChannelTimeout"} {
		def(&keyword{name: n, class: unsupported, parse: parseAny, inert: isNone})
	}
	for _, n := range []string{
		"CheckHostIP", "Compression", "EnableSSHKeysign", "ForkAfterAuthentication",
		"ForwardX11", "GSSAPIAuthentication", "GSSAPIDelegateCredentials", "GSSAPIKeyExchange",
		"HostbasedAuthentication", "NoHostAuthenticationForLocalhost", "ProxyUseFdpass", "StdinNull",
	} {
		def(&keyword{name: n, class: unsupported, parse: parseFlag, inert: isFalse})
	}
	def(&keyword{name: "TCPKeepAlive", class: unsupported, parse: parseFlag, inert: isTrue})
	def(&keyword{name: "AddKeysToAgent", class: unsupported, parse: parseAny, inert: isNo})
	// Apple's: passphrases from the macOS keychain. Loom asks for them.
	def(&keyword{name: "UseKeychain", class: unsupported, parse: parseAny, inert: isNo})
	def(&keyword{name: "CanonicalizeHostname", class: unsupported, parse: parseAny, inert: isNo})
	def(&keyword{name: "Tunnel", class: unsupported, parse: parseAny, inert: isNo})
	def(&keyword{name: "UpdateHostKeys", class: unsupported, parse: parseAny, inert: isNo})
	def(&keyword{name: "VerifyHostKeyDNS", class: unsupported, parse: parseAny, inert: isNo})
	def(&keyword{name: "RequestTTY", class: unsupported, parse: parseAny, inert: valueIn("no", "false", "auto")})
	def(&keyword{name: "SessionType", class: unsupported, parse: parseAny, inert: valueIn("default")})
	def(&keyword{name: "SecurityKeyProvider", class: unsupported, parse: parseAny, inert: valueIn("internal")})
	for _, n := range []string{
		"BindAddress", "BindInterface", "HostbasedAcceptedAlgorithms", "IPQoS", "RekeyLimit", "SmartcardDevice",
	} {
		def(&keyword{name: n, class: unsupported, parse: parseAny})
	}
	for _, n := range []string{"LocalForward", "RemoteForward", "DynamicForward"} {
		def(&keyword{name: n, class: unsupported, parse: parseAny, multi: true})
	}

	// Ignored: no effect on what Loom does.
	for _, n := range []string{
		"CanonicalDomains", "CanonicalizeFallbackLocal", "CanonicalizeMaxDots", "CanonicalizePermittedCNAMEs",
		"ClearAllForwardings", "EnableEscapeCommandline", "EscapeChar", "ExitOnForwardFailure",
		"FingerprintHash", "ForwardX11Timeout", "ForwardX11Trusted", "GatewayPorts",
		"GSSAPIClientIdentity", "GSSAPIKexAlgorithms", "GSSAPIRenewalForcesRekey", "GSSAPIServerIdentity",
		"GSSAPITrustDns", "KbdInteractiveDevices", "LogLevel", "LogVerbose", "ObscureKeystrokeTiming",
		"PermitLocalCommand", "PermitRemoteOpen", "StreamLocalBindMask", "StreamLocalBindUnlink",
		"SyslogFacility", "Tag", "TunnelDevice", "VisualHostKey", "WarnWeakCrypto",
		"XAuthLocation",
		// Deprecated or removed in OpenSSH, which ignores them.
		"AFSTokenPassing", "Cipher", "CompressionLevel", "FallBackToRsh", "GlobalKnownHostsFile2",
		"KerberosAuthentication", "KerberosTGTPassing", "Protocol", "RhostsAuthentication",
		"RhostsRSAAuthentication", "RSAAuthentication", "UseBlacklistedKeys", "UsePrivilegedPort",
		"UseRoaming", "UseRsh", "UserKnownHostsFile2",
	} {
		def(&keyword{name: n, class: ignored, parse: parseLenient})
	}
}

// unsupportedMatch lists the Match criteria ssh(1) knows and Loom does not
// evaluate (a Match line using one never matches in Loom).
var unsupportedMatch = map[string]bool{
	"tagged": true, "localnetwork": true, "version": true,
	"sessiontype": true, "command": true,
}

// UnsupportedDirectives returns, sorted, the ssh_config keywords and Match
// criteria that change what ssh(1) does but that Loom does not implement.
// When one applies to a host, Resolve lists it in Host.Unsupported.
func UnsupportedDirectives() []string {
	var out []string
	for _, k := range keywords {
		if k.class == unsupported {
			out = append(out, k.name)
		}
	}
	for c := range unsupportedMatch {
		out = append(out, "Match "+c)
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// lookupKeyword finds a keyword by any accepted spelling.
func lookupKeyword(name string) *keyword {
	n := strings.ToLower(name)
	if a, ok := aliases[n]; ok {
		n = a
	}
	return keywords[n]
}

// Value parsers. Their errors are completed with the keyword and place.

func needOne(args []string) (string, error) {
	if len(args) == 0 || args[0] == "" {
		return "", fmt.Errorf("missing argument")
	}
	if len(args) > 1 {
		return "", fmt.Errorf("extra arguments at end of line")
	}
	return args[0], nil
}

func parseOne(args []string, _ string) (any, error) {
	return needOne(args)
}

func parseAny(args []string, _ string) (any, error) {
	if len(args) == 0 || args[0] == "" {
		return nil, fmt.Errorf("missing argument")
	}
	return strings.Join(args, " "), nil
}

func parseLenient(args []string, _ string) (any, error) {
	return strings.Join(args, " "), nil
}

func parseCommand(args []string, rest string) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("missing argument")
	}
	if len(args) == 1 && strings.EqualFold(args[0], "none") {
		return "none", nil
	}
	return rest, nil
}

// parseRevoked parses RevokedHostKeys: one or more files (OpenSSH 10.3
// and later take several), or "none" alone.
func parseRevoked(args []string, rest string) (any, error) {
	v, err := parseList(args, rest)
	if err != nil {
		return nil, err
	}
	if len(args) > 1 && slices.ContainsFunc(args, func(a string) bool { return strings.EqualFold(a, "none") }) {
		return nil, fmt.Errorf(`"none" must appear alone`)
	}
	return v, nil
}

func parseList(args []string, _ string) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("missing argument")
	}
	for _, a := range args {
		if a == "" {
			return nil, fmt.Errorf("empty argument")
		}
	}
	return slices.Clone(args), nil
}

// parseSendEnv reads SendEnv's variable name patterns; "-PATTERN" removes
// the patterns listed before that match it.
func parseSendEnv(args []string, _ string) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("missing argument")
	}
	for _, a := range args {
		if a == "" || a == "-" || strings.Contains(a, "=") {
			return nil, fmt.Errorf("invalid environment name %q", a)
		}
	}
	return slices.Clone(args), nil
}

// parseSetEnv reads SetEnv's NAME=VALUE items; a name given twice on the
// line keeps its first value, as in ssh.
func parseSetEnv(args []string, _ string) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("missing argument")
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range args {
		name, _, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid SetEnv %q (want NAME=VALUE)", a)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, a)
		}
	}
	return out, nil
}

func parseCommaList(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func parseUser(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	if err := checkUser(v); err != nil {
		return nil, err
	}
	return v, nil
}

func checkUser(u string) error {
	for _, r := range u {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("invalid character %q in user %q", r, u)
		}
	}
	if strings.HasPrefix(u, "-") {
		return fmt.Errorf("invalid user %q: must not start with '-'", u)
	}
	return nil
}

func parsePortArg(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	p, ok := parsePort(v)
	if !ok {
		return nil, fmt.Errorf("invalid port %q (want 1 to 65535)", v)
	}
	return p, nil
}

var flagValues = map[string]bool{"yes": true, "true": true, "no": false, "false": false}

func parseFlag(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	b, ok := flagValues[strings.ToLower(v)]
	if !ok {
		return nil, fmt.Errorf("invalid value %q (want yes or no)", v)
	}
	return b, nil
}

func parsePubkey(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	l := strings.ToLower(v)
	if b, ok := flagValues[l]; ok {
		return b, nil
	}
	if l == "unbound" || l == "host-bound" {
		return true, nil
	}
	return nil, fmt.Errorf("invalid value %q (want yes, no, unbound or host-bound)", v)
}

func parseEnum(vals ...string) func([]string, string) (any, error) {
	return func(args []string, _ string) (any, error) {
		v, err := needOne(args)
		if err != nil {
			return nil, err
		}
		l := strings.ToLower(v)
		if !slices.Contains(vals, l) {
			return nil, fmt.Errorf("invalid value %q (want %s)", v, strings.Join(vals, ", "))
		}
		return l, nil
	}
}

// parsePersist parses ControlPersist: "no" (0), "yes" or 0 (Forever: until
// stopped) or a time.
func parsePersist(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(v) {
	case "no", "false":
		return time.Duration(0), nil
	case "yes", "true", "0":
		return Forever, nil
	}
	d, ok := convTime(v)
	if !ok {
		return nil, fmt.Errorf("invalid value %q (want yes, no, or a time like 10m)", v)
	}
	return d, nil
}

// strictValues normalises StrictHostKeyChecking. "ask" (the OpenSSH
// default) becomes "yes": Loom never asks, so an unknown host is refused.
var strictValues = map[string]string{
	"yes": "yes", "true": "yes", "ask": "yes",
	"no": "no", "false": "no", "off": "no",
	"accept-new": "accept-new",
}

func parseStrict(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	n, ok := strictValues[strings.ToLower(v)]
	if !ok {
		return nil, fmt.Errorf("invalid value %q (want yes, accept-new, no or ask)", v)
	}
	return n, nil
}

func parseInt(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || n > 1<<30 {
			return nil, fmt.Errorf("invalid number %q", v)
		}
		n = n*10 + int(v[i]-'0')
	}
	return n, nil
}

func parseTime(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	d, ok := convTime(v)
	if !ok {
		return nil, fmt.Errorf("invalid time %q (want seconds, or a time like 1m30s)", v)
	}
	return d, nil
}

// maxSeconds bounds time values, as OpenSSH does (INT_MAX seconds).
const maxSeconds = 1<<31 - 1

// convTime parses an OpenSSH time value (sshd_config(5) TIME FORMATS): a
// sequence of numbers each followed by an optional unit among s, m, h, d
// and w (either case); a number without unit counts seconds. "90",
// "1m30s", "1h30m" and "2d" are valid.
func convTime(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	total := int64(0)
	for i := 0; i < len(s); {
		start := i
		n := int64(0)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + int64(s[i]-'0')
			if n > maxSeconds {
				return 0, false
			}
			i++
		}
		if i == start {
			return 0, false
		}
		mult := int64(1)
		if i < len(s) {
			switch s[i] {
			case 's', 'S':
			case 'm', 'M':
				mult = 60
			case 'h', 'H':
				mult = 60 * 60
			case 'd', 'D':
				mult = 24 * 60 * 60
			case 'w', 'W':
				mult = 7 * 24 * 60 * 60
			default:
				return 0, false
			}
			i++
		}
		total += n * mult
		if total > maxSeconds {
			return 0, false
		}
	}
	return time.Duration(total) * time.Second, true
}

// agentPath is the value of IdentityAgent, or of ForwardAgent when it names
// a socket: a path, "$VAR", "SSH_AUTH_SOCK" or "none".
type agentPath string

func parseAgentPath(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(v, "$") && !strings.HasPrefix(v, "${") && !validEnvName(v[1:]) {
		return nil, fmt.Errorf("invalid environment variable name %q", v[1:])
	}
	return agentPath(v), nil
}

// forwardAgent is the value of ForwardAgent.
type forwardAgent struct {
	on   bool
	path agentPath // "" unless a socket was named
}

func parseForwardAgent(args []string, rest string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	if b, ok := flagValues[strings.ToLower(v)]; ok {
		return forwardAgent{on: b}, nil
	}
	p, err := parseAgentPath(args, rest)
	if err != nil {
		return nil, err
	}
	return forwardAgent{on: true, path: p.(agentPath)}, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// jumpHosts is the value of ProxyJump; nil means "none".
type jumpHosts []string

func parseProxyJump(args []string, _ string) (any, error) {
	v, err := needOne(args)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(v, "none") {
		return jumpHosts(nil), nil
	}
	var hops jumpHosts
	for _, h := range strings.Split(v, ",") {
		t, err := ParseTarget(h)
		if err != nil {
			return nil, fmt.Errorf("invalid jump host: %v", err)
		}
		hops = append(hops, t.String())
	}
	return hops, nil
}

// Inert-value predicates for unsupported keywords.

func isNone(v any) bool {
	s, _ := v.(string)
	return strings.EqualFold(s, "none")
}

func isFalse(v any) bool { b, _ := v.(bool); return !b }
func isTrue(v any) bool  { b, _ := v.(bool); return b }

func isNo(v any) bool {
	s, _ := v.(string)
	s = strings.ToLower(s)
	return s == "no" || s == "false"
}

func valueIn(vals ...string) func(any) bool {
	return func(v any) bool {
		s, _ := v.(string)
		return slices.Contains(vals, strings.ToLower(s))
	}
}
