//go:build unix

package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loomssh/loom/internal/sshdtest"
)

// TestSSHDAlgorithmLists: KexAlgorithms, Ciphers and MACs are negotiated
// as listed (sshd's log says what it agreed to), including legacy ones
// x/crypto speaks only when asked by name; -v says what was negotiated. A
// list Loom cannot speak is a one-line error naming the keyword. Before,
// the lists were ignored.
func TestSSHDAlgorithmLists(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Extra: "LogLevel DEBUG1\nCiphers +aes128-cbc\nKexAlgorithms +diffie-hellman-group14-sha1\nMACs +hmac-sha1"})
	log := filepath.Join(s.Dir, "sshd.log")
	for _, tc := range []struct {
		name, extra string
		want        []string // in sshd's log, or in the error
		err         bool
	}{
		{"modern", "KexAlgorithms diffie-hellman-group16-sha512\n  Ciphers aes256-ctr\n  MACs hmac-sha2-512",
			[]string{"kex: algorithm: diffie-hellman-group16-sha512", "cipher: aes256-ctr MAC: hmac-sha2-512"}, false},
		{"legacy by name", "KexAlgorithms diffie-hellman-group14-sha1\n  Ciphers aes128-cbc\n  MACs hmac-sha1",
			[]string{"kex: algorithm: diffie-hellman-group14-sha1", "cipher: aes128-cbc MAC: hmac-sha1"}, false},
		{"minus and caret", "Ciphers -chacha20*,aes*gcm*\n  KexAlgorithms ^ecdh-sha2-nistp384",
			[]string{"kex: algorithm: ecdh-sha2-nistp384", "cipher: aes128-ctr"}, false},
		{"nothing Loom speaks", "Ciphers aes192-cbc",
			[]string{`Ciphers "aes192-cbc" leaves nothing Loom can use`}, true},
		{"kex Loom lacks", "KexAlgorithms sntrup761x25519-sha512@openssh.com",
			[]string{`KexAlgorithms "sntrup761x25519-sha512@openssh.com" leaves nothing Loom can use`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(log, nil, 0o600) // sshd appends
			h := resolveConfig(t, sshdConfig(s, s.KnownHosts, tc.extra), "target")
			var mu sync.Mutex
			var logs []string
			d := &Dialer{Logf: func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }}
			defer d.Close()
			c, err := d.Dial(context.Background(), h)
			if tc.err {
				var ce *ConnectError
				if !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.want[0]) || !strings.HasPrefix(err.Error(), "target: ") {
					t.Fatalf("error %v, want one line with %q", err, tc.want[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			runOn(t, c, "true")
			c.Close()
			b, _ := os.ReadFile(log)
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("sshd log lacks %q:\n%s", w, b)
				}
			}
			mu.Lock()
			all := strings.Join(logs, "\n")
			mu.Unlock()
			if !strings.Contains(all, "target: negotiated kex ") {
				t.Errorf("-v does not say what was negotiated:\n%s", all)
			}
		})
	}
}

// TestSSHDPubkeyAcceptedAlgorithms: a key whose algorithms the list leaves
// out is not offered (authentication fails, saying so under -v).
func TestSSHDPubkeyAcceptedAlgorithms(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	for _, tc := range []struct {
		list string
		ok   bool
	}{{"rsa-sha2-512", false}, {"+ssh-rsa", true}, {"ssh-ed25519", true}, {"-ssh-ed25519", false}} {
		h := resolveConfig(t, sshdConfig(s, s.KnownHosts, "PubkeyAcceptedAlgorithms "+tc.list, "BatchMode yes"), "target")
		d := &Dialer{}
		c, err := d.Dial(context.Background(), h)
		if tc.ok != (err == nil) {
			t.Errorf("%s: error %v, want ok=%v", tc.list, err, tc.ok)
		}
		if err == nil {
			c.Close()
		}
		d.Close()
	}
}
