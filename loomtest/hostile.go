package loomtest

// The hostile faults: a server that trickles output, lies about exit
// statuses, floods the client with text before its version line, or breaks
// the protocol in ways x/crypto's server cannot be made to (a window
// adjustment past 2^32-1, a banner larger than any packet may be). The last
// two need a server of our own: scriptedConn below speaks just enough SSH
// (curve25519-sha256, ssh-ed25519 or RSA host keys, aes128-ctr with
// hmac-sha2-256, "none" authentication, session channels) to reach the
// misbehaviour, written from RFCs 4253, 4254 and 8731.

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/big"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// hugeSize is the size of HugeAuthBanner's banner and of
// HugePreVersionText's text: 1 MiB.
const hugeSize = 1 << 20

// trickle writes p to dst one byte a second (SlowOutput); *first is true
// until the stream's first byte has gone, which goes at once. It reports
// false when the channel takes no more data or the server is closing.
func (ss *session) trickle(dst io.Writer, p []byte, first *bool) bool {
	for _, b := range p {
		if !*first {
			t := time.NewTimer(time.Second)
			select {
			case <-t.C:
			case <-ss.cn.s.done:
				t.Stop()
				return false
			}
		}
		*first = false
		if _, err := dst.Write([]byte{b}); err != nil {
			return false
		}
	}
	return true
}

// sendBogusExitStatus reports the end of a command as MalformedExitStatus
// or ExitStatusOutOfRange want it.
func (ss *session) sendBogusExitStatus() {
	remote := ss.cn.raw.RemoteAddr()
	switch ss.cn.s.opts.Fault {
	case MalformedExitStatus:
		ss.cn.s.logf("loomtest: %s: sending a 2-byte exit-status (MalformedExitStatus)", remote)
		ss.ch.SendRequest("exit-status", false, []byte{0, 1})
	case ExitStatusOutOfRange:
		ss.cn.s.logf("loomtest: %s: sending exit-status %d (ExitStatusOutOfRange)", remote, uint32(math.MaxUint32))
		ss.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatusMsg{Status: math.MaxUint32}))
	}
}

// sendPreVersionText writes HugePreVersionText's megabyte of text before
// the version line. It reports false if the client went away meanwhile.
func (s *Server) sendPreVersionText(c net.Conn) bool {
	s.logf("loomtest: %s: sending %d bytes before the version line (HugePreVersionText)", c.RemoteAddr(), hugeSize)
	text := bytes.Repeat([]byte("loomtest says hello before its version. "), hugeSize/40+1)[:hugeSize-2]
	c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	_, err := c.Write(append(text, '\r', '\n'))
	c.SetWriteDeadline(time.Time{})
	if err != nil {
		s.logf("loomtest: %s: pre-version text: %v", c.RemoteAddr(), err)
		return false
	}
	return true
}

// Message numbers of RFC 4250 used by the scripted server.
const (
	rawDisconnect        = 1
	rawIgnore            = 2
	rawUnimplemented     = 3
	rawDebug             = 4
	rawServiceRequest    = 5
	rawServiceAccept     = 6
	rawKexInit           = 20
	rawNewKeys           = 21
	rawKexECDHInit       = 30
	rawKexECDHReply      = 31
	rawUserAuthRequest   = 50
	rawUserAuthSuccess   = 52
	rawUserAuthBanner    = 53
	rawGlobalRequest     = 80
	rawRequestFailure    = 82
	rawChannelOpen       = 90
	rawChannelOpenOK     = 91
	rawChannelOpenFail   = 92
	rawChannelWindowAdj  = 93
	rawChannelData       = 94
	rawChannelEOF        = 96
	rawChannelClose      = 97
	rawChannelRequest    = 98
	rawChannelSuccess    = 99
	rawChannelFailure    = 100
	rawMaxIncomingPacket = 256 << 10
)

