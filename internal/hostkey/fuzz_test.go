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

// FuzzParseLine checks that parseLine accepts exactly the lines that
// x/crypto's knownhosts accepts, so no line it uses escapes our checks, and
// that scan reports errors with file:line.
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
		if (err == nil) != (xerr == nil) {
			t.Fatalf("parseLine: %v (entry %+v); x/crypto: %v", err, e, xerr)
		}
		if err == nil && e.key == nil && e.marker != "" {
			t.Fatalf("marker without key: %+v", e)
		}
		_, _, serr := scan(p, []byte(s))
		switch {
		case err == nil || errors.Is(err, errUnsupported):
			if serr != nil {
				t.Fatalf("scan: %v, parseLine: %v", serr, err)
			}
		case serr == nil || !strings.Contains(serr.Error(), p+":1: "):
			t.Fatalf("scan error %v does not name %s:1", serr, p)
		}
	})
}
