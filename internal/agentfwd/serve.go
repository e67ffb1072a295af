package agentfwd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// channelType is the channel an OpenSSH server opens for each connection to
// the forwarded agent (PROTOCOL, section 2.1 "agent forwarding").
const channelType = "auth-agent@openssh.com"

// maxChannels caps the agent channels served at once on one connection. A
// remote ssh holds its agent connection only while it authenticates, so a
// few are open at a time; the cap stops a hostile host from opening
// thousands. A channel beyond it is rejected (the remote sees "agent refused
// operation" or falls back to other keys) and recorded.
const maxChannels = 64

// maxRequest is the largest request accepted from a remote host, as
// OpenSSH's ssh-agent (AGENT_MAX_LEN, 256 KiB). A larger one closes the
// channel.
const maxRequest = 256 << 10

// Agent protocol message numbers (PROTOCOL.agent; draft-miller-ssh-agent).
const (
	msgFailure            = 5
	msgRemoveAllV1        = 9 // SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES; ssh-add -D still sends it
	msgRequestIdentities  = 11
	msgIdentitiesAnswer   = 12
	msgSignRequest        = 13
	msgSignResponse       = 14
	msgAddIdentity        = 17
	msgRemoveIdentity     = 18
	msgRemoveAll          = 19
	msgAddSmartcard       = 20
	msgRemoveSmartcard    = 21
	msgLock               = 22
	msgUnlock             = 23
	msgAddIDConstrained   = 25
	msgAddSmartcardConstr = 26
	msgExtension          = 27
)

// Serve registers the handler for auth-agent@openssh.com channels on client
// and serves each channel the server opens with a, until the connection
// closes; requests in flight to the real agent are then interrupted. Call it
// once per client, before agent.RequestAgentForwarding on the client's first
// session (OpenSSH's sshd grants that request once per connection; a channel
// the host opens before Serve is rejected). It fails if the client already
// has a handler for these channels (agent.ForwardToAgent, or a second Serve).
//
// Each channel speaks the agent protocol as agent.ServeAgent(a, channel)
// would, with two differences that matter when the other end is hostile:
// only list and sign requests reach a, and everything else is answered with
// SSH_AGENT_FAILURE and recorded without being parsed (x/crypto would decode
// the private key in an add request before a could refuse it); and nothing
// is written to the standard logger (agent.ServeAgent logs every failed
// request with log.Printf, which would let a remote host write to Loom's
// stderr at will).
func Serve(client *ssh.Client, a *Agent) error {
	if client == nil {
		return errors.New("agentfwd: no ssh client")
	}
	if a == nil {
		return errors.New("agentfwd: no agent")
	}
	chans := client.HandleChannelOpen(channelType)
	if chans == nil {
		return errors.New("agentfwd: agent forwarding is already set up on this connection")
	}
	go serveChannels(chans, a)
	return nil
}

// serveChannels serves every agent channel opened until chans is closed,
// which x/crypto does when the connection ends.
func serveChannels(chans <-chan ssh.NewChannel, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slots := make(chan struct{}, maxChannels)
	for nc := range chans {
		select {
		case slots <- struct{}{}:
		default:
			nc.Reject(ssh.ResourceShortage, "too many agent connections")
			a.emit(Event{Op: OpRefusedTooManyChannels, Err: fmt.Sprintf("more than %d agent channels at once", maxChannels)})
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			<-slots
			continue
		}
		go ssh.DiscardRequests(reqs)
		go func() {
			defer func() { <-slots }()
			serveConn(ctx, a, ch)
			ch.Close()
		}()
	}
}

// ServeStream serves one agent connection that reaches this process by
// another way than a channel of an ssh.Client of its own (the connection
// holder relays a held connection's agent channels as streams): as Serve
// serves a channel, with the same cap of channels at once per Agent, and
// the same event log. It returns when rw ends or fails, or ctx ends; the
// caller closes rw.
func (a *Agent) ServeStream(ctx context.Context, rw io.ReadWriter) error {
	a.slotsOnce.Do(func() { a.slots = make(chan struct{}, maxChannels) })
	select {
	case a.slots <- struct{}{}:
	default:
		a.emit(Event{Op: OpRefusedTooManyChannels, Err: fmt.Sprintf("more than %d agent channels at once", maxChannels)})
		return errors.New("agentfwd: too many agent connections")
	}
	defer func() { <-a.slots }()
	return serveConn(ctx, a, rw)
}