// The only algorithms the scripted server offers; x/crypto and OpenSSH
// clients both accept them by default.
const (
	rawKex    = "curve25519-sha256,curve25519-sha256@libssh.org"
	rawCipher = "aes128-ctr"
	rawMAC    = "hmac-sha2-256"
)

// scriptedConn is the server end of one connection of the scripted server.
// One goroutine runs it: it reads a message, answers, reads the next.
type scriptedConn struct {
	s      *Server
	c      net.Conn
	r      *bufio.Reader
	seqIn  uint32
	seqOut uint32
	in     *rawKeys // nil until the client's NEWKEYS
	out    *rawKeys // nil until ours
	// chans maps our channel numbers to the client's.
	chans map[uint32]*rawChannel
	next  uint32
}

type rawChannel struct {
	peer   uint32
	closed bool // we sent CHANNEL_CLOSE
}

// rawKeys encrypt (or decrypt) and authenticate one direction.
type rawKeys struct {
	stream cipher.Stream
	mac    hash.Hash
}

// serveScripted runs the scripted server on one connection
// (HugeWindowAdjust, HugeAuthBanner) until the client goes away.
func (s *Server) serveScripted(c net.Conn) {
	sc := &scriptedConn{s: s, c: c, r: bufio.NewReader(c), chans: map[uint32]*rawChannel{}}
	err := sc.serve()
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) { // serve always ends in an error
		s.logf("loomtest: %s: scripted server (%v): %v", c.RemoteAddr(), s.opts.Fault, err)
	}
}

func (sc *scriptedConn) serve() error {
	sc.c.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := sc.handshake(); err != nil {
		return err
	}
	sc.c.SetDeadline(time.Time{})
	for {
		p, err := sc.readPacket()
		if err != nil {
			return err
		}
		if err := sc.handle(p); err != nil {
			return err
		}
	}
}

// handle answers one message after key exchange.
func (sc *scriptedConn) handle(p []byte) error {
	d := rawDecoder{b: p[1:]}
	switch p[0] {
	case rawDisconnect:
		return io.EOF
	case rawServiceRequest:
		return sc.writePacket(rawMsg(rawServiceAccept).str(d.str()).b)
	case rawUserAuthRequest:
		user := string(d.str())
		sc.s.logf("loomtest: %s: scripted server lets %q in", sc.c.RemoteAddr(), user)
		if sc.s.opts.Fault == HugeAuthBanner {
			sc.s.logf("loomtest: %s: sending a %d-byte banner (HugeAuthBanner)", sc.c.RemoteAddr(), hugeSize)
			banner := strings.Repeat("Authorised use only. ", hugeSize/21+1)[:hugeSize]
			if err := sc.writePacket(rawMsg(rawUserAuthBanner).str([]byte(banner)).str(nil).b); err != nil {
				return err
			}
		}
		return sc.writePacket(rawMsg(rawUserAuthSuccess).b)
	case rawGlobalRequest:
		d.str()
		if d.bool() {
			return sc.writePacket(rawMsg(rawRequestFailure).b)
		}
		return nil
	case rawChannelOpen:
		typ, peer := string(d.str()), d.u32()
		if d.err != nil || typ != "session" {
			return sc.writePacket(rawMsg(rawChannelOpenFail).u32(peer).u32(uint32(ssh.UnknownChannelType)).str([]byte("only sessions")).str(nil).b)
		}
		id := sc.next
		sc.next++
		sc.chans[id] = &rawChannel{peer: peer}
		window := uint32(2 << 20)
		if sc.s.opts.Fault == HugeWindowAdjust {
			window = 0 // so that the first 2^32-1 adjustment is still legal
		}
		return sc.writePacket(rawMsg(rawChannelOpenOK).u32(peer).u32(id).u32(window).u32(32 << 10).b)
	case rawChannelRequest:
		id, typ, want := d.u32(), string(d.str()), d.bool()
		ch := sc.chans[id]
		if d.err != nil || ch == nil {
			return fmt.Errorf("bad channel request")
		}
		if typ != "exec" && typ != "shell" {
			if want {
				return sc.writePacket(rawMsg(rawChannelFailure).u32(ch.peer).b)
			}
			return nil
		}
		if want {
			if err := sc.writePacket(rawMsg(rawChannelSuccess).u32(ch.peer).b); err != nil {
				return err
			}
		}
		return sc.play(ch)
	case rawChannelClose:
		id := d.u32()
		if ch := sc.chans[id]; ch != nil {
			delete(sc.chans, id)
			if !ch.closed {
				return sc.writePacket(rawMsg(rawChannelClose).u32(ch.peer).b)
			}
		}
		return nil
	}
	// Window adjustments, data, EOF, anything else: ignored.
	return nil
}

