package transport

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom/internal/agentfwd"
	"github.com/loomssh/loom/internal/sshconfig"
)

// keyFile is one IdentityFile, read once per run and shared by every host.
type keyFile struct {
	path string
	once sync.Once
	pub  ssh.PublicKey // nil when the file could not be read
	cert *ssh.Certificate
	err  error // why the key cannot be offered: see problem
	warn sync.Once

	mu         sync.Mutex
	signer     ssh.Signer // decrypted; nil until needed for an encrypted key
	decryptErr error      // the passphrase was wrong every time: not asked again this run
	raw        []byte
	ready      atomic.Bool // signer is set (read without mu, which a prompt holds)
}

// problem is why k cannot be offered, as the one-line warning given for an
// IdentityFile named explicitly, worded as ssh(1) words it.
func (k *keyFile) problem() string {
	var pe *fs.PathError
	switch {
	case errors.As(k.err, &pe):
		return fmt.Sprintf("identity file %s not accessible: %v", k.path, pe.Err)
	case errors.Is(k.err, errNoPublicKey):
		return fmt.Sprintf("identity file %s skipped: it is encrypted and there is no %s.pub beside it to offer (add it to ssh-agent with ssh-add, or write its public key there)", k.path, k.path)
	}
	return fmt.Sprintf("identity file %s skipped: not a private key Loom can load: %v", k.path, cleanErr(k.err))
}

// errNoPublicKey marks an encrypted key whose public half cannot be known
// without its passphrase (the old PEM encryption, with no .pub file).
var errNoPublicKey = errors.New("encrypted, and no public key beside it")

// load reads the key's public half without asking for a passphrase: from
// the key itself when it is not encrypted or is in OpenSSH format, else from
// PATH.pub. A certificate PATH-cert.pub beside it is picked up too.
func (k *keyFile) load() {
	k.once.Do(func() {
		raw, err := os.ReadFile(k.path)
		if err != nil {
			k.err = err
			return
		}
		k.raw = raw
		s, err := ssh.ParsePrivateKey(raw)
		var missing *ssh.PassphraseMissingError
		switch {
		case err == nil:
			k.signer, k.pub = s, s.PublicKey()
			k.ready.Store(true)
		case errors.As(err, &missing):
			k.pub = missing.PublicKey
			if k.pub == nil {
				if b, err2 := os.ReadFile(k.path + ".pub"); err2 == nil {
					k.pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
				}
			}
			if k.pub == nil {
				k.err = errNoPublicKey
			}
		default:
			k.err = err
		}
		if k.pub != nil {
			k.cert = readCert(k.path+"-cert.pub", k.pub)
		}
	})
}

// readCert returns the certificate in path if it certifies pub.
func readCert(path string, pub ssh.PublicKey) *ssh.Certificate {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil
	}
	c, ok := k.(*ssh.Certificate)
	if !ok || !bytes.Equal(c.Key.Marshal(), pub.Marshal()) {
		return nil
	}
	return c
}

// decrypt returns the usable signer, asking for the passphrase once per run.
// Up to three attempts; a wrong passphrase is forgotten so the next try asks.
func (k *keyFile) decrypt(ctx context.Context, secrets *Secrets) (ssh.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer != nil {
		return k.signer, nil
	}
	if k.decryptErr != nil {
		return nil, k.decryptErr
	}
	key := "passphrase:" + k.path
	for try := 0; try < 3; try++ {
		pass, err := secrets.Get(ctx, key, k.passphrasePrompt())
		if errors.Is(err, ErrNoTerminal) {
			return nil, fmt.Errorf("key %s is encrypted and there is no terminal to ask its passphrase (add it to ssh-agent with ssh-add)", k.path)
		}
		if err != nil {
			return nil, err
		}
		s, err := ssh.ParsePrivateKeyWithPassphrase(k.raw, []byte(pass))
		if err == nil {
			k.signer = s
			k.ready.Store(true)
			return s, nil
		}
		secrets.Forget(key)
		if !errors.Is(err, x509.IncorrectPasswordError) && !strings.Contains(err.Error(), "decryption password incorrect") && !legacyEncrypted(k.raw) {
			return nil, fmt.Errorf("key %s: %v", k.path, err)
		}
	}
	// Not asked again for the other hosts of the run: three times is
	// what ssh(1) asks.
	k.decryptErr = fmt.Errorf("wrong passphrase for key %s (asked 3 times)", k.path)
	return nil, k.decryptErr
}

