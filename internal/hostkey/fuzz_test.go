package hostkey

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// FuzzParseLine checks that parseLine accepts every line x/crypto's
// knownhosts accepts (Loom accepts more: any host pattern, as ssh(1) does,
// even one with a stray "["), and that scan skips a line that is not valid
// and reports it with file:line.
func FuzzParseLine(f *testing.F) {
	ed, ec := newEd25519(f), newECDSA(f)
	edText := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ed.PublicKey())))
	for _, s := range []string{
		line("web1", ed.PublicKey()),
		line("web1,10.0.0.1,[web1]:2222,!bad,*.ex?mple.com", ec.PublicKey()),
		line(xknownhosts.HashHostname("web1"), ed.PublicKey()),
		"@cert-authority *.example.com " + edText + " comment here",
		"@revoked * " + edText,
		"@revoked " + edText,
		"\t  web1\t" + edText + "\r",
		"# comment",
		"",
		"web1 ssh-ed25519",
		"@bogus web1 " + edText,
		"@cert-authority @revoked web1 " + edText,
		"|1|abc|def " + edText,
		"|2|abc|def " + edText,
		"[web1 " + edText,
		"! " + edText,
		"web1 ssh-xmss@openssh.com " + b64("\x00\x00\x00\x14ssh-xmss@openssh.com"),
		"web1 ssh-rsa " + strings.Fields(edText)[1],
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "\n") || len(s) > 60000 {
			return
		}
		p := filepath.Join(dir, "known_hosts")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := parseLine(bytes.TrimSuffix([]byte(s), []byte("\r")))
		_, xerr := xknownhosts.New(p)
		// Where Loom is stricter than x/crypto it is as OpenSSH: a hashed
		// name with a salt that is not 20 bytes is skipped by ssh too.
		if xerr == nil && err != nil && !errors.Is(err, errUnsupported) && !errors.Is(err, errBadSalt) {
			t.Fatalf("parseLine: %v (entry %+v); x/crypto accepts it", err, e)
		}
		if err == nil && e.key == nil && e.marker != "" {
			t.Fatalf("marker without key: %+v", e)
		}
		entries, _, bad := scan(p, []byte(s))
		switch {
		case err == nil || errors.Is(err, errUnsupported):
			if len(bad) > 0 {
				t.Fatalf("scan: %v, parseLine: %v", bad, err)
			}
		case len(bad) != 1 || !strings.HasPrefix(bad[0], p+":1: ") || len(entries) > 0:
			t.Fatalf("scan reports %q, entries %v, for a line that is not valid (%v): want it skipped, naming %s:1", bad, entries, err, p)
		}
	})
}
