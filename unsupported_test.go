package loom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/loomssh/loom/internal/testkit"
)

// An ssh_config directive Loom does not support, applying to the hosts of
// a run, is said once per run without -v when ignoring it changes what
// the user asked for (LocalForward: no tunnel is opened), and
// only with -v when it does not (Compression). Before, both were said
// with -v only.
func TestUnsupportedDirectiveWarnsOnce(t *testing.T) {
	hosts, _, d := sharedFleet(t, 2)
	d.Options = append(d.Options, "LocalForward=8080 localhost:80", "Compression=yes")
	var stderr, debug testkit.SyncBuffer
	d.Stderr = &stderr
	d.Logf = func(format string, args ...any) { debug.Write([]byte(format + "\n")) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range hosts {
		c, err := d.Dial(ctx, h.Name)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	got := stderr.String()
	alias, _, _ := strings.Cut(hosts[0].Name, ":") // host:port: the alias is the host
	want := "warning: " + alias + ": ssh_config LocalForward is not supported by Loom and is ignored (for every host it applies to; docs/ssh_config.md#unsupported-directives)\n"
	if got != want {
		t.Errorf("warnings:\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(got, "Compression") {
		t.Errorf("Compression (harmless to ignore) warned without -v: %q", got)
	}
	if !strings.Contains(debug.String(), "ssh_config %s is not supported") {
		t.Errorf("-v does not list the ignored directives: %q", debug.String())
	}
}
