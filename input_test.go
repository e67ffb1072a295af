package loom_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomssh/loom"
)

func TestInputReplaysToEveryReader(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	for _, mem := range []int{0, 1 << 20, 1} { // all in memory; spooled past 1 MiB; spooled at once
		in := loom.NewInput(bytes.NewReader(data))
		if mem > 0 {
			in.MaxMemory = mem
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := io.ReadAll(in.Reader())
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("mem %d: reader %d got %d bytes (err %v), want %d", mem, i, len(got), err, len(data))
				}
			}()
		}
		wg.Wait()
		in.Close()
	}
}

func TestInputReadersWaitForMore(t *testing.T) {
	pr, pw := io.Pipe()
	in := loom.NewInput(pr)
	in.MaxMemory = 4
	defer in.Close()
	r1, r2 := in.Reader(), in.Reader()
	for _, chunk := range []string{"ab", "cdef", "ghij\n"} {
		go pw.Write([]byte(chunk))
		for _, r := range []io.Reader{r1, r2} {
			buf := make([]byte, len(chunk))
			if _, err := io.ReadFull(r, buf); err != nil || string(buf) != chunk {
				t.Fatalf("got %q %v, want %q", buf, err, chunk)
			}
		}
	}
	pw.Close()
	if n, err := r1.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the end: %d %v, want EOF", n, err)
	}
}

func TestInputReadErrorReachesReaders(t *testing.T) {
	boom := errors.New("disk on fire")
	in := loom.NewInput(io.MultiReader(strings.NewReader("part"), &errReader{boom}))
	defer in.Close()
	got, err := io.ReadAll(in.Reader())
	if string(got) != "part" || !errors.Is(err, boom) {
		t.Fatalf("got %q %v: a cut input must not look whole", got, err)
	}
	// And a command reading it fails, saying why.
	r := loom.Local().Stdin(in.Reader()).Run("cat")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "disk on fire") || !strings.Contains(r.Err.Error(), "stdin") {
		t.Fatalf("command with a cut stdin: %v", r.Err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// TestGroupStdinEveryHostEveryCommand: a Group's Input reaches each host and
// each command of a host in full.
func TestGroupStdinEveryHostEveryCommand(t *testing.T) {
	hosts, d := fleet(t, 3, nil)
	in := loom.NewInput(strings.NewReader("one\ntwo\n"))
	defer in.Close()
	in.MaxMemory = 3
	g := &loom.Group{Dialer: d, Hosts: hosts, Stdin: in}
	var mu sync.Mutex
	got := map[string][]string{}
	rs := g.Each(context.Background(), func(c *loom.Conn) error {
		for i := 0; i < 2; i++ {
			r := c.Run("cat")
			mu.Lock()
			got[c.Host()] = append(got[c.Host()], r.Stdout)
			mu.Unlock()
		}
		return nil
	})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if len(got[h.Name]) != 2 {
			t.Fatalf("%s ran %d commands", h.Name, len(got[h.Name]))
		}
		for i, out := range got[h.Name] {
			if out != "one\ntwo\n" {
				t.Errorf("%s command %d read %q", h.Name, i, out)
			}
		}
	}
}

// TestStdinCopyStopsWhenCommandEnds: after a command that does not read its
// stdin ends, the next input on the source is not taken by Loom (today's
// bug: after Local().Stdin(os.Stdin) the next typed line, a sudo password
// say, vanished into the finished command).
func TestStdinCopyStopsWhenCommandEnds(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for i := 0; i < 3; i++ {
		if res := loom.Local().Stdin(r).Run("true"); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if _, err := w.Write([]byte("password\n")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "password\n" {
			t.Fatalf("read %q after the commands ended, want the whole line", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the line written after the commands ended was taken by one of them")
	}
	// And a command that reads part of its input leaves the rest unread
	// only as far as the pipe buffer goes: what it read is its own.
	w.Write([]byte("abc"))
	if res := loom.Local().Stdin(r).Run("head", "-c", "3"); res.Stdout != "abc" {
		t.Fatalf("head -c 3 read %q", res.Stdout)
	}
}
