//go:build loom

// A deployment in the Capistrano style, for any app (this one is a
// directory of files with two hook scripts, app/bin/restart and
// app/bin/health):
//
//	DIR/releases/v1.3/        one directory per release
//	DIR/releases/v1.4/
//	DIR/current -> releases/v1.4
//
//	loom deploy v1.4          build, upload, then switch and restart the
//	                          web hosts in rolling batches, each checked by
//	                          its health check; roll back if one fails
//	loom status               which release each host runs
//	loom rollback             back to the release before the current one
//	loom cleanup              keep the five newest releases (asks first;
//	                          LOOM_YES=1 answers yes where nobody can)
//
// The web hosts come from loom.yaml (role web); -H or -R on the command
// line pick others: loom -H staging1 deploy v1.4.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/loomssh/loom"
)

func init() {
	loom.Task(Deploy, loom.ArgDefault("dir", "/srv/app"), loom.ArgDefault("batch", "25%"))
	loom.Task(Status, loom.OnRoles("web"), loom.ArgDefault("dir", "/srv/app"))
	loom.Task(Rollback, loom.OnRoles("web"), loom.Batches(loom.Percent(25)), loom.MaxFailures(loom.Count(0)), loom.ArgDefault("dir", "/srv/app"))
	loom.Task(Cleanup, loom.OnRoles("web"), loom.ArgDefault("dir", "/srv/app"), loom.ArgDefault("keep", "5"))
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Build stages release VERSION in dist/VERSION: the files of app/ and a
// VERSION file. A real build would compile or bundle here.
func Build(ctx context.Context, version string) error {
	if !versionRE.MatchString(version) {
		return fmt.Errorf("version %q: use letters, digits, dots, dashes and underscores", version)
	}
	out := filepath.Join("dist", version)
	local := loom.Local().WithContext(ctx)
	local.Run("rm", "-rf", out)
	local.Run("mkdir", "-p", "dist")
	local.Run("cp", "-R", "app", out)
	if err := local.Err(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "VERSION"), []byte(version+"\n"), 0o644)
}

// Deploy builds release VERSION, uploads it to every web host, then
// switches the hosts to it in rolling batches of --batch hosts (a count or
// a percentage): on each host the current symlink is switched atomically,
// the app restarted and its health checked. When a host fails, no further
// batch starts and every host already switched goes back to the release it
// ran before.
func Deploy(ctx context.Context, version, dir, batch string) error {
	size, err := loom.ParseLimit(batch)
	if err != nil {
		return fmt.Errorf("--batch=%s: %v", batch, err)
	}
	if err := Build(ctx, version); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	release := path.Join(dir, "releases", version)

	// Upload to every host at once. Nothing is switched yet, so a failure
	// here leaves every host running what it ran.
	all, err := loom.NewGroup(ctx, loom.OnRoles("web"))
	if err != nil {
		return err
	}
	if err := all.Each(ctx, func(c *loom.Conn) error {
		c.Put(filepath.Join("dist", version), release)
		return c.Err()
	}).Err(); err != nil {
		return fmt.Errorf("upload: %w", err)
	}

	// What each host runs now, to go back to if the deploy fails.
	previous, st := loom.ExecuteMap[string](ctx, Status, dir)
	if err := st.Err(); err != nil {
		return fmt.Errorf("status: %w", err)
	}

	// Switch in rolling batches, stopping at the first unhealthy host.
	rolling := *all
	rolling.Batch, rolling.MaxFail = size, loom.Count(0)
	var switched sync.Map // the hosts switched
	rs := rolling.Each(ctx, func(c *loom.Conn) error {
		if err := c.Symlink(path.Join("releases", version), path.Join(dir, "current")); err != nil {
			return err
		}
		switched.Store(c.Host(), true)
		return restart(c, dir)
	})
	if rs.Err() == nil {
		fmt.Printf("deployed %s to %d hosts\n", version, len(rs.OK()))
		return nil
	}

	// Roll back the hosts that were switched, all at once.
	back := *all
	back.Hosts = slices.DeleteFunc(slices.Clone(all.Hosts), func(h loom.Host) bool { _, ok := switched.Load(h.Name); return !ok })
	rb := back.Each(ctx, func(c *loom.Conn) error {
		prev := previous[c.Host()]
		if prev == "" {
			return errors.New("no earlier release to go back to")
		}
		if err := c.Symlink(path.Join("releases", prev), path.Join(dir, "current")); err != nil {
			return err
		}
		c.Printf("back to %s", prev)
		return restart(c, dir)
	})
	if err := rb.Err(); err != nil {
		return fmt.Errorf("deploying %s failed (%v), and so did rolling back: %w", version, rs.Err(), err)
	}
	return fmt.Errorf("deploying %s failed: %v; rolled %d hosts back", version, rs.Err(), len(rb.OK()))
}