// passphrasePrompt is what ssh asks for k's passphrase.
func (k *keyFile) passphrasePrompt() string {
	return fmt.Sprintf("Enter passphrase for key '%s': ", k.path)
}

// unlocked reports whether k's private key is at hand: not encrypted, or
// decrypted already this run.
func (k *keyFile) unlocked() bool { return k.ready.Load() }

// legacyEncrypted reports a key in the old PEM encryption (Proc-Type:
// 4,ENCRYPTED). Its padding check lets about one wrong passphrase in 256
// through, and the garbage then fails to parse: for such a key any failure
// after decrypting means a wrong passphrase.
func legacyEncrypted(raw []byte) bool {
	block, _ := pem.Decode(raw)
	return block != nil && block.Headers["Proc-Type"] == "4,ENCRYPTED"
}

// lazySigner signs with a key file, decrypting it on first use. x/crypto
// only asks for a signature after the server accepted the public key, so an
// encrypted key the server would refuse never prompts.
type lazySigner struct {
	k       *keyFile
	secrets *Secrets
	pause   func(what string) func() // lifts the handshake deadline while waiting on the user
	log     *authLog                 // told when the key cannot be used; may be nil
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.k.pub }

func (l *lazySigner) signer() (ssh.Signer, error) {
	// Lift the handshake deadline before taking the key's lock: while one
	// host asks for the passphrase, every other host that needs the key
	// waits on that lock for the user too.
	if !l.k.unlocked() && l.pause != nil {
		defer l.pause("the passphrase of key " + l.k.path)()
	}
	s, err := l.k.decrypt(context.Background(), l.secrets)
	if err != nil && l.log != nil {
		l.log.failed(err)
	}
	return s, err
}

func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	s, err := l.signer()
	if err != nil {
		return nil, err
	}
	return s.Sign(rand, data)
}

func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s, err := l.signer()
	if err != nil {
		return nil, err
	}
	if as, ok := s.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(rand, data, algorithm)
	}
	return s.Sign(rand, data)
}

func (l *lazySigner) Algorithms() []string { return algorithmsFor(l.k.pub.Type()) }

// algorithmsFor lists the signature algorithms a key type can sign with.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// keyFile returns the run-wide entry for path.
func (d *Dialer) keyFile(path string) *keyFile {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.keys == nil {
		d.keys = make(map[string]*keyFile)
	}
	k, ok := d.keys[path]
	if !ok {
		k = &keyFile{path: path}
		d.keys[path] = k
	}
	return k
}

