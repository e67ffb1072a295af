package loom

// DefaultMaxOutput is how many bytes of each of a command's stdout and
// stderr a Result keeps (the output streamed with Stream is not limited):
// a host that prints a gigabyte must not take a gigabyte of memory per
// host in flight. Change it per Conn with MaxOutput.
const DefaultMaxOutput = 16 << 20

// capture keeps the first max bytes written to it, and the last tailSize
// bytes (for the error message of a failed command), and counts the rest.
type capture struct {
	max     int
	buf     []byte
	tail    []byte // the last tailSize bytes, once buf is full
	dropped int64
}

const tailSize = 4096

func newCapture(max int) *capture { return &capture{max: max} }

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	if c.max < 0 { // unlimited
		c.buf = append(c.buf, p...)
		return n, nil
	}
	if room := c.max - len(c.buf); room > 0 {
		k := min(room, len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		c.dropped += int64(len(p))
		c.tail = append(c.tail, p...)
		if len(c.tail) > tailSize {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-tailSize:]...)
		}
	}
	return n, nil
}

// String returns what was kept.
func (c *capture) String() string { return string(c.buf) }

// Last returns the end of the output: the kept bytes, or, when output was
// dropped, the last bytes seen.
func (c *capture) Last() string {
	if c.dropped > 0 {
		return string(c.tail)
	}
	return string(c.buf)
}

// MaxOutput returns a Conn whose Results keep at most n bytes of each of
// stdout and stderr (DefaultMaxOutput when n is 0; no limit when n < 0).
// Result.Truncated says when output was dropped; Stream still sees it all.
func (c *Conn) MaxOutput(n int) *Conn {
	return c.with(func(s *scope) { s.maxOutput = n })
}
