package sshmux

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the mux protocol version this client speaks; a master
// speaking another is refused.
const Version = 4

// Message types (PROTOCOL.mux section 11).
const (
	msgHello            = 0x00000001
	msgNewSession       = 0x10000002
	msgAliveCheck       = 0x10000004
	msgOK               = 0x80000001
	msgPermissionDenied = 0x80000002
	msgFailure          = 0x80000003
	msgExitMessage      = 0x80000004
	msgAlive            = 0x80000005
	msgSessionOpened    = 0x80000006
	msgRemotePort       = 0x80000007
	msgTTYAllocFail     = 0x80000008
)

// noEscape is the escape character that disables escapes (~. and the
// like), which a program's input must never trigger.
const noEscape = 0xffffffff

// maxPacket bounds a packet from the master (OpenSSH's own client takes
// up to 256 KiB).
const maxPacket = 256 * 1024

// SessionRequest is what a new session runs and how.
type SessionRequest struct {
	// Command is the command line (or, with Subsystem, the subsystem's
	// name); empty: the user's login shell.
	Command string
	// TTY asks for a remote pseudo-terminal; the master reads its modes
	// from the stdin descriptor and its size from it (TIOCGWINSZ).
	TTY bool
	// Subsystem runs Command as a subsystem ("sftp").
	Subsystem bool
	// Term is the terminal type for a TTY ($TERM).
	Term string
	// Env holds "NAME=value" strings; the master passes on only those
	// its own SendEnv allows.
	Env []string
}

// ProtocolError is a message from the master this client cannot take: a
// malformed packet, an unexpected type or request id, another protocol
// version.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "OpenSSH mux protocol: " + e.Msg }

// RefusedError is a request the master refused: MUX_S_PERMISSION_DENIED
// (Denied) or MUX_S_FAILURE, with the master's reason.
type RefusedError struct {
	Denied bool
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Denied {
		return "the OpenSSH master denied the request: " + e.Reason
	}
	return "the OpenSSH master refused the request: " + e.Reason
}

// ErrClosed is returned when the master closed the control connection
// before it answered.
var ErrClosed = errors.New("the OpenSSH master closed the control connection")

// ErrNoExitStatus is returned by Session.Wait when the session ended
// without an exit message: the command was killed by a signal (the
// protocol carries only exit codes), or the master went away.
var ErrNoExitStatus = errors.New("the session ended without an exit status")

// builder composes a message body in SSH wire format.
type builder []byte

func (b builder) u32(v uint32) builder { return binary.BigEndian.AppendUint32(b, v) }
func (b builder) str(s string) builder { return append(b.u32(uint32(len(s))), s...) }
func (b builder) flag(v bool) builder {
	if v {
		return b.u32(1)
	}
	return b.u32(0)
}

// packet frames a body: its length, then the body.
func packet(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// helloMsg is the client's hello: version 4, no extensions.
func helloMsg() []byte { return packet(builder(nil).u32(msgHello).u32(Version)) }

// aliveCheckMsg asks the master for its pid.
func aliveCheckMsg(id uint32) []byte {
	return packet(builder(nil).u32(msgAliveCheck).u32(id))
}

// newSessionMsg asks for a passenger session. X11 and agent forwarding
// are never asked for, and escapes are off.
func newSessionMsg(id uint32, r SessionRequest) []byte {
	b := builder(nil).u32(msgNewSession).u32(id).
		str(""). // reserved
		flag(r.TTY).flag(false).flag(false).flag(r.Subsystem).
		u32(noEscape).str(r.Term).str(r.Command)
	for _, e := range r.Env {
		b = b.str(e)
	}
	return packet(b)
}

// reply is one message from the master.
type reply struct {
	typ uint32
	// id is the client request id, or the session id of an exit message
	// or a TTY allocation failure.
	id uint32
	// val is the version of a hello, the pid of an alive reply, the
	// session id of an opened session, the exit value of an exit
	// message, the port of a remote-port reply.
	val    uint32
	reason string // of a failure or a denial
}

// parser reads a message body.
type parser struct {
	b   []byte
	bad bool
}

func (p *parser) u32() uint32 {
	if len(p.b) < 4 {
		p.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(p.b)
	p.b = p.b[4:]
	return v
}

func (p *parser) str() string {
	n := p.u32()
	if p.bad || uint64(n) > uint64(len(p.b)) {
		p.bad = true
		return ""
	}
	s := string(p.b[:n])
	p.b = p.b[n:]
	return s
}

// parseReply parses a packet body from the master.
func parseReply(body []byte) (reply, error) {
	p := &parser{b: body}
	r := reply{typ: p.u32()}
	if p.bad {
		return r, &ProtocolError{"empty message"}
	}
	switch r.typ {
	case msgHello:
		r.val = p.u32()
		for !p.bad && len(p.b) > 0 { // extensions: name, value
			p.str()
			p.str()
		}
	case msgOK:
		r.id = p.u32()
	case msgPermissionDenied, msgFailure:
		r.id = p.u32()
		r.reason = p.str()
	case msgExitMessage, msgAlive, msgSessionOpened, msgRemotePort:
		r.id = p.u32()
		r.val = p.u32()
	case msgTTYAllocFail:
		r.id = p.u32()
	default:
		return r, &ProtocolError{fmt.Sprintf("unknown message type %#08x", r.typ)}
	}
	if p.bad {
		return r, &ProtocolError{fmt.Sprintf("malformed message of type %#08x", r.typ)}
	}
	return r, nil
}

// refused returns the error of a failure or denial reply, or a protocol
// error for any other reply than want to a request.
func (r reply) refused(want uint32, what string) error {
	switch r.typ {
	case msgPermissionDenied:
		return &RefusedError{Denied: true, Reason: r.reason}
	case msgFailure:
		return &RefusedError{Reason: r.reason}
	}
	return &ProtocolError{fmt.Sprintf("unexpected reply %#08x to %s (want %#08x)", r.typ, what, want)}
}
