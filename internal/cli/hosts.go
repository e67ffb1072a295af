package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/hostlist"
	"github.com/loomssh/loom/internal/inventory"
)

// selectHosts returns the hosts to run on: -H patterns and @files, the
// hosts of -R roles from the inventory, without duplicates, minus -x.
// Hosts named on -H that the inventory knows get its settings.
func selectHosts(ctx context.Context, o *options) ([]loom.Host, error) {
	patterns, err := readPatterns("-H", o.hosts.vals)
	if err != nil {
		return nil, err
	}
	names, err := hostlist.ExpandAll(patterns...)
	if err != nil {
		return nil, fmt.Errorf("-H: %w", err)
	}

	inv, err := loadInventory(ctx, o)
	if err != nil {
		return nil, err
	}
	var hosts []loom.Host
	seen := map[string]bool{}
	add := func(h loom.Host) {
		if !seen[h.Name] {
			seen[h.Name] = true
			hosts = append(hosts, h)
		}
	}
	for _, n := range names {
		h := loom.Host{Name: n}
		if inv != nil {
			if ih, ok := inv.Lookup(n); ok {
				h = toHost(ih)
				h.Name = n // as typed: a@web1 and b@web1 stay two targets
			}
		}
		add(h)
	}
	if len(o.roles.vals) > 0 {
		if inv == nil {
			return nil, errNoInventory
		}
		expr := strings.Join(o.roles.vals, ",")
		ihs, err := inv.Match(expr)
		if err != nil {
			return nil, fmt.Errorf("-R %s: %w", expr, err)
		}
		for _, ih := range ihs {
			add(toHost(ih))
		}
	}
	if len(o.excludes.vals) > 0 {
		excludes, err := readPatterns("-x", o.excludes.vals)
		if err != nil {
			return nil, err
		}
		all := make([]string, len(hosts))
		for i, h := range hosts {
			all[i] = h.Name
		}
		keep, err := hostlist.Exclude(all, excludes)
		if err != nil {
			return nil, fmt.Errorf("-x: %w", err)
		}
		kept := map[string]bool{}
		for _, n := range keep {
			kept[n] = true
		}
		var out []loom.Host
		for _, h := range hosts {
			if kept[h.Name] {
				out = append(out, h)
			}
		}
		hosts = out
	}
	return hosts, nil
}

// pick keeps a random sample of hosts (--pick N or N%), in their order;
// --seed makes it repeatable. Without --pick it returns hosts as they
// are. Asking for more hosts than there are is an error.
func pick(o *options, hosts []loom.Host) ([]loom.Host, error) {
	if !o.pick.l.IsSet() {
		return hosts, nil
	}
	n := o.pick.l.Of(len(hosts))
	if o.pick.l.String() != "0" && n == 0 && len(hosts) > 0 {
		n = 1 // a percentage picks at least one host
	}
	if n > len(hosts) {
		return nil, fmt.Errorf("--pick %s: only %d host%s selected", o.pick.l, len(hosts), plural(len(hosts)))
	}
	r := rand.New(rand.NewPCG(o.seed, 0x6c6f6f6d)) // "loom"
	idx := r.Perm(len(hosts))[:n]
	slices.Sort(idx)
	out := make([]loom.Host, n)
	for i, j := range idx {
		out[i] = hosts[j]
	}
	return out, nil
}

// readPatterns returns the patterns of a host flag's values, reading
// the @FILE ones: one or more patterns a line, # starting a comment. A
// file with no pattern in it is an error: it was meant to name hosts.
func readPatterns(flag string, vals []string) ([]string, error) {
	var patterns []string
	for _, v := range vals {
		file, ok := strings.CutPrefix(v, "@")
		if !ok {
			patterns = append(patterns, v)
			continue
		}
		if file == "failed" || file == "unreachable" || file == "last" {
			if _, err := os.Stat(file); err == nil {
				return nil, fmt.Errorf("%s %s: ambiguous: ./%s is a file here too; write %s @./%s for the file", flag, v, file, flag, file)
			}
			names, err := recordHosts(file)
			if err != nil {
				return nil, fmt.Errorf("%s %v", flag, err)
			}
			patterns = append(patterns, names...)
			continue
		}
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			// Not a host either: no host name starts with '@'.
			return nil, fmt.Errorf("%s %s: no such hosts file %q (%s @FILE reads hosts from FILE; for ClusterShell's @group, select inventory roles with -R)", flag, v, file, flag)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, v, err)
		}
		n := len(patterns)
		for _, ln := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(ln, '#'); i >= 0 {
				ln = ln[:i]
			}
			patterns = append(patterns, strings.Fields(ln)...)
		}
		if len(patterns) == n {
			return nil, fmt.Errorf("%s %s: hosts file %s is empty (no host in it, only blank lines or comments)", flag, v, file)
		}
	}
	return patterns, nil
}

// loadInventory loads -I FILE, or loom.yaml found upward from the working
// directory; nil when there is none, or with -I none.
func loadInventory(ctx context.Context, o *options) (*inventory.Inventory, error) {
	path := o.inventory
	if path == "none" {
		return nil, nil
	}
	if path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, nil
		}
		if path, err = inventory.Find(wd); err != nil || path == "" {
			return nil, err
		}
	}
	// Dynamic inventory runs commands: only when the inventory is asked for
	// (-I, or -R roles), and never for --dry-run. A loom.yaml merely found
	// upward (a checkout you just cloned) gives host settings, runs nothing.
	if o.dryRun || (o.inventory == "" && len(o.roles.vals) == 0) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return inventory.Parse(data, path)
	}
	return inventory.Load(ctx, path)
}

func toHost(ih inventory.Host) loom.Host {
	return loom.Host{Name: ih.Name, User: ih.User, Port: ih.Port, ProxyJump: ih.Jump, Roles: ih.Roles, Vars: ih.Vars}
}

// errNoInventory: roles were asked for and there is no inventory.
var errNoInventory = errors.New("-R needs an inventory: no loom.yaml found from the working directory upward (give one with -I FILE)")