// play runs the fault's script on a channel whose exec was accepted.
func (sc *scriptedConn) play(ch *rawChannel) error {
	out := "banner survived\n"
	if sc.s.opts.Fault == HugeWindowAdjust {
		sc.s.logf("loomtest: %s: sending window adjustments of 2^32-1 (HugeWindowAdjust)", sc.c.RemoteAddr())
		for range 8 {
			if err := sc.writePacket(rawMsg(rawChannelWindowAdj).u32(ch.peer).u32(math.MaxUint32).b); err != nil {
				return err
			}
		}
		out = "window survived\n"
	}
	for _, m := range [][]byte{
		rawMsg(rawChannelData).u32(ch.peer).str([]byte(out)).b,
		rawMsg(rawChannelRequest).u32(ch.peer).str([]byte("exit-status")).bool(false).u32(0).b,
		rawMsg(rawChannelEOF).u32(ch.peer).b,
		rawMsg(rawChannelClose).u32(ch.peer).b,
	} {
		if err := sc.writePacket(m); err != nil {
			return err
		}
	}
	ch.closed = true
	return nil
}

// handshake exchanges versions and keys (curve25519-sha256, RFC 8731).
func (sc *scriptedConn) handshake() error {
	hostKey := sc.s.hostKey
	keyAlgo := hostKey.PublicKey().Type()
	if keyAlgo == ssh.KeyAlgoRSA {
		keyAlgo = ssh.KeyAlgoRSASHA256
	}
	if _, err := io.WriteString(sc.c, serverVersion+"\r\n"); err != nil {
		return err
	}
	clientVersion, err := sc.readVersion()
	if err != nil {
		return err
	}

	cookie := make([]byte, 16)
	rand.Read(cookie)
	serverInit := rawMsg(rawKexInit)
	serverInit.b = append(serverInit.b, cookie...)
	for _, l := range []string{rawKex, keyAlgo, rawCipher, rawCipher, rawMAC, rawMAC, "none", "none", "", ""} {
		serverInit.str([]byte(l))
	}
	serverInit.bool(false).u32(0)
	if err := sc.writePacket(serverInit.b); err != nil {
		return err
	}
	clientInit, err := sc.readPacket()
	if err != nil {
		return err
	}
	if clientInit[0] != rawKexInit || len(clientInit) < 17 {
		return fmt.Errorf("expected KEXINIT, got message %d", clientInit[0])
	}
	d := rawDecoder{b: clientInit[17:]}
	var lists [10]string
	for i := range lists {
		lists[i] = string(d.str())
	}
	if d.err != nil {
		return d.err
	}
	for i, want := range []string{"curve25519-sha256", keyAlgo, rawCipher, rawCipher, rawMAC, rawMAC} {
		if !offers(lists[i], want) && !(i == 0 && offers(lists[0], "curve25519-sha256@libssh.org")) {
			return fmt.Errorf("the client does not offer %s (it offers %q)", want, lists[i])
		}
	}

	p, err := sc.readPacket()
	if err != nil {
		return err
	}
	if p[0] != rawKexECDHInit {
		return fmt.Errorf("expected KEX_ECDH_INIT, got message %d", p[0])
	}
	d = rawDecoder{b: p[1:]}
	clientPub := d.str()
	peer, err := ecdh.X25519().NewPublicKey(clientPub)
	if err != nil {
		return err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	secret, err := priv.ECDH(peer)
	if err != nil {
		return err
	}
	k := mpint(secret)
	hostBlob := hostKey.PublicKey().Marshal()
	h := sha256.New()
	for _, part := range [][]byte{clientVersion, []byte(serverVersion), clientInit, serverInit.b, hostBlob, clientPub, priv.PublicKey().Bytes()} {
		h.Write(rawMsg(0).str(part).b[1:])
	}
	h.Write(k)
	exchangeHash := h.Sum(nil)
	var sig *ssh.Signature
	if as, ok := hostKey.(ssh.AlgorithmSigner); ok && keyAlgo == ssh.KeyAlgoRSASHA256 {
		sig, err = as.SignWithAlgorithm(rand.Reader, exchangeHash, keyAlgo)
	} else {
		sig, err = hostKey.Sign(rand.Reader, exchangeHash)
	}
	if err != nil {
		return err
	}
	reply := rawMsg(rawKexECDHReply).str(hostBlob).str(priv.PublicKey().Bytes()).str(ssh.Marshal(sig))
	if err := sc.writePacket(reply.b); err != nil {
		return err
	}
	if err := sc.writePacket(rawMsg(rawNewKeys).b); err != nil {
		return err
	}
	// The first exchange hash is the session id.
	if sc.out, err = deriveKeys(k, exchangeHash, 'B', 'D', 'F'); err != nil {
		return err
	}
	if p, err = sc.readPacket(); err != nil {
		return err
	}
	if p[0] != rawNewKeys {
		return fmt.Errorf("expected NEWKEYS, got message %d", p[0])
	}
	sc.in, err = deriveKeys(k, exchangeHash, 'A', 'C', 'E')
	return err
}

// offers reports whether the comma-separated list holds name.
func offers(list, name string) bool {
	for _, n := range strings.Split(list, ",") {
		if n == name {
			return true
		}
	}
	return false
}

// deriveKeys derives one direction's aes128-ctr and hmac-sha2-256 keys
// (RFC 4253 section 7.2); the session id is the exchange hash.
func deriveKeys(k, h []byte, iv, key, mac byte) (*rawKeys, error) {
	derive := func(letter byte) []byte {
		d := sha256.New()
		d.Write(k)
		d.Write(h)
		d.Write([]byte{letter})
		d.Write(h)
		return d.Sum(nil)
	}
	block, err := aes.NewCipher(derive(key)[:16])
	if err != nil {
		return nil, err
	}
	return &rawKeys{stream: cipher.NewCTR(block, derive(iv)[:16]), mac: hmac.New(sha256.New, derive(mac))}, nil
}

// mpint encodes a big-endian unsigned number as an SSH mpint.
func mpint(n []byte) []byte {
	b := new(big.Int).SetBytes(n).Bytes()
	if len(b) > 0 && b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return rawMsg(0).str(b).b[1:]
}

// readVersion reads the client's version line (lines before it are
// skipped, as RFC 4253 allows) and returns it without the line end.
func (sc *scriptedConn) readVersion() ([]byte, error) {
	for range 16 {
		line, err := sc.r.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the client's version: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if bytes.HasPrefix(line, []byte("SSH-")) {
			return append([]byte(nil), line...), nil
		}
	}
	return nil, errors.New("no version line from the client")
}

