package hostkey

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// scanEntries is the look-up without the index: x/crypto's matching
// (through skeema) over the whole files, as Loom did before.
func scanEntries(t testing.TB, files []string, hp string) []xknownhosts.KnownKey {
	t.Helper()
	db, err := knownhosts.NewDB(files...)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(hp)
	n, _ := strconv.Atoi(port)
	err = db.HostKeyCallback()(hp, &net.TCPAddr{IP: net.IPv4zero, Port: n}, probeKey{})
	ke, ok := err.(*xknownhosts.KeyError)
	if !ok {
		t.Fatalf("%s: %v", hp, err)
	}
	return ke.Want
}

func refs(ks []xknownhosts.KnownKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, fmt.Sprintf("%s:%d %s", filepath.Base(k.Filename), k.Line, ssh.FingerprintSHA256(k.Key)))
	}
	return out
}

// The index finds exactly the lines x/crypto's matching finds, in the same
// order, for known_hosts files mixing plain names, ports written every
// way, wildcards, negations, hashed names and @cert-authority and @revoked
// lines.
func TestIndexAgreesWithScanning(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { indexAgrees(t, seed) })
	}
}

func indexAgrees(t *testing.T, seed uint64) {
	keys := []ssh.PublicKey{newEd25519(t).PublicKey(), newECDSA(t).PublicKey(), newEd25519(t).PublicKey()}
	names := []string{"web1", "web2", "Web1", "db.example.com", "10.0.0.1", "::1", "fe80::1"}
	ports := []string{"22", "2222"}
	r := rand.New(rand.NewPCG(seed, 2))
	pattern := func() string {
		n, p := names[r.IntN(len(names))], ports[r.IntN(len(ports))]
		switch r.IntN(9) {
		case 0:
			return "[" + n + "]:" + p
		case 1:
			if !strings.Contains(n, ":") {
				return n + ":" + p // x/crypto reads host:port without brackets too
			}
		case 2:
			return n[:1] + "*"
		case 3:
			return "!" + n
		case 4:
			return xknownhosts.HashHostname(xknownhosts.Normalize(net.JoinHostPort(n, p)))
		case 5:
			return "[" + n + "]:2*"
		}
		if p == "22" {
			return n
		}
		return "[" + n + "]:" + p
	}
	dir := t.TempDir()
	var files []string
	for f := range 2 {
		var b strings.Builder
		for range 60 {
			var pats []string
			for range 1 + r.IntN(3) {
				pats = append(pats, pattern())
			}
			marker := ""
			switch r.IntN(10) {
			case 0:
				marker = "@cert-authority "
			case 1:
				marker = "@revoked "
			}
			if strings.HasPrefix(pats[0], "|") {
				pats = pats[:1] // a hashed name stands alone
			}
			fmt.Fprintf(&b, "%s%s %s\n", marker, strings.Join(pats, ","), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(keys[r.IntN(len(keys))]))))
			if r.IntN(8) == 0 {
				b.WriteString("# a comment\n\n")
			}
		}
		name := filepath.Join(dir, fmt.Sprintf("known_hosts%d", f))
		if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	snap, _, err := load(files, files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.byName) == 0 || snap.others == nil {
		t.Fatalf("the files should have lines of both kinds: %d names indexed, others %v", len(snap.byName), snap.others != nil)
	}
	found := 0
	for _, n := range append(names, "nowhere") {
		for _, p := range ports {
			hp := net.JoinHostPort(n, p)
			got, err := snap.entries(hp)
			if err != nil {
				t.Fatal(err)
			}
			want := scanEntries(t, files, hp)
			if !slices.Equal(refs(got), refs(want)) {
				t.Errorf("%s:\n index: %v\n  scan: %v", hp, refs(got), refs(want))
			}
			found += len(got)
		}
	}
	if found == 0 {
		t.Fatal("no look-up found anything: the test checks nothing")
	}
}

// One look-up among 10,000 plain lines, one a host, with the index and
// with a scan of every line, side by side.
func BenchmarkLookup10k(b *testing.B) {
	key := newEd25519(b).PublicKey()
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "[10.%d.%d.%d]:2222 %s\n", i>>16, (i>>8)&255, i&255, line)
	}
	file := filepath.Join(b.TempDir(), "known_hosts")
	os.WriteFile(file, []byte(sb.String()), 0o600)
	snap, _, err := load([]string{file}, file)
	if err != nil {
		b.Fatal(err)
	}
	scan, err := knownhosts.NewDB(file)
	if err != nil {
		b.Fatal(err)
	}
	cb := scan.HostKeyCallback()
	hp := "10.0.19.136:2222" // host 5000
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if ks, _ := snap.entries(hp); len(ks) != 1 {
				b.Fatal(len(ks))
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if err := cb(hp, &net.TCPAddr{IP: net.IPv4zero, Port: 2222}, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
