package loom_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"testing"

	"github.com/loomssh/loom/internal/testkit"
)

func itoa(i int) string { return strconv.Itoa(i) }

func mustEd25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func refusedAddr(t testing.TB) string { return testkit.RefusedAddr(t) }
