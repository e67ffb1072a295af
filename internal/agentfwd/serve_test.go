package agentfwd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/testkit"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshPair connects an x/crypto client to an in-process x/crypto server over
// loopback TCP. The server plays the remote host: it opens agent channels.
func sshPair(t *testing.T) (*ssh.Client, *ssh.ServerConn) {
	t.Helper()
	host := newKey(t, "host")
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(host.signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sc  *ssh.ServerConn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{nil, err}
			return
		}
		sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
		if err != nil {
			c.Close()
			done <- result{nil, err}
			return
		}
		go ssh.DiscardRequests(reqs)
		go func() {
			for nc := range chans {
				nc.Reject(ssh.Prohibited, "no channels here")
			}
		}()
		done <- result{sc, nil}
	}()
	client, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{
		User: "u", HostKeyCallback: ssh.FixedHostKey(host.pub), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.sc.Close() })
	return client, r.sc
}

// openAgent opens an agent channel from the server side, as sshd does for
// each process that connects to $SSH_AUTH_SOCK.
func openAgent(t *testing.T, sc *ssh.ServerConn) ssh.Channel {
	t.Helper()
	ch, reqs, err := sc.OpenChannel(channelType, nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	t.Cleanup(func() { ch.Close() })
	return ch
}

func TestServe(t *testing.T) {
	alice, deploy := newKey(t, "alice@laptop"), newKey(t, "deploy-ci")
	f := startFakeAgent(t, keyring(t, alice, deploy))
	up := NewUpstream(f.path, 2)
	defer up.Close()
	log := &eventLog{}
	a := New(up, "web1", Policy{Keys: []string{"deploy-*"}}, log.record)
	client, sc := sshPair(t)
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	remote := agent.NewClient(openAgent(t, sc))

	keys, err := remote.List()
	if err != nil {
		t.Fatal(err)
	}
	if got := fingerprints(keys); !reflect.DeepEqual(got, []string{deploy.fp}) || keys[0].Comment != "deploy-ci" {
		t.Fatalf("remote lists %v, want only deploy-ci", keys)
	}
	signAndVerify(t, remote, deploy.pub)
	if _, err := remote.Sign(alice.pub, []byte("guess")); err == nil {
		t.Error("remote signed with a key not allowed")
	}
	if err := remote.Add(newKey(t, "planted").added()); err == nil {
		t.Error("remote added a key")
	}
	if err := remote.Remove(deploy.pub); err == nil {
		t.Error("remote removed a key")
	}
	if err := remote.RemoveAll(); err == nil {
		t.Error("remote removed all keys")
	}
	if err := remote.Lock([]byte("pw")); err == nil {
		t.Error("remote locked the agent")
	}
	if err := remote.Unlock([]byte("pw")); err == nil {
		t.Error("remote unlocked the agent")
	}
	if _, err := remote.Extension("query", nil); !errors.Is(err, agent.ErrExtensionUnsupported) {
		t.Errorf("extension: %v, want SSH_AGENT_FAILURE (agent.ErrExtensionUnsupported)", err)
	}
	// A second channel (another process on the remote) works too.
	if keys, err := agent.NewClient(openAgent(t, sc)).List(); err != nil || len(keys) != 1 {
		t.Errorf("second channel: %v, %v", keys, err)
	}

	want := []string{OpList, OpSign, OpSign, OpRefusedAdd, OpRefusedRemove, OpRefusedRemoveAll,
		OpRefusedLock, OpRefusedUnlock, OpRefusedExtension, OpList}
	if got := log.ops(); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %v\nwant     %v", got, want)
	}
	if got := a.Events(); got[4].Key != deploy.fp {
		t.Errorf("remove event %+v: want the key's fingerprint", got[4])
	}
	if a.Signatures() != 1 {
		t.Errorf("Signatures = %d, want 1", a.Signatures())
	}
	if got := listAgent(t, f.path); len(got) != 2 {
		t.Errorf("upstream agent has %d keys, want 2", len(got))
	}
}

