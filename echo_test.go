package loom_test

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// TestDialerEcho: Echo sees each command as it starts, as given (without
// the Cd and Env scopes), on the Dialer's hosts and its Local.
func TestDialerEcho(t *testing.T) {
	hosts, d := fleet(t, 1, nil)
	var mu sync.Mutex
	var seen []string
	d.Echo = func(host, cmd string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, host+" $ "+cmd)
	}
	c, err := d.DialHost(context.Background(), hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Run("echo", "a b")
	c.Cd("/tmp").Env("X", "secret-ish").Shell("pwd | cat")
	d.Local().Run("true")
	want := []string{hosts[0].Name + " $ echo 'a b'", hosts[0].Name + " $ pwd | cat", "local $ true"}
	if !slices.Equal(seen, want) {
		t.Fatalf("echoed %q, want %q", seen, want)
	}
}