// agentFor connects to the agent h should use, or returns nil when there is
// none. The caller closes the connection after the handshake; connections
// are capped so a thousand handshakes cannot exhaust the local agent.
func (d *Dialer) agentFor(ctx context.Context, h *sshconfig.Host) (agent.ExtendedAgent, func(), error) {
	sock := d.AgentSocket
	switch h.IdentityAgent {
	case "none":
		return nil, func() {}, nil
	case "", "SSH_AUTH_SOCK":
	default:
		sock = h.IdentityAgent
	}
	if sock == "" {
		sock = agentfwd.DefaultSocket()
	}
	if sock == "" {
		return nil, func() {}, nil
	}
	select {
	case d.agentSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	ag, c, err := agentfwd.Dial(ctx, sock)
	if err != nil {
		<-d.agentSlots
		d.logf("agent %s: %v (continuing without it)", sock, err)
		return nil, func() {}, nil
	}
	return ag, func() { c.Close(); <-d.agentSlots }, nil
}

// authMethods builds the methods for h in OpenSSH's order: public keys
// (IdentityFile keys first, certificates before their keys, then the agent's
// other keys unless IdentitiesOnly, then keys given in memory), then
// keyboard-interactive, then password.
//
// With BatchMode nothing is asked: an encrypted key not unlocked yet is not
// offered, and a password or a question from the server is a
// *NotAskedError; at records what was not asked, for the error. alog,
// which may be nil, is told which keys are offered and why a password
// cannot be tried, for the error when authentication fails.
func (d *Dialer) authMethods(ctx context.Context, h *sshconfig.Host, ag agent.ExtendedAgent, at *attempt, alog *authLog) []ssh.AuthMethod {
	var methods []ssh.AuthMethod
	if h.PubkeyAuthentication {
		signers, descs := d.signers(h, ag, at, alog)
		if algs, err := hostAlgorithms(h); err == nil {
			kept, keptDescs := signers[:0:0], descs[:0:0]
			for i, s := range signers {
				if ns, why := algs.signer(h, s); ns != nil {
					kept, keptDescs = append(kept, ns), append(keptDescs, descs[i])
				} else {
					d.logf("%s: key %s not offered: %s", h.Alias, descs[i], why)
				}
			}
			signers, descs = kept, keptDescs
		}
		if len(signers) > 0 {
			methods = append(methods, ssh.PublicKeys(signers...))
		}
		alog.offer(descs)
	} else {
		alog.note("PubkeyAuthentication is off", "publickey")
	}
	if h.BatchMode {
		ctx = WithoutPrompts(ctx, h.Alias)
	}
	canAsk := h.BatchMode || d.Secrets.Ask != nil // BatchMode: "asked" to say what was not
	_, preset := d.Secrets.Lookup(d.passwordKey(h))
	if !preset && !canAsk {
		switch {
		case !h.PasswordAuthentication && !h.KbdInteractiveAuthentication:
		case h.BatchMode:
			alog.note("no password given, and BatchMode forbids asking", "password", "keyboard-interactive")
		default:
			alog.note("no password given, and no terminal to ask for one", "password", "keyboard-interactive")
		}
		return d.ordered(h, methods, nil, nil)
	}
	password := func() (string, error) {
		if pw, ok := d.Secrets.Lookup(d.passwordKey(h)); ok || !canAsk {
			return pw, nil
		}
		if !h.BatchMode {
			defer at.pause("a password")()
		}
		pw, err := d.Secrets.Get(ctx, d.passwordKey(h), fmt.Sprintf("%s@%s's password: ", h.User, h.HostName))
		var na *NotAskedError
		if err != nil && !errors.As(err, &na) {
			alog.failed(fmt.Errorf("password: %w", err)) // BatchMode's are said by at
		}
		return pw, at.noted(err)
	}
	kbd := ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i, q := range questions {
			if !echos[i] && strings.Contains(strings.ToLower(q), "password") {
				pw, err := password()
				if err != nil {
					alog.ownFailure("keyboard-interactive")
					return nil, err
				}
				answers[i] = pw
				continue
			}
			if !canAsk {
				alog.failed(fmt.Errorf("keyboard-interactive: %w", ErrNoTerminal))
				alog.ownFailure("keyboard-interactive")
				return nil, ErrNoTerminal
			}
			stop := func() {}
			if !h.BatchMode {
				stop = at.pause("an answer")
			}
			a, err := d.Secrets.AskOnce(ctx, fmt.Sprintf("(%s) %s", h.Alias, q), echos[i])
			stop()
			if err != nil {
				var na *NotAskedError
				if !errors.As(err, &na) {
					alog.failed(fmt.Errorf("keyboard-interactive: %w", err))
				}
				alog.ownFailure("keyboard-interactive")
				return nil, at.noted(err)
			}
			answers[i] = a
		}
		return answers, nil
	})
	pw := ssh.PasswordCallback(func() (string, error) {
		p, err := password()
		if err != nil {
			alog.ownFailure("password")
		}
		return p, err
	})
	return d.ordered(h, methods, kbd, pw)
}

// passwordKey is where a login password is kept: one for the whole run when
// the caller gave it, else one per user (asked once, tried on every host).
func (d *Dialer) passwordKey(h *sshconfig.Host) string {
	if _, ok := d.Secrets.Lookup("password"); ok {
		return "password"
	}
	return "password:" + h.User
}

