package loomtest

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTP packet types and status codes the server handles itself.
const (
	fxpSymlink    = 20
	fxpStatus     = 101
	fxOK          = 0
	fxFailure     = 4
	maxSFTPPacket = 1 << 20
)

// serveSFTP serves the sftp subsystem on the channel, in the server's
// directory, as the test process's user.
func (ss *session) serveSFTP() {
	s := ss.cn.s
	s.logf("loomtest: %s: sftp", ss.cn.raw.RemoteAddr())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rw := &sftpChannel{ch: ss.ch, dir: s.dir, shortSizes: s.opts.Fault == ShortFileSizes}
		srv, err := sftp.NewServer(rw, sftp.WithServerWorkingDirectory(s.dir))
		status := uint32(0)
		if err != nil {
			status = 1
		} else if err := srv.Serve(); err != nil && err != io.EOF {
			status = 1
		}
		ss.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatusMsg{Status: status}))
		ss.ch.Close()
	}()
}

// sftpChannel passes SFTP packets between the channel and pkg/sftp's
// server, except symlink requests, which it answers itself: pkg/sftp
// resolves a relative link target against the working directory, where
// OpenSSH's sftp-server (and so a deployment's "current -> releases/v2")
// keeps the target as given.
type sftpChannel struct {
	ch  ssh.Channel
	dir string
	buf []byte // a packet read from the client, not yet read by the server

	// shortSizes halves the sizes of regular files in the server's
	// answers (ShortFileSizes); out holds what the server wrote of a
	// packet not yet complete.
	shortSizes bool
	out        []byte

	mu sync.Mutex // one writer of the channel at a time
}

func (c *sftpChannel) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(c.ch, hdr[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > maxSFTPPacket {
			return 0, errors.New("loomtest: bad sftp packet length")
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c.ch, body); err != nil {
			return 0, err
		}
		if body[0] == fxpSymlink && c.symlink(body[1:]) {
			continue
		}
		c.buf = append(hdr[:], body...)
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// symlink makes the link of a symlink request (id, target, link, in
// pkg/sftp's order) and answers it; false if the request is malformed,
// to let the server answer it.
func (c *sftpChannel) symlink(b []byte) bool {
	str := func(b []byte) (string, []byte, bool) {
		if len(b) < 4 {
			return "", nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint32(len(b)-4) < n {
			return "", nil, false
		}
		return string(b[4 : 4+n]), b[4+n:], true
	}
	if len(b) < 4 {
		return false
	}
	id := binary.BigEndian.Uint32(b)
	target, rest, ok := str(b[4:])
	if !ok {
		return false
	}
	link, _, ok := str(rest)
	if !ok {
		return false
	}
	if !filepath.IsAbs(link) {
		link = filepath.Join(c.dir, link)
	}
	code, msg := uint32(fxOK), "OK"
	if err := os.Symlink(target, link); err != nil {
		code, msg = fxFailure, err.Error()
	}
	var out []byte
	out = binary.BigEndian.AppendUint32(out, 0) // length, set below
	out = append(out, fxpStatus)
	out = binary.BigEndian.AppendUint32(out, id)
	out = binary.BigEndian.AppendUint32(out, code)
	out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
	out = append(out, msg...)
	out = binary.BigEndian.AppendUint32(out, 0) // language tag
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	c.Write(out)
	return true
}

func (c *sftpChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.shortSizes {
		return c.ch.Write(p)
	}
	// pkg/sftp writes a packet's header and payload separately: gather
	// whole packets, rewrite them, pass them on.
	c.out = append(c.out, p...)
	for len(c.out) >= 4 {
		n := int(binary.BigEndian.Uint32(c.out)) + 4
		if len(c.out) < n {
			break
		}
		understateSizes(c.out[4:n])
		if _, err := c.ch.Write(c.out[:n]); err != nil {
			return 0, err
		}
		c.out = append(c.out[:0], c.out[n:]...)
	}
	return len(p), nil
}

// SFTP packet types and attribute flags that ShortFileSizes rewrites.
const (
	fxpName         = 104
	fxpAttrs        = 105
	attrSize        = 0x1
	attrUIDGID      = 0x2
	attrPerms       = 0x4
	attrTimes       = 0x8
	attrExtended    = 0x80000000
	modeTypeMask    = 0o170000
	modeTypeRegular = 0o100000
)

// understateSizes halves, in place, the size of every regular file an
// SSH_FXP_ATTRS or SSH_FXP_NAME packet (type byte first) describes.
func understateSizes(pkt []byte) {
	if len(pkt) < 5 {
		return
	}
	switch pkt[0] {
	case fxpAttrs:
		halveSize(pkt[5:])
	case fxpName:
		if len(pkt) < 9 {
			return
		}
		b := pkt[9:]
		for n := binary.BigEndian.Uint32(pkt[5:]); n > 0; n-- {
			var ok bool
			for range 2 { // file name, long name
				if b, ok = skipString(b); !ok {
					return
				}
			}
			if b, ok = halveSize(b); !ok {
				return
			}
		}
	}
}

// halveSize halves the size in the ATTRS at the start of b if they
// describe a regular file, and returns what follows them.
func halveSize(b []byte) ([]byte, bool) {
	if len(b) < 4 {
		return nil, false
	}
	flags := binary.BigEndian.Uint32(b)
	off, sizeAt, permAt := 4, -1, -1
	if flags&attrSize != 0 {
		sizeAt, off = off, off+8
	}
	if flags&attrUIDGID != 0 {
		off += 8
	}
	if flags&attrPerms != 0 {
		permAt, off = off, off+4
	}
	if flags&attrTimes != 0 {
		off += 8
	}
	if len(b) < off {
		return nil, false
	}
	if sizeAt >= 0 && permAt >= 0 && binary.BigEndian.Uint32(b[permAt:])&modeTypeMask == modeTypeRegular {
		binary.BigEndian.PutUint64(b[sizeAt:], binary.BigEndian.Uint64(b[sizeAt:])/2)
	}
	rest := b[off:]
	if flags&attrExtended != 0 {
		if len(rest) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		for ; n > 0; n-- {
			var ok bool
			for range 2 {
				if rest, ok = skipString(rest); !ok {
					return nil, false
				}
			}
		}
	}
	return rest, true
}

// skipString returns what follows the SSH string at the start of b.
func skipString(b []byte) ([]byte, bool) {
	if len(b) < 4 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint32(len(b)-4) < n {
		return nil, false
	}
	return b[4+n:], true
}

func (c *sftpChannel) Close() error { return c.ch.Close() }