// readPacket reads the next message, skipping IGNORE, DEBUG and
// UNIMPLEMENTED.
func (sc *scriptedConn) readPacket() ([]byte, error) {
	for {
		p, err := sc.readOne()
		if err != nil {
			return nil, err
		}
		switch p[0] {
		case rawIgnore, rawDebug, rawUnimplemented:
			continue
		}
		return p, nil
	}
}

// readOne reads one binary packet (RFC 4253 section 6), decrypting and
// checking its MAC once keys are in use, and returns its payload.
func (sc *scriptedConn) readOne() ([]byte, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(sc.r, head); err != nil {
		return nil, err
	}
	if sc.in != nil {
		sc.in.stream.XORKeyStream(head, head)
	}
	n := binary.BigEndian.Uint32(head)
	if n < 5 || n > rawMaxIncomingPacket {
		return nil, fmt.Errorf("bad packet length %d", n)
	}
	pkt := make([]byte, 4+n)
	copy(pkt, head)
	if _, err := io.ReadFull(sc.r, pkt[4:]); err != nil {
		return nil, err
	}
	if sc.in != nil {
		sc.in.stream.XORKeyStream(pkt[4:], pkt[4:])
		got := make([]byte, sc.in.mac.Size())
		if _, err := io.ReadFull(sc.r, got); err != nil {
			return nil, err
		}
		if !hmac.Equal(got, sc.mac(sc.in, sc.seqIn, pkt)) {
			return nil, errors.New("bad MAC")
		}
	}
	sc.seqIn++
	pad := uint32(pkt[4])
	if pad+1 >= n {
		return nil, fmt.Errorf("bad padding length %d", pad)
	}
	return pkt[5 : 4+n-pad], nil
}

