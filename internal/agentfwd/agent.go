package agentfwd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// MaxEvents is how many events an Agent keeps; older ones are counted by
// Dropped.
const MaxEvents = 1000

// Operation names in Event.Op. Refused operations are "refused:" and the
// operation.
const (
	OpList = "list" // the remote listed keys
	OpSign = "sign" // the remote asked for a signature (Err says if it failed)

	OpRefusedAdd             = "refused:add"
	OpRefusedRemove          = "refused:remove"
	OpRefusedRemoveAll       = "refused:remove-all"
	OpRefusedLock            = "refused:lock"
	OpRefusedUnlock          = "refused:unlock"
	OpRefusedExtension       = "refused:extension"
	OpRefusedSigners         = "refused:signers"
	OpRefusedSmartcard       = "refused:smartcard" // add or remove a PKCS#11 provider
	OpRefusedUnknown         = "refused:unknown"   // a message type the protocol does not define or this package does not serve
	OpRefusedMalformed       = "refused:malformed" // a request that does not parse, or is too large
	OpRefusedTooManyChannels = "refused:channel"   // an agent channel beyond the per-connection cap
)

// ErrNotAllowed is the error of a sign request for a key the Policy does not
// allow or the agent does not hold (the remote cannot tell which).
var ErrNotAllowed = errors.New("agentfwd: key not allowed")

// Event is one thing a remote host asked the forwarded agent for, for logs
// (-v) and --json.
type Event struct {
	// Time is when the request was answered.
	Time time.Time `json:"time"`
	// Host is the host the request came from, as given to New.
	Host string `json:"host"`
	// Op is what was asked: OpList, OpSign, or one of the OpRefused… values.
	Op string `json:"op"`
	// Key is the SHA256 fingerprint of the key concerned, when there is one
	// (for a certificate, its key's fingerprint, as `ssh-add -l` prints it).
	Key string `json:"key,omitempty"`
	// Comment is the key's comment in the real agent, when known.
	Comment string `json:"comment,omitempty"`
	// Err is why the request failed or was refused; empty on success.
	Err string `json:"error,omitempty"`
}

// String formats e on one line for a log; the comment is quoted.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "agent %s: %s", e.Host, e.Op)
	if e.Key != "" {
		b.WriteString(" " + e.Key)
	}
	if e.Comment != "" {
		fmt.Fprintf(&b, " %q", e.Comment)
	}
	if e.Err != "" {
		b.WriteString(": " + e.Err)
	}
	return b.String()
}

// Agent is the filtering agent for one host's connection. It implements
// agent.ExtendedAgent on top of an Upstream:
//
//   - List returns only the keys the Policy allows (a certificate is listed
//     when its key, or the certificate itself, is allowed).
//   - Sign and SignWithFlags sign only with a key that List would return;
//     any other key, even one the agent holds and the remote guessed, fails
//     with ErrNotAllowed. Each sign is an Event, whether it succeeds or not.
//   - Add, Remove, RemoveAll, Lock, Unlock, Extension and Signers are
//     refused with an error and recorded as Events.
//
// A request made through these methods waits as long as it takes for a free
// connection to the real agent; once it has one, it is bounded by the
// Upstream's timeout. Requests served by Serve also end when the host's
// connection closes.
//
// An Agent is safe for concurrent use: a host may open many agent channels.
type Agent struct {
	up     *Upstream
	host   string
	policy Policy
	record func(Event)
	now    func() time.Time

	sigs atomic.Int64

	slotsOnce sync.Once
	slots     chan struct{} // ServeStream's streams at once

	mu      sync.Mutex
	events  []Event // ring buffer of at most MaxEvents
	next    int     // where the next event goes once events is full
	dropped int
}

var _ agent.ExtendedAgent = (*Agent)(nil)

// New returns the filtering agent for host, signing through up under policy
// p. record, if not nil, is called with every Event as it happens, from the
// goroutine serving the request: it must be safe for concurrent use and
// should not block.
func New(up *Upstream, host string, p Policy, record func(Event)) *Agent {
	p.Keys = append([]string(nil), p.Keys...)
	return &Agent{up: up, host: host, policy: p, record: record, now: time.Now}
}

// Host returns the host name given to New.
func (a *Agent) Host() string { return a.host }

// Events returns a copy of this host's events so far, oldest first: the last
// MaxEvents of them (see Dropped).
func (a *Agent) Events() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Event, 0, len(a.events))
	out = append(out, a.events[a.next:]...)
	return append(out, a.events[:a.next]...)
}

// Dropped reports how many events were discarded to keep MaxEvents.
func (a *Agent) Dropped() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Signatures reports how many signatures the agent has made for this host.
func (a *Agent) Signatures() int { return int(a.sigs.Load()) }

