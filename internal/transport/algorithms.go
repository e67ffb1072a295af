package transport

import (
	"crypto/rsa"
	"fmt"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/loomssh/loom/internal/sshconfig"
)

// speakable are the algorithms x/crypto/ssh can use: its supported ones and
// the legacy ones it implements but only uses when asked by name (ssh-rsa
// SHA-1 signatures, diffie-hellman-group14-sha1, CBC ciphers...).
var speakable = func() ssh.Algorithms {
	s, i := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	return ssh.Algorithms{
		KeyExchanges:   slices.Concat(s.KeyExchanges, i.KeyExchanges),
		Ciphers:        slices.Concat(s.Ciphers, i.Ciphers),
		MACs:           slices.Concat(s.MACs, i.MACs),
		HostKeys:       slices.Concat(s.HostKeys, i.HostKeys),
		PublicKeyAuths: slices.Concat(s.PublicKeyAuths, i.PublicKeyAuths),
	}
}()

// union is a followed by the names of b it lacks.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// algorithms is what a host's algorithm lists come to.
type algorithms struct {
	config   ssh.Config // KeyExchanges, Ciphers, MACs; nil: x/crypto's defaults
	hostKeys []string   // nil: chosen from known_hosts
	pubkey   []string   // nil: any
	caSigs   []string   // CASignatureAlgorithms
	notes    []string   // for -v: names left out
}

// hostAlgorithms applies h's algorithm lists over x/crypto's defaults (the
// base of "+", "-" and "^" for KexAlgorithms, Ciphers and MACs: x/crypto's
// supported list, close to OpenSSH's default) and OpenSSH's defaults (for
// the key algorithms). A list that leaves nothing Loom can speak is an
// error naming it.
func hostAlgorithms(h *sshconfig.Host) (*algorithms, error) {
	def := ssh.SupportedAlgorithms()
	a := &algorithms{}
	var errs []string
	apply := func(kw, spec string, def, known, speak []string) []string {
		if spec == "" {
			return nil
		}
		out, dropped := sshconfig.AssembleAlgorithms(spec, def, union(known, speak), speak)
		if len(dropped) > 0 {
			a.notes = append(a.notes, fmt.Sprintf("%s: Loom cannot use %s", kw, strings.Join(dropped, ",")))
		}
		if len(out) == 0 {
			errs = append(errs, fmt.Sprintf("%s %q leaves nothing Loom can use (it speaks %s)", kw, spec, strings.Join(speak, ",")))
		}
		return out
	}
	a.config.KeyExchanges = apply("KexAlgorithms", h.KexAlgorithms, def.KeyExchanges, sshconfig.KnownKex, speakable.KeyExchanges)
	a.config.Ciphers = apply("Ciphers", h.Ciphers, def.Ciphers, sshconfig.KnownCiphers, speakable.Ciphers)
	a.config.MACs = apply("MACs", h.MACs, def.MACs, sshconfig.KnownMACs, speakable.MACs)
	a.hostKeys = apply("HostKeyAlgorithms", h.HostKeyAlgorithms, sshconfig.DefaultHostKeyAlgorithms, sshconfig.KnownKeyAlgorithms, speakable.HostKeys)
	a.pubkey = apply("PubkeyAcceptedAlgorithms", h.PubkeyAcceptedAlgorithms, sshconfig.DefaultHostKeyAlgorithms, sshconfig.KnownKeyAlgorithms, speakable.PublicKeyAuths)
	a.caSigs = apply("CASignatureAlgorithms", h.CASignatureAlgorithms, sshconfig.DefaultCASignatureAlgorithms, sshconfig.KnownSigAlgorithms, speakable.PublicKeyAuths)
	if a.caSigs == nil {
		a.caSigs = sshconfig.DefaultCASignatureAlgorithms
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return a, nil
}

// rsaBits returns the size of an RSA public key (or a certificate's), 0
// for other keys.
func rsaBits(key ssh.PublicKey) int {
	if c, ok := key.(*ssh.Certificate); ok {
		key = c.Key
	}
	ck, ok := key.(ssh.CryptoPublicKey)
	if !ok {
		return 0
	}
	if k, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok {
		return k.N.BitLen()
	}
	return 0
}

// checkHostKey wraps cb with what ssh(1) also refuses before known_hosts
// is consulted: an RSA key below RequiredRSASize, and a host certificate
// signed with an algorithm CASignatureAlgorithms does not allow.
func (a *algorithms) checkHostKey(h *sshconfig.Host, cb ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if n := rsaBits(key); n > 0 && n < h.RequiredRSASize {
			return fmt.Errorf("host key is an RSA key of %d bits, below RequiredRSASize %d", n, h.RequiredRSASize)
		}
		if c, ok := key.(*ssh.Certificate); ok && c.Signature != nil && !slices.Contains(a.caSigs, c.Signature.Format) {
			return fmt.Errorf("host certificate is signed with %s, which CASignatureAlgorithms does not allow (%s)", c.Signature.Format, strings.Join(a.caSigs, ","))
		}
		return cb(hostname, remote, key)
	}
}

// signer narrows s to the signature algorithms PubkeyAcceptedAlgorithms
// allows, and refuses an RSA key below RequiredRSASize; nil with the reason
// when the key cannot be offered at all.
func (a *algorithms) signer(h *sshconfig.Host, s ssh.Signer) (ssh.Signer, string) {
	if n := rsaBits(s.PublicKey()); n > 0 && n < h.RequiredRSASize {
		return nil, fmt.Sprintf("an RSA key of %d bits, below RequiredRSASize %d", n, h.RequiredRSASize)
	}
	if a.pubkey == nil {
		return s, ""
	}
	_, isCert := s.PublicKey().(*ssh.Certificate)
	var algs []string
	if as, ok := s.(ssh.MultiAlgorithmSigner); ok {
		algs = as.Algorithms()
	} else {
		algs = algorithmsFor(s.PublicKey().Type())
	}
	var ok []string
	for _, alg := range algs {
		name := alg
		if isCert && !strings.Contains(alg, "-cert-") {
			name = strings.TrimSuffix(alg, "@openssh.com") + "-cert-v01@openssh.com"
		}
		if slices.Contains(a.pubkey, name) {
			ok = append(ok, alg)
		}
	}
	if len(ok) == 0 {
		return nil, fmt.Sprintf("its algorithms (%s) are not in PubkeyAcceptedAlgorithms", strings.Join(algs, ","))
	}
	as, isAS := s.(ssh.AlgorithmSigner)
	if !isAS {
		return s, ""
	}
	ms, err := ssh.NewSignerWithAlgorithms(as, ok)
	if err != nil {
		return nil, err.Error()
	}
	return ms, ""
}
