package transport

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/loomssh/loom/internal/sshconfig"
)

// keyFile is one IdentityFile, read once per run and shared by every host.
type keyFile struct {
	path string
	once sync.Once
	pub  ssh.PublicKey // nil when the file could not be read
	cert *ssh.Certificate
	err  error

	mu     sync.Mutex
	signer ssh.Signer // decrypted; nil until needed for an encrypted key
	raw    []byte
	ready  atomic.Bool // signer is set (read without mu, which a prompt holds)
}

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
				k.err = fmt.Errorf("key %s is encrypted and has no %s.pub beside it", k.path, k.path)
			}
		default:
			k.err = fmt.Errorf("key %s: %v", k.path, err)
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
	return nil, fmt.Errorf("key %s: wrong passphrase", k.path)
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
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.k.pub }

func (l *lazySigner) signer() (ssh.Signer, error) {
	// Lift the handshake deadline before taking the key's lock: while one
	// host asks for the passphrase, every other host that needs the key
	// waits on that lock for the user too.
	if !l.k.unlocked() && l.pause != nil {
		defer l.pause("the passphrase of key " + l.k.path)()
	}
	return l.k.decrypt(context.Background(), l.secrets)
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
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock == "" {
		return nil, func() {}, nil
	}
	select {
	case d.agentSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "unix", sock)
	if err != nil {
		<-d.agentSlots
		d.logf("agent %s: %v (continuing without it)", sock, err)
		return nil, func() {}, nil
	}
	return agent.NewClient(c), func() { c.Close(); <-d.agentSlots }, nil
}

// authMethods builds the methods for h in OpenSSH's order: public keys
// (IdentityFile keys first, certificates before their keys, then the agent's
// other keys unless IdentitiesOnly, then keys given in memory), then
// keyboard-interactive, then password.
//
// With BatchMode nothing is asked: an encrypted key not unlocked yet is not
// offered, and a password or a question from the server is a
// *NotAskedError; at records what was not asked, for the error.
func (d *Dialer) authMethods(ctx context.Context, h *sshconfig.Host, ag agent.ExtendedAgent, at *attempt) []ssh.AuthMethod {
	var methods []ssh.AuthMethod
	if h.PubkeyAuthentication {
		signers := d.signers(h, ag, at)
		if len(signers) > 0 {
			methods = append(methods, ssh.PublicKeys(signers...))
		}
	}
	if h.BatchMode {
		ctx = WithoutPrompts(ctx, h.Alias)
	}
	canAsk := h.BatchMode || d.Secrets.Ask != nil // BatchMode: "asked" to say what was not
	_, preset := d.Secrets.Lookup(d.passwordKey(h))
	if !preset && !canAsk {
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
		return pw, at.noted(err)
	}
	kbd := ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i, q := range questions {
			if !echos[i] && strings.Contains(strings.ToLower(q), "password") {
				pw, err := password()
				if err != nil {
					return nil, err
				}
				answers[i] = pw
				continue
			}
			if !canAsk {
				return nil, ErrNoTerminal
			}
			stop := func() {}
			if !h.BatchMode {
				stop = at.pause("an answer")
			}
			a, err := d.Secrets.AskOnce(ctx, fmt.Sprintf("(%s) %s", h.Alias, q), echos[i])
			stop()
			if err != nil {
				return nil, at.noted(err)
			}
			answers[i] = a
		}
		return answers, nil
	})
	pw := ssh.PasswordCallback(password)
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

// signers lists the public keys to offer to h, in order, without duplicates.
func (d *Dialer) signers(h *sshconfig.Host, ag agent.ExtendedAgent, at *attempt) []ssh.Signer {
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
	add := func(s ssh.Signer) {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	var loaded []ssh.Signer // IdentityFile signers, for CertificateFile matching
	for _, path := range h.IdentityFiles {
		k := d.keyFile(path)
		k.load()
		if k.err != nil {
			if !(h.DefaultIdentities && errors.Is(k.err, os.ErrNotExist)) {
				d.logf("%s: identity %v", h.Alias, k.err)
			}
			continue
		}
		var s ssh.Signer = &lazySigner{k: k, secrets: &d.Secrets, pause: at.pause}
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
				add(cs)
			}
		}
		add(s)
		loaded = append(loaded, s)
	}
	for _, path := range h.CertificateFiles {
		for _, s := range append(loaded, agentSigners...) {
			if c := readCert(path, s.PublicKey()); c != nil {
				if cs, err := ssh.NewCertSigner(c, s); err == nil {
					out = append([]ssh.Signer{cs}, out...)
				}
			}
		}
	}
	if !h.IdentitiesOnly {
		for _, s := range agentSigners {
			add(s)
		}
	}
	for _, s := range d.Signers {
		add(s)
	}
	for _, s := range out {
		d.logf("%s: will offer %s key %s", h.Alias, s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey()))
	}
	return out
}