func TestServeOncePerClient(t *testing.T) {
	client, _ := sshPair(t)
	a := New(nil, "h", Policy{}, nil)
	if err := Serve(nil, a); err == nil {
		t.Error("Serve(nil client) succeeded")
	}
	if err := Serve(client, nil); err == nil {
		t.Error("Serve(nil agent) succeeded")
	}
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	if err := Serve(client, a); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second Serve: %v", err)
	}
	if err := agent.ForwardToAgent(client, a); err == nil {
		t.Error("agent.ForwardToAgent after Serve succeeded")
	}
}

// frame returns an agent protocol message with its length.
func frame(msg ...byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

func TestServeRefusesRawRequests(t *testing.T) {
	alice := newKey(t, "alice")
	f := startFakeAgent(t, keyring(t, alice))
	up := NewUpstream(f.path, 1)
	defer up.Close()
	a := New(up, "h", Policy{}, nil)
	client, sc := sshPair(t)
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	ch := openAgent(t, sc)
	removeAlice := appendString([]byte{msgRemoveIdentity}, alice.pub.Marshal())
	for _, tc := range []struct {
		name string
		msg  []byte
		op   string
	}{
		{"v1 list", []byte{1}, OpRefusedUnknown},
		{"v1 remove all", []byte{9}, OpRefusedRemoveAll},
		{"add garbage", []byte{msgAddIdentity, 0xff, 0xff}, OpRefusedAdd},
		{"add constrained", append([]byte{msgAddIDConstrained}, alice.pub.Marshal()...), OpRefusedAdd},
		{"remove", removeAlice, OpRefusedRemove},
		{"remove garbage", []byte{msgRemoveIdentity, 1}, OpRefusedRemove},
		{"remove all", []byte{msgRemoveAll}, OpRefusedRemoveAll},
		{"add smartcard", append([]byte{msgAddSmartcard}, "\x00\x00\x00\x08/lib/p11\x00\x00\x00\x00"...), OpRefusedSmartcard},
		{"add smartcard constrained", []byte{msgAddSmartcardConstr}, OpRefusedSmartcard},
		{"remove smartcard", []byte{msgRemoveSmartcard}, OpRefusedSmartcard},
		{"lock", appendString([]byte{msgLock}, []byte("pw")), OpRefusedLock},
		{"unlock", []byte{msgUnlock}, OpRefusedUnlock},
		{"session-bind", appendString([]byte{msgExtension}, []byte("session-bind@openssh.com")), OpRefusedExtension},
		{"extension garbage", []byte{msgExtension, 0, 0, 9}, OpRefusedMalformed},
		{"sign garbage", []byte{msgSignRequest, 0, 0, 0, 50}, OpSign},
		{"sign unknown key", append(appendString([]byte{msgSignRequest}, []byte("junk")), 0, 0, 0, 0, 0, 0, 0, 0), OpSign},
		{"unknown type", []byte{200, 1, 2, 3}, OpRefusedUnknown},
	} {
		before := len(a.Events())
		if _, err := ch.Write(frame(tc.msg...)); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, 5)
		if _, err := io.ReadFull(ch, reply); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(reply, frame(msgFailure)) {
			t.Errorf("%s: reply %x, want SSH_AGENT_FAILURE", tc.name, reply)
		}
		ev := a.Events()
		if len(ev) != before+1 || ev[len(ev)-1].Op != tc.op || ev[len(ev)-1].Err == "" {
			t.Errorf("%s: events %+v, want one more, %s with an error", tc.name, ev[before:], tc.op)
		}
	}
	if e := a.Events()[4]; e.Key != alice.fp {
		t.Errorf("raw remove event %+v: want alice's fingerprint", e)
	}
	if a.Signatures() != 0 || len(listAgent(t, f.path)) != 1 {
		t.Error("a raw request changed something")
	}
	// The channel still works after all that.
	if keys, err := agent.NewClient(ch).List(); err != nil || len(keys) != 1 {
		t.Fatalf("list after refusals: %v, %v", keys, err)
	}
}