// emit stamps, stores and reports e.
func (a *Agent) emit(e Event) {
	e.Time = a.now()
	e.Host = a.host
	a.mu.Lock()
	if len(a.events) < MaxEvents {
		a.events = append(a.events, e)
	} else {
		a.events[a.next] = e
		a.next = (a.next + 1) % MaxEvents
		a.dropped++
	}
	a.mu.Unlock()
	if a.record != nil {
		a.record(e)
	}
}

// refuse records a refused operation and returns its error.
func (a *Agent) refuse(op, key, comment string, err error) error {
	a.emit(Event{Op: op, Key: key, Comment: comment, Err: err.Error()})
	return err
}

// List returns the real agent's keys that the Policy allows.
func (a *Agent) List() ([]*agent.Key, error) {
	return a.list(context.Background())
}

func (a *Agent) list(ctx context.Context) ([]*agent.Key, error) {
	var out []*agent.Key
	err := a.up.do(ctx, func(ag agent.ExtendedAgent) error {
		keys, err := ag.List()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if a.policy.allows(k) {
				out = append(out, k)
			}
		}
		return nil
	})
	e := Event{Op: OpList}
	if err != nil {
		e.Err = err.Error()
		out = nil
	}
	a.emit(e)
	return out, err
}

// Sign signs data with key if the Policy allows it and the agent holds it.
func (a *Agent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	return a.sign(context.Background(), key, data, 0)
}

// SignWithFlags is Sign with signature flags (for RSA keys: which SHA-2
// signature algorithm).
func (a *Agent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	return a.sign(context.Background(), key, data, flags)
}

func (a *Agent) sign(ctx context.Context, key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	blob := marshalKey(key)
	e := Event{Op: OpSign, Key: fingerprint(blob)}
	var sig *ssh.Signature
	err := ErrNotAllowed
	if blob != nil {
		err = a.up.do(ctx, func(ag agent.ExtendedAgent) error {
			keys, err := ag.List()
			if err != nil {
				return err
			}
			var k *agent.Key
			for _, c := range keys {
				if bytes.Equal(c.Blob, blob) {
					k = c
					break
				}
			}
			if k == nil {
				return ErrNotAllowed
			}
			e.Comment = k.Comment
			if !a.policy.allows(k) {
				return ErrNotAllowed
			}
			sig, err = ag.SignWithFlags(k, data, flags)
			return err
		})
	}
	if err != nil {
		e.Err = err.Error()
		a.emit(e)
		return nil, err
	}
	a.sigs.Add(1)
	a.emit(e)
	return sig, nil
}

// marshalKey returns the wire form of key, or nil for a nil or broken key.
func marshalKey(key ssh.PublicKey) (blob []byte) {
	defer func() {
		if recover() != nil {
			blob = nil
		}
	}()
	if key == nil {
		return nil
	}
	return key.Marshal()
}

// Add is refused: a remote host may not load keys into the agent.
func (a *Agent) Add(key agent.AddedKey) error {
	return a.refuse(OpRefusedAdd, "", key.Comment, errors.New("agentfwd: adding keys is not allowed through a forwarded agent"))
}

// Remove is refused: a remote host may not remove keys from the agent.
func (a *Agent) Remove(key ssh.PublicKey) error {
	return a.refuse(OpRefusedRemove, fingerprint(marshalKey(key)), "", errors.New("agentfwd: removing keys is not allowed through a forwarded agent"))
}

// RemoveAll is refused: a remote host may not remove keys from the agent.
func (a *Agent) RemoveAll() error {
	return a.refuse(OpRefusedRemoveAll, "", "", errors.New("agentfwd: removing keys is not allowed through a forwarded agent"))
}

// Lock is refused: a remote host may not lock the agent.
func (a *Agent) Lock(passphrase []byte) error {
	return a.refuse(OpRefusedLock, "", "", errors.New("agentfwd: locking the agent is not allowed through a forwarded agent"))
}

// Unlock is refused: a remote host may not unlock the agent.
func (a *Agent) Unlock(passphrase []byte) error {
	return a.refuse(OpRefusedUnlock, "", "", errors.New("agentfwd: unlocking the agent is not allowed through a forwarded agent"))
}

// Signers is refused: it is not part of the agent protocol (a remote host
// cannot ask for it), and handing out signers would bypass the Policy and
// the event log.
func (a *Agent) Signers() ([]ssh.Signer, error) {
	return nil, a.refuse(OpRefusedSigners, "", "", errors.New("agentfwd: signers are not available from a forwarded agent"))
}

// Extension is refused. It returns agent.ErrExtensionUnsupported, so that
// agent.ServeAgent answers SSH_AGENT_FAILURE as the protocol asks for an
// unsupported extension. session-bind@openssh.com in particular must not
// reach the real agent: its connections are pooled and shared by all hosts.
func (a *Agent) Extension(extensionType string, contents []byte) ([]byte, error) {
	a.emit(Event{Op: OpRefusedExtension, Err: fmt.Sprintf("extension %.80q is not allowed through a forwarded agent", extensionType)})
	return nil, agent.ErrExtensionUnsupported
}
