// Package holder keeps authenticated SSH connections across loom runs: a
// per-user background process (the holder) holds them behind a Unix socket
// only the user can reach, and later runs send their commands through it,
// one multiplexed stream per host session, so that a warm command costs one
// round trip to the host (docs/connections.md).
//
// The holder never reads ssh_config and never asks for a secret: a run
// resolves each host itself and sends the resolved settings; the holder
// dials with key files and the agent only, checks host keys as a direct
// run would (never skipped for a new connection), and answers a host that
// needs a password or passphrase with an authentication error, on which
// the run connects directly.
package holder

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/loomssh/loom/internal/sshconfig"
)

// protocolVersion changes whenever the wire changes.
const protocolVersion = 4

// Version is what a run and a holder must agree on: the wire's version and
// the Loom module's, so a holder left by another Loom is refused (and
// replaced), never half understood.
func Version() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/loomssh/loom" {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/loomssh/loom" {
				v = d.Version
			}
		}
	}
	return fmt.Sprintf("loom-holder/%d %s", protocolVersion, v)
}

// Frame types. Stream 0 is the control stream (hello, stop, warnings);
// every other stream is one host session (or one dial), or one relayed
// channel: an agent channel, a tunnelled TCP connection, a listener.
const (
	tHello    byte = iota + 1 // both ways: hello (JSON)
	tStop                     // run -> holder: exit now
	tWarn                     // holder -> run: a warning line
	tDial                     // run -> holder: connect to the target (JSON open)
	tOpen                     // run -> holder: start a command (JSON open)
	tStdin                    // run -> holder: stdin bytes
	tStdinEOF                 // run -> holder: stdin closed
	tSignal                   // run -> holder: signal name
	tKill                     // run -> holder: close the session
	tOK                       // holder -> run: dialled, or command started
	tError                    // holder -> run: could not (JSON Error)
	tStdout                   // holder -> run: stdout bytes
	tStderr                   // holder -> run: stderr bytes
	tExit                     // holder -> run: the command ended (JSON exit)
	tDrop                     // run -> holder: close a host's held connections (JSON drop)

	// Relayed channels (forward.go): an agent channel the host opened, a
	// TCP connection through the host (-L), a listener on the host (-R)
	// and the connections it accepts. Streams the holder opens have
	// holderStream set in their id.
	tAgentOpen // holder -> run: the host opened an agent channel (JSON agentOpen)
	tForward   // run -> holder: a direct-tcpip channel to an address (JSON tunnel); tOK or tError
	tListen    // run -> holder: tcpip-forward on the host (JSON tunnel); tOK (JSON Listening) or tError
	tAccept    // holder -> run: a connection to a run's listener (JSON accepted)
	tData      // both ways: bytes of a relayed channel
	tEOF       // both ways: no more bytes this way
	tClose     // both ways: the relayed channel (or listener) is closed
	tAck       // both ways: this many bytes of a relayed channel were read (uint32; window.go)
)

// holderStream marks the ids of streams the holder opens (agent channels,
// accepted connections): a run numbers its own from 1 up.
const holderStream uint32 = 1 << 31

// maxFrame bounds a frame's payload: a peer sending more is broken.
const maxFrame = 1 << 20

type frame struct {
	id   uint32
	typ  byte
	data []byte
}

func writeFrame(w io.Writer, f frame) error {
	var hdr [9]byte
	binary.BigEndian.PutUint32(hdr[0:], f.id)
	hdr[4] = f.typ
	binary.BigEndian.PutUint32(hdr[5:], uint32(len(f.data)))
	if _, err := w.Write(append(hdr[:], f.data...)); err != nil {
		return err
	}
	return nil
}

func readFrame(r *bufio.Reader) (frame, error) {
	var hdr [9]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[5:])
	if n > maxFrame {
		return frame{}, fmt.Errorf("holder: frame of %d bytes", n)
	}
	f := frame{id: binary.BigEndian.Uint32(hdr[0:]), typ: hdr[4], data: make([]byte, n)}
	_, err := io.ReadFull(r, f.data)
	return f, err
}

