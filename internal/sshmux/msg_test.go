package sshmux

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The exact bytes of every message the client composes, against
// testdata/NAME.golden (go test -update rewrites them). The layouts are
// PROTOCOL.mux's; TestRealMaster checks that OpenSSH takes them.
func TestMessagesGolden(t *testing.T) {
	msgs := map[string][]byte{
		"hello":                 helloMsg(),
		"alive_check":           aliveCheckMsg(7),
		"new_session_command":   newSessionMsg(1, SessionRequest{Command: "echo hi; exit 3"}),
		"new_session_tty":       newSessionMsg(2, SessionRequest{Command: "tty", TTY: true, Term: "xterm-256color"}),
		"new_session_subsystem": newSessionMsg(3, SessionRequest{Command: "sftp", Subsystem: true}),
		"new_session_env":       newSessionMsg(4, SessionRequest{Command: "env", Env: []string{"LANG=C.UTF-8", "TZ=UTC"}}),
		"new_session_shell":     newSessionMsg(0xfffffffe, SessionRequest{}),
	}
	for name, got := range msgs {
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (go test -update writes it)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", name, got, want)
		}
	}
}

// The golden files spelled out once by hand, so that -update cannot
// quietly bless a wrong layout.
func TestNewSessionLayout(t *testing.T) {
	got := newSessionMsg(1, SessionRequest{Command: "id", TTY: true, Term: "vt"})
	want := []byte{
		0, 0, 0, 44, // length
		0x10, 0, 0, 2, // MUX_C_NEW_SESSION
		0, 0, 0, 1, // request id
		0, 0, 0, 0, // reserved (empty string)
		0, 0, 0, 1, // want tty
		0, 0, 0, 0, // want X11
		0, 0, 0, 0, // want agent
		0, 0, 0, 0, // subsystem
		0xff, 0xff, 0xff, 0xff, // escape char: none
		0, 0, 0, 2, 'v', 't', // terminal type
		0, 0, 0, 2, 'i', 'd', // command
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("\n got % x\nwant % x", got, want)
	}
	if hello := helloMsg(); !bytes.Equal(hello, []byte{0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4}) {
		t.Fatalf("hello % x", hello)
	}
}

func TestParseReply(t *testing.T) {
	b := func() builder { return builder(nil) }
	tests := []struct {
		name string
		body []byte
		want reply
		err  string // "" no error; "protocol": a *ProtocolError
	}{
		{"hello", b().u32(msgHello).u32(4).str("info").str("0"), reply{typ: msgHello, val: 4}, ""},
		{"hello bare", b().u32(msgHello).u32(4), reply{typ: msgHello, val: 4}, ""},
		{"alive", b().u32(msgAlive).u32(3).u32(4242), reply{typ: msgAlive, id: 3, val: 4242}, ""},
		{"opened", b().u32(msgSessionOpened).u32(1).u32(9), reply{typ: msgSessionOpened, id: 1, val: 9}, ""},
		{"exit", b().u32(msgExitMessage).u32(9).u32(3), reply{typ: msgExitMessage, id: 9, val: 3}, ""},
		{"tty fail", b().u32(msgTTYAllocFail).u32(9), reply{typ: msgTTYAllocFail, id: 9}, ""},
		{"failure", b().u32(msgFailure).u32(1).str("Multiple sessions not supported"), reply{typ: msgFailure, id: 1, reason: "Multiple sessions not supported"}, ""},
		{"denied", b().u32(msgPermissionDenied).u32(1).str("Permission denied"), reply{typ: msgPermissionDenied, id: 1, reason: "Permission denied"}, ""},
		{"ok", b().u32(msgOK).u32(5), reply{typ: msgOK, id: 5}, ""},
		{"empty", nil, reply{}, "protocol"},
		{"short exit", b().u32(msgExitMessage).u32(9), reply{}, "protocol"},
		{"reason too long", append(b().u32(msgFailure).u32(1).u32(100), "abc"...), reply{}, "protocol"},
		{"bad extension", b().u32(msgHello).u32(4).str("info"), reply{}, "protocol"},
		{"unknown", b().u32(0x12345678), reply{}, "protocol"},
	}
	for _, tt := range tests {
		got, err := parseReply(tt.body)
		var pe *ProtocolError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err == "protocol" && !errors.As(err, &pe):
			t.Errorf("%s: error %v, want a *ProtocolError", tt.name, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if err := (reply{typ: msgPermissionDenied, reason: "no"}).refused(msgAlive, "x"); !errors.As(err, new(*RefusedError)) || !err.(*RefusedError).Denied {
		t.Errorf("denied: %v", err)
	}
}

// FuzzParseReply: no input makes the parser panic or read past the
// body; what it accepts is one of the replies the protocol defines.
func FuzzParseReply(f *testing.F) {
	b := func() builder { return builder(nil) }
	for _, seed := range [][]byte{
		b().u32(msgHello).u32(4).str("info").str("0"),
		b().u32(msgAlive).u32(0).u32(1),
		b().u32(msgSessionOpened).u32(1).u32(2),
		b().u32(msgExitMessage).u32(2).u32(0),
		b().u32(msgTTYAllocFail).u32(2),
		b().u32(msgFailure).u32(1).str("x"),
		b().u32(msgPermissionDenied).u32(1).str(""),
		b().u32(msgOK).u32(1),
		b().u32(msgRemotePort).u32(1).u32(22),
		{0xff},
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseReply(body)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ProtocolError", err)
			}
			return
		}
		switch r.typ {
		case msgHello, msgOK, msgPermissionDenied, msgFailure, msgExitMessage, msgAlive, msgSessionOpened, msgRemotePort, msgTTYAllocFail:
		default:
			t.Fatalf("accepted type %#x", r.typ)
		}
		if len(r.reason) > len(body) {
			t.Fatalf("reason longer than the body")
		}
	})
}