// serveConn answers agent requests read from rw until it fails or ends. It
// returns nil at a clean end of input.
func serveConn(ctx context.Context, a *Agent, rw io.ReadWriter) error {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(rw, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > maxRequest {
			a.emit(Event{Op: OpRefusedMalformed, Err: fmt.Sprintf("request of %d bytes", n)})
			return fmt.Errorf("agentfwd: request of %d bytes", n)
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(rw, req); err != nil {
			return err
		}
		reply := a.handle(ctx, req)
		msg := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(reply)), uint32(len(reply)))
		if _, err := rw.Write(append(msg, reply...)); err != nil {
			return err
		}
	}
}

var failure = []byte{msgFailure}

// handle answers one request (without its length prefix).
func (a *Agent) handle(ctx context.Context, req []byte) []byte {
	switch req[0] {
	case msgRequestIdentities:
		keys, err := a.list(ctx)
		if err != nil {
			return failure
		}
		out := binary.BigEndian.AppendUint32([]byte{msgIdentitiesAnswer}, uint32(len(keys)))
		for _, k := range keys {
			out = appendString(out, k.Blob)
			out = appendString(out, []byte(k.Comment))
		}
		return out

	case msgSignRequest:
		var m struct {
			KeyBlob []byte `sshtype:"13"`
			Data    []byte
			Flags   uint32
		}
		if err := ssh.Unmarshal(req, &m); err != nil {
			a.emit(Event{Op: OpSign, Err: "malformed sign request"})
			return failure
		}
		sig, err := a.sign(ctx, &agent.Key{Format: keyFormat(m.KeyBlob), Blob: m.KeyBlob}, m.Data, agent.SignatureFlags(m.Flags))
		if err != nil {
			return failure
		}
		return appendString([]byte{msgSignResponse}, ssh.Marshal(sig))

	case msgAddIdentity, msgAddIDConstrained:
		a.Add(agent.AddedKey{}) // the key is not decoded: it is refused whatever it is
	case msgRemoveIdentity:
		var m struct {
			KeyBlob []byte `sshtype:"18"`
		}
		if ssh.Unmarshal(req, &m) != nil {
			m.KeyBlob = nil
		}
		a.refuse(OpRefusedRemove, fingerprint(m.KeyBlob), "", errors.New("agentfwd: removing keys is not allowed through a forwarded agent"))
	case msgRemoveAll, msgRemoveAllV1:
		a.RemoveAll()
	case msgLock:
		a.Lock(nil)
	case msgUnlock:
		a.Unlock(nil)
	case msgAddSmartcard, msgAddSmartcardConstr, msgRemoveSmartcard:
		a.refuse(OpRefusedSmartcard, "", "", errors.New("agentfwd: PKCS#11 providers cannot be added or removed through a forwarded agent"))
	case msgExtension:
		var m struct {
			Name string `sshtype:"27"`
			Rest []byte `ssh:"rest"`
		}
		if ssh.Unmarshal(req, &m) != nil {
			a.emit(Event{Op: OpRefusedMalformed, Err: "malformed extension request"})
			return failure
		}
		a.Extension(m.Name, nil)
	default:
		a.refuse(OpRefusedUnknown, "", "", fmt.Errorf("agentfwd: request type %d is not served", req[0]))
	}
	return failure
}

// appendString appends b to out as an SSH string (uint32 length, bytes).
func appendString(out, b []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	return append(out, b...)
}

// keyFormat returns the algorithm name at the start of a key blob, or "".
func keyFormat(blob []byte) string {
	var w struct {
		Format string
		Rest   []byte `ssh:"rest"`
	}
	if ssh.Unmarshal(blob, &w) != nil {
		return ""
	}
	return w.Format
}