// currentRelease is the release DIR/current points at, or "".
func currentRelease(c *loom.Conn, dir string) string {
	r := c.Quiet().Warn().Run("readlink", path.Join(dir, "current"))
	if link := strings.TrimSpace(r.Stdout); link != "" {
		return path.Base(link)
	}
	return ""
}

// restart restarts the current release and waits up to 10 seconds for its
// health check to pass.
func restart(c *loom.Conn, dir string) error {
	current := path.Join(dir, "current")
	c.Run(path.Join(current, "bin", "restart"))
	c.Shell(fmt.Sprintf("for i in $(seq 20); do %s && exit 0; sleep 0.5; done; echo 'health check failed' >&2; exit 1",
		loom.Quote(path.Join(current, "bin", "health"))))
	return c.Err()
}

// Status is the release each host runs.
func Status(c *loom.Conn, dir string) (string, error) {
	return currentRelease(c, dir), c.Err()
}

// Rollback switches each host back to the release before its current one
// (in version order), restarts it and checks its health.
func Rollback(c *loom.Conn, dir string) error {
	current := currentRelease(c, dir)
	list := c.Quiet().Run("ls", "-1", path.Join(dir, "releases"))
	if err := c.Err(); err != nil {
		return err
	}
	releases := strings.Fields(list.Stdout)
	slices.SortFunc(releases, compareVersions)
	i := slices.Index(releases, current)
	if i <= 0 {
		return fmt.Errorf("no release before %q to go back to", current)
	}
	if err := c.Symlink(path.Join("releases", releases[i-1]), path.Join(dir, "current")); err != nil {
		return err
	}
	c.Printf("back to %s", releases[i-1])
	return restart(c, dir)
}

// Cleanup removes all but the --keep newest releases (in version order),
// never the current one, once you confirm.
func Cleanup(c *loom.Conn, dir string, keep int) error {
	if ok, err := loom.Confirm(c.Context(), fmt.Sprintf("Remove all but the %d newest releases?", keep)); !ok || err != nil {
		return err
	}
	current := currentRelease(c, dir)
	list := c.Quiet().Run("ls", "-1", path.Join(dir, "releases"))
	releases := strings.Fields(list.Stdout)
	slices.SortFunc(releases, compareVersions)
	for len(releases) > keep {
		if releases[0] != current {
			c.Run("rm", "-rf", path.Join(dir, "releases", releases[0]))
			c.Printf("removed %s", releases[0])
		}
		releases = releases[1:]
	}
	return c.Err()
}

// compareVersions orders v1.2 before v1.10: numbers by value, the rest
// as text.
func compareVersions(a, b string) int {
	split := regexp.MustCompile(`\d+|\D+`)
	pa, pb := split.FindAllString(a, -1), split.FindAllString(b, -1)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		na, ea := atoi(pa[i])
		nb, eb := atoi(pb[i])
		if ea && eb {
			if na != nb {
				return na - nb
			}
			continue
		}
		return strings.Compare(pa[i], pb[i])
	}
	return len(pa) - len(pb)
}

func atoi(s string) (int, bool) {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