// hello is the first frame each way.
type hello struct {
	Version string
	PID     int
}

// Settings are the run's Dialer settings a held connection depends on
// besides the host's own: connections are held per Settings and host.
type Settings struct {
	HostKeyPolicy    string // overrides the host's StrictHostKeyChecking when set
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration
	MaxSessions      int
	Retries          int
	AgentSocket      string // the run's agent ($SSH_AUTH_SOCK), for logging in
	// ForwardAgent is set for the connections a run forwards its agent on
	// (Target.Agent): they are held apart from the others, because once
	// one session asked, sshd gives SSH_AUTH_SOCK to every later session
	// of the connection. The holder sets it from Target.Agent.
	ForwardAgent bool `json:",omitempty"`
}

// Hop is a jump host the run resolved: the Host for a ProxyJump entry
// reached through Via.
type Hop struct {
	Name string
	Via  []string
	Host *sshconfig.Host
}

// Target is a host as the run resolved it, with its jump hosts, and how
// long its connection is to be held after its last use (the latest run's
// value wins; sshconfig.Forever: until stopped).
type Target struct {
	Settings Settings
	Host     *sshconfig.Host
	Hops     []Hop
	Persist  time.Duration
	// Env is sent with each command (ssh_config SendEnv and SetEnv, with
	// the run's own values: the holder's environment is not the run's).
	Env []sshconfig.EnvVar `json:",omitempty"`
	// Agent, when not 0, forwards the run's agent on the host's sessions:
	// the run's number for the filtering agent that serves the agent
	// channels the host opens (Client.ServeAgent). The holder relays them
	// to this run only, and only while it is connected.
	Agent uint32 `json:",omitempty"`
}

// open is a tDial or tOpen request: a command, or a subsystem (sftp).
type open struct {
	Target
	Cmd       string `json:",omitempty"`
	Subsystem string `json:",omitempty"`
	Pty       *Pty   `json:",omitempty"`
}

// tunnel is a tForward or tListen request: the host's connection, and
// the address to connect to (as the host sees it) or to listen on (there).
type tunnel struct {
	Target
	Addr string
}

// Listening is the holder's answer to a tListen: the address the host
// listens on (its port, when 0 was asked).
type Listening struct{ Addr string }

// accepted is a tAccept: a connection the host accepted on the run's
// listener stream Listener, from Remote.
type accepted struct {
	Listener uint32
	Remote   string `json:",omitempty"`
}

// agentOpen is a tAgentOpen: the host opened an agent channel on a
// connection the run forwards its agent Agent on.
type agentOpen struct{ Agent uint32 }

// drop is a tDrop request: every held connection to the host the run
// names Alias (as given: -H web1).
type drop struct{ Alias string }

// Dropped is the holder's answer to a tDrop: the connections it closed,
// as user@host:port.
type Dropped struct{ Conns []string }

// Dialled is the holder's answer to a tDial.
type Dialled struct {
	ServerVersion string // the host's SSH version string
}

// Pty is the terminal a command asks for.
type Pty struct {
	Term          string
	Width, Height int
}

// Error is an error of the holder or of a host it dialled, as the run
// receives it.
type Error struct {
	// Kind is "connect" (Reason, Host, Addr, Via say more), "lost" (the
	// connection went away), "session" (a session could not be opened or
	// started) or "holder".
	Kind   string
	Reason int    `json:",omitempty"`
	Host   string `json:",omitempty"`
	Addr   string `json:",omitempty"`
	Via    string `json:",omitempty"`
	Msg    string
}

// Exit is how a command ended.
type Exit struct {
	Code     int
	Signal   string `json:",omitempty"`
	NoStatus bool   `json:",omitempty"` // the channel closed without an exit status
	Lost     string `json:",omitempty"` // the connection went away: why
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types
	}
	return b
}

// ErrNotSupported is returned where the holder cannot work (Windows).
var ErrNotSupported = errors.New("the connection holder (--persist) needs a Unix system: not on Windows")

func (e *Error) Error() string {
	if e.Host != "" && e.Kind == "connect" {
		return e.Host + ": " + e.Msg
	}
	return e.Msg
}