func TestServeOversizedRequestClosesChannel(t *testing.T) {
	a := New(nil, "h", Policy{}, nil)
	client, sc := sshPair(t)
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint32{0, maxRequest + 1, 1 << 31} {
		ch := openAgent(t, sc)
		if _, err := ch.Write(binary.BigEndian.AppendUint32(nil, n)); err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(ch); err != nil || len(b) != 0 {
			t.Errorf("length %d: read %x, %v; want the channel closed", n, b, err)
		}
	}
	for _, e := range a.Events() {
		if e.Op != OpRefusedMalformed {
			t.Errorf("event %+v, want %s", e, OpRefusedMalformed)
		}
	}
	if n := len(a.Events()); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

// TestServeDisconnectInterrupts: when the connection to the host ends, a
// request waiting on a hung agent is interrupted, not left for the deadline.
func TestServeDisconnectInterrupts(t *testing.T) {
	f := startFakeAgent(t, keyring(t))
	f.hang.Store(true)
	up := NewUpstream(f.path, 1)
	defer up.Close()
	up.SetTimeout(time.Minute)
	a := New(up, "h", Policy{}, nil)
	client, sc := sshPair(t)
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	ch := openAgent(t, sc)
	if _, err := ch.Write(frame(msgRequestIdentities)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to reach the agent", func() bool { return f.accepts.Load() == 1 })
	start := time.Now()
	client.Close()
	waitFor(t, "the list request to fail", func() bool { return len(a.Events()) == 1 })
	if e := a.Events()[0]; !strings.Contains(e.Err, "interrupted") {
		t.Errorf("event %+v: want an interrupted request", e)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestServeChannelCap(t *testing.T) {
	key := newKey(t, "k")
	f := startFakeAgent(t, keyring(t, key))
	up := NewUpstream(f.path, 1)
	defer up.Close()
	a := New(up, "h", Policy{}, nil)
	client, sc := sshPair(t)
	if err := Serve(client, a); err != nil {
		t.Fatal(err)
	}
	var chans []ssh.Channel
	for range maxChannels {
		chans = append(chans, openAgent(t, sc))
	}
	_, _, err := sc.OpenChannel(channelType, nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage {
		t.Fatalf("channel %d: %v, want refused for resource shortage", maxChannels+1, err)
	}
	if ev := a.Events(); len(ev) != 1 || ev[0].Op != OpRefusedTooManyChannels {
		t.Errorf("events %+v, want one %s", ev, OpRefusedTooManyChannels)
	}
	// Every accepted channel is served.
	if keys, err := agent.NewClient(chans[maxChannels-1]).List(); err != nil || len(keys) != 1 {
		t.Fatalf("list on the last channel: %v, %v", keys, err)
	}
	// Closing one frees its slot.
	chans[0].Close()
	waitFor(t, "a free channel slot", func() bool {
		ch, reqs, err := sc.OpenChannel(channelType, nil)
		if err != nil {
			return false
		}
		go ssh.DiscardRequests(reqs)
		ch.Close()
		return true
	})
}

// syncBuffer is the tests' buffer safe for concurrent writes.
type syncBuffer = testkit.SyncBuffer

// TestServeWritesNoLog: refused and failed requests reach the event log
// only, never the standard logger (agent.ServeAgent logs each one with
// log.Printf, which would let a host write to Loom's stderr at will).
func TestServeWritesNoLog(t *testing.T) {
	alice, deploy := newKey(t, "alice"), newKey(t, "deploy")
	f := startFakeAgent(t, keyring(t, alice, deploy))
	up := NewUpstream(f.path, 1)
	defer up.Close()
	var buf syncBuffer
	old := log.Writer()
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(old) })

	exercise := func(serve func(a *Agent, c net.Conn)) {
		a := New(up, "h", Policy{Keys: []string{"deploy"}}, nil)
		sock := serveSocket(t, func(c net.Conn) { serve(a, c) })
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		remote := agent.NewClient(c)
		remote.Sign(alice.pub, []byte("d"))
		remote.RemoveAll()
		remote.Lock([]byte("pw"))
		remote.Add(newKey(t, "x").added())
		if len(a.Events()) != 4 {
			t.Errorf("%d events, want 4", len(a.Events()))
		}
	}
	exercise(func(a *Agent, c net.Conn) { serveConn(context.Background(), a, c) })
	if s := buf.Take(); s != "" {
		t.Errorf("serveConn wrote to the standard logger:\n%s", s)
	}
	exercise(func(a *Agent, c net.Conn) { agent.ServeAgent(a, c) })
	if s := buf.Take(); s == "" {
		t.Log("agent.ServeAgent no longer logs refused requests")
	} else {
		t.Logf("agent.ServeAgent logs, for comparison:\n%s", s)
	}
}