// ordered appends keyboard-interactive and password as ssh_config allows,
// honouring PreferredAuthentications when it is set.
func (d *Dialer) ordered(h *sshconfig.Host, methods []ssh.AuthMethod, kbd, pw ssh.AuthMethod) []ssh.AuthMethod {
	pub := methods
	var out []ssh.AuthMethod
	add := func(name string) {
		switch name {
		case "publickey":
			out = append(out, pub...)
			pub = nil
		case "keyboard-interactive":
			if kbd != nil && h.KbdInteractiveAuthentication {
				out = append(out, kbd)
				kbd = nil
			}
		case "password":
			if pw != nil && h.PasswordAuthentication {
				out = append(out, pw)
				pw = nil
			}
		}
	}
	order := h.PreferredAuthentications
	if len(order) == 0 {
		order = []string{"publickey", "keyboard-interactive", "password"}
	}
	for _, m := range order {
		add(m)
	}
	return out
}

// signers lists the public keys to offer to h, in order, without
// duplicates, and a description of each for messages ("FILE (ED25519
// SHA256:...)", "agent key COMMENT (...)"). An IdentityFile that cannot be
// offered is warned about once per run, unless it is one of ssh's default
// files and does not exist (ssh is silent about those too).
func (d *Dialer) signers(h *sshconfig.Host, ag agent.ExtendedAgent, at *attempt, alog *authLog) ([]ssh.Signer, []string) {
	var agentSigners []ssh.Signer
	if ag != nil {
		var err error
		if agentSigners, err = ag.Signers(); err != nil {
			d.logf("%s: agent: %v", h.Alias, err)
		}
	}
	inAgent := func(pub ssh.PublicKey) ssh.Signer {
		for _, s := range agentSigners {
			if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return s
			}
		}
		return nil
	}
	seen := map[string]bool{}
	var out []ssh.Signer
	var descs []string
	add := func(s ssh.Signer, from string) {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
			descs = append(descs, describeKey(s.PublicKey(), from))
		}
	}
	var loaded []ssh.Signer // IdentityFile signers, for CertificateFile matching
	for _, path := range h.IdentityFiles {
		k := d.keyFile(path)
		k.load()
		if k.err != nil {
			if h.DefaultIdentities && errors.Is(k.err, fs.ErrNotExist) {
				continue
			}
			k.warn.Do(func() { d.warnf("%s", k.problem()) })
			d.logf("%s: %s", h.Alias, k.problem())
			continue
		}
		var s ssh.Signer = &lazySigner{k: k, secrets: &d.Secrets, pause: at.pause, log: alog}
		if as := inAgent(k.pub); as != nil {
			s = as // the agent holds it: no passphrase needed
		} else if h.BatchMode && !k.unlocked() {
			// As ssh in BatchMode: the key is skipped, not asked for.
			d.logf("%s: key %s is encrypted and BatchMode is set: not offered", h.Alias, k.path)
			at.notAsked(k.passphrasePrompt())
			continue
		}
		if k.cert != nil {
			if cs, err := ssh.NewCertSigner(k.cert, s); err == nil {
				add(cs, path+"-cert.pub")
			}
		}
		add(s, path)
		loaded = append(loaded, s)
	}
	for _, path := range h.CertificateFiles {
		if err := checkCertFile(path); err != nil {
			d.warnOnce(path, err.Error())
			continue
		}
		for _, s := range append(loaded, agentSigners...) {
			if c := readCert(path, s.PublicKey()); c != nil {
				if cs, err := ssh.NewCertSigner(c, s); err == nil {
					out = append([]ssh.Signer{cs}, out...)
					descs = append([]string{describeKey(c, path)}, descs...)
				}
			}
		}
	}
	if !h.IdentitiesOnly {
		for _, s := range agentSigners {
			add(s, "agent")
		}
	}
	for _, s := range d.Signers {
		add(s, "")
	}
	for _, desc := range descs {
		d.logf("%s: will offer %s", h.Alias, desc)
	}
	return out, descs
}

// checkCertFile says why a CertificateFile cannot be used, if it cannot.
func checkCertFile(path string) error {
	b, err := os.ReadFile(path)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("certificate file %s not accessible: %v", path, pe.Err)
	}
	if err != nil {
		return fmt.Errorf("certificate file %s not accessible: %v", path, err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return fmt.Errorf("certificate file %s skipped: %v", path, cleanErr(err))
	}
	if _, ok := k.(*ssh.Certificate); !ok {
		return fmt.Errorf("certificate file %s skipped: it holds a %s public key, not a certificate", path, k.Type())
	}
	return nil
}