// writePacket sends one message, encrypted and authenticated once keys are
// in use. It writes whatever size it is given: sending oversized packets is
// the point of some faults.
func (sc *scriptedConn) writePacket(payload []byte) error {
	const block = 16
	pad := block - (5+len(payload))%block
	if pad < 4 {
		pad += block
	}
	pkt := make([]byte, 5+len(payload)+pad)
	binary.BigEndian.PutUint32(pkt, uint32(1+len(payload)+pad))
	pkt[4] = byte(pad)
	copy(pkt[5:], payload)
	rand.Read(pkt[5+len(payload):])
	var mac []byte
	if sc.out != nil {
		mac = sc.mac(sc.out, sc.seqOut, pkt)
		sc.out.stream.XORKeyStream(pkt, pkt)
	}
	sc.seqOut++
	_, err := sc.c.Write(append(pkt, mac...))
	return err
}

// mac computes hmac-sha2-256 over the sequence number and the plain packet.
func (sc *scriptedConn) mac(k *rawKeys, seq uint32, pkt []byte) []byte {
	k.mac.Reset()
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], seq)
	k.mac.Write(s[:])
	k.mac.Write(pkt)
	return k.mac.Sum(nil)
}

// rawBuilder builds a message in SSH wire encoding.
type rawBuilder struct{ b []byte }

func rawMsg(typ byte) *rawBuilder { return &rawBuilder{b: []byte{typ}} }

func (m *rawBuilder) u32(v uint32) *rawBuilder {
	m.b = binary.BigEndian.AppendUint32(m.b, v)
	return m
}

func (m *rawBuilder) str(s []byte) *rawBuilder {
	m.u32(uint32(len(s)))
	m.b = append(m.b, s...)
	return m
}

func (m *rawBuilder) bool(v bool) *rawBuilder {
	if v {
		m.b = append(m.b, 1)
	} else {
		m.b = append(m.b, 0)
	}
	return m
}

// rawDecoder reads SSH wire encoding; the first error sticks in err and
// later reads return zero values.
type rawDecoder struct {
	b   []byte
	err error
}

func (d *rawDecoder) u32() uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.err = errors.New("short message")
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *rawDecoder) str() []byte {
	n := d.u32()
	if d.err != nil || uint32(len(d.b)) < n {
		d.err = errors.New("short message")
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *rawDecoder) bool() bool {
	if d.err != nil || len(d.b) < 1 {
		d.err = errors.New("short message")
		return false
	}
	v := d.b[0] != 0
	d.b = d.b[1:]
	return v
}
