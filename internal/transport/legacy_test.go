package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// A key in the old PEM encryption lets about one wrong passphrase in 256
// past its padding check; the garbage then fails to parse. That is a wrong
// passphrase too: asked again, and reported as such, not as a parse error.
func TestLegacyKeyWrongPassphraseThatDecrypts(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	//lint:ignore SA1019 the legacy format is what is being tested
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte("right"), x509.PEMCipherAES128) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	raw := pem.EncodeToMemory(block)
	// Find a wrong passphrase that gets past the padding check.
	slipper := ""
	for i := 0; i < 1<<16 && slipper == ""; i++ {
		p := fmt.Sprintf("wrong%d", i)
		if _, err := ssh.ParsePrivateKeyWithPassphrase(raw, []byte(p)); err != nil && !errors.Is(err, x509.IncorrectPasswordError) {
			slipper = p
		}
	}
	if slipper == "" {
		t.Skip("no wrong passphrase got past the padding check")
	}
	asked := 0
	secrets := &Secrets{Ask: func(context.Context, string, bool) (string, error) { asked++; return slipper, nil }}
	_, err = (&keyFile{path: "id_legacy", raw: raw}).decrypt(context.Background(), secrets)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || asked != 3 {
		t.Fatalf("passphrase %q: %v (asked %d times, want 3)", slipper, err, asked)
	}
	answers := []string{slipper, "right"}
	secrets = &Secrets{Ask: func(context.Context, string, bool) (string, error) {
		a := answers[0]
		answers = answers[1:]
		return a, nil
	}}
	if _, err := (&keyFile{path: "id_legacy", raw: raw}).decrypt(context.Background(), secrets); err != nil {
		t.Fatalf("the right passphrase after a wrong one: %v", err)
	}
}