// WarnOnce gives the warning msg once per run (per Dialer) for key.
func (d *Dialer) WarnOnce(key, msg string) { d.warnOnce(key, msg) }

// warnOnce gives a warning once per run for key.
func (d *Dialer) warnOnce(key, msg string) {
	d.mu.Lock()
	if d.warned == nil {
		d.warned = make(map[string]bool)
	}
	seen := d.warned[key]
	d.warned[key] = true
	d.mu.Unlock()
	if !seen {
		d.warnf("%s", msg)
	}
}

// describeKey describes a key offered: "FILE (ED25519 SHA256:...)",
// "agent key COMMENT (...)", or "key (...)" for a key given in memory.
func describeKey(pub ssh.PublicKey, from string) string {
	fp := pub
	typ := pub.Type()
	if c, ok := pub.(*ssh.Certificate); ok {
		fp = c.Key
	}
	id := typ + " " + ssh.FingerprintSHA256(fp)
	switch from {
	case "":
		return "key (" + id + ")"
	case "agent":
		if k, ok := pub.(*agent.Key); ok && k.Comment != "" {
			return "agent key " + printable(k.Comment) + " (" + id + ")"
		}
		return "agent key (" + id + ")"
	}
	return printable(from) + " (" + id + ")"
}

// printable keeps a message on one line: a string with control characters
// is shown Go-quoted.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}

// authLog records what authentication did on one connection, so that a
// failure can say why: the methods the server accepts, the keys offered,
// a key that could not be used. A nil *authLog records nothing.
type authLog struct {
	mu      sync.Mutex
	reached bool     // the server answered the first request
	allowed []string // the methods the server accepts, as it last said
	tried   []string // the methods tried, in order
	keys    []string // the keys offered with publickey
	cause   error    // a key or secret that could not be used (wrong passphrase...)
	notes   []authNote
	own     []string // methods that failed on this side (no password to give)
	algs    ssh.NegotiatedAlgorithms
}

// negotiated returns the algorithms of the key exchange, once known.
func (l *authLog) negotiated() *ssh.NegotiatedAlgorithms {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.reached {
		return nil
	}
	a := l.algs
	return &a
}

// authNote says why a method could not be tried.
type authNote struct {
	methods []string // the methods it is about
	why     string
}

// callback is the ClientConfig's AuthCallback: it only watches, and
// leaves the choice of the next method to x/crypto.
func (l *authLog) callback(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reached = true
	l.algs = ctx.Algorithms
	l.allowed = slices.Clone(ctx.AllowedMethods)
	l.tried = slices.Clone(ctx.TriedMethods)
	return nil, nil
}

func (l *authLog) offer(keys []string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.keys = keys
	l.mu.Unlock()
}

func (l *authLog) note(why string, methods ...string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.notes = append(l.notes, authNote{methods, why})
	l.mu.Unlock()
}

// ownFailure records that method failed on this side, not the server's.
func (l *authLog) ownFailure(method string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.own = append(l.own, method)
	l.mu.Unlock()
}

func (l *authLog) failed(err error) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.cause == nil {
		l.cause = err
	}
	l.mu.Unlock()
}

// failure returns the authentication error for a handshake that failed
// with err, or nil if it did not fail in authentication.
func (l *authLog) failure(user string, err error) *AuthError {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.reached && l.cause == nil {
		return nil
	}
	ae := &AuthError{User: user, Allowed: l.allowed, Keys: l.keys, Cause: l.cause}
	for _, n := range l.notes {
		// Only what the server would have accepted is worth saying.
		if slices.ContainsFunc(n.methods, func(m string) bool { return slices.Contains(l.allowed, m) }) {
			ae.Notes = append(ae.Notes, n.why)
		}
	}
	for _, m := range l.tried {
		if m != "none" && !slices.Contains(ae.Tried, m) {
			ae.Tried = append(ae.Tried, m)
			if m != "publickey" && !slices.Contains(l.own, m) {
				ae.Refused = append(ae.Refused, m)
			}
		}
	}
	ae.ours = len(l.own) > 0
	var na *NotAskedError
	if l.cause == nil && !strings.Contains(err.Error(), "unable to authenticate") && !errors.As(err, &na) {
		ae.Err = err // a disconnect: "too many authentication failures"...
	}
	return ae
}
