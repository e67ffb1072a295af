package holder

import (
	"encoding/binary"
	"sync"
)

// relayWindow is how many bytes of a relayed channel may be in flight one
// way: sent, and not yet read by the other side's reader. A slow reader
// (a slow host, a slow local client) holds up its own channel only, never
// the run's other streams, and neither end buffers more than this for one
// channel. The reader gives the bytes back with tAck frames as it reads.
const relayWindow = 512 << 10

// window counts one direction's bytes in flight.
type window struct {
	mu       sync.Mutex
	cond     *sync.Cond
	inflight int
	closed   bool
}

func (w *window) lock() {
	w.mu.Lock()
	if w.cond == nil {
		w.cond = sync.NewCond(&w.mu)
	}
}

// take waits until n more bytes may be sent; false: the channel closed.
func (w *window) take(n int) bool {
	w.lock()
	defer w.mu.Unlock()
	for w.inflight+n > relayWindow && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		return false
	}
	w.inflight += n
	return true
}

// give takes back n bytes the other side read.
func (w *window) give(n int) {
	w.lock()
	defer w.mu.Unlock()
	w.inflight = max(w.inflight-n, 0)
	w.cond.Broadcast()
}

// close ends the waits: the channel is closed.
func (w *window) close() {
	w.lock()
	defer w.mu.Unlock()
	w.closed = true
	w.cond.Broadcast()
}

// ackFrame says n bytes of stream id were read.
func ackFrame(id uint32, n int) frame {
	return frame{id, tAck, binary.BigEndian.AppendUint32(nil, uint32(n))}
}

// acked is the byte count of a tAck (0 for a malformed one).
func acked(f frame) int {
	if len(f.data) != 4 {
		return 0
	}
	return int(binary.BigEndian.Uint32(f.data))
}

// buffered is how many bytes p holds unread.
func (p *pipe) buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// ackReader reads a relay's pipe and acknowledges what it read.
type ackReader struct {
	p   *pipe
	ack func(n int)
}

func (a ackReader) Read(b []byte) (int, error) {
	n, err := a.p.Read(b)
	if n > 0 {
		a.ack(n)
	}
	return n, err
}
