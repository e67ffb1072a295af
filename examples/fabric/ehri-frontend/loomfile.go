//go:build loom

// The deployment of EHRI's front-end web app (a Play app built with sbt),
// ported from its fabfile: see README.md.
//
//	loom -H web1 deploy --clean   build, upload, unpack, switch, restart
//	loom -H web1 rollback         back to the previous deploy
//	loom -H web1 maintenance      toggle maintenance mode
package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/loomssh/loom"
)

const (
	home              = "/opt/docview"
	deploysDir        = home + "/deploys"
	targetLink        = home + "/target"
	targetJavaVersion = 11
)

// Deploy builds (with --clean from scratch) and deploys the distribution.
func Deploy(c *loom.Conn, clean *bool) error {
	if err := checkTargetJavaVersion(); err != nil {
		return err
	}
	version, err := VersionStamp(c)
	if err != nil {
		return err
	}
	local := loom.Local()
	if clean != nil && *clean {
		local.Run("sbt", "clean", "dist")
	} else {
		local.Run("sbt", "dist")
	}
	file := local.Shell("ls -1t target/universal/docview-*.zip | head -n 1").Text()
	if file == "" {
		return local.Fail(errors.New("cannot find latest build zip in target/universal"))
	}
	versionDir := deploysDir + "/" + version
	c.Put(file, "/tmp/")
	c.Run("mkdir", "-p", versionDir)
	c.Run("unzip", "/tmp/"+filepath.Base(file), "-d", versionDir)
	return SymlinkTarget(c, versionDir, targetLink)
}

// Rollback sets the current version to the previous version directory.
func Rollback(c *loom.Conn) error { return switchTo(c, 2) }

// Latest sets the current version to the latest version directory.
func Latest(c *loom.Conn) error { return switchTo(c, 1) }

// switchTo links the target to the nth newest deploy and restarts.
func switchTo(c *loom.Conn, nth int) error {
	out := c.Shell(fmt.Sprintf("ls -1rt %s | tail -n %d | head -n 1", deploysDir, nth)).Text()
	if out == "" {
		return c.Fail(errors.New("unable to get previous version for rollback"))
	}
	return SymlinkTarget(c, deploysDir+"/"+out, targetLink)
}

// SymlinkTarget links target to a version directory and restarts.
func SymlinkTarget(c *loom.Conn, versionDir, target string) error {
	c.Run("ln", "--force", "--no-dereference", "--symbolic", versionDir, target)
	c.Run("chgrp", "-R", "webadm", target)
	return Restart(c)
}

// Restart restarts the docview process.
func Restart(c *loom.Conn) error {
	c.Sudo("service", "docview", "restart")
	return c.Err()
}

// VersionStamp is the tag for a version: the current time and git revision.
func VersionStamp(c *loom.Conn) (string, error) {
	rev := loom.Local().Run("git", "rev-parse", "--short", "HEAD")
	return time.Now().Format("20060102150405") + "_" + rev.Text(), rev.Err
}

// Whitelist lets only --ip in, or without --ip lets everyone in again.
func Whitelist(c *loom.Conn, ip *string) error {
	file := home + "/IP_WHITELIST"
	switch {
	case ip == nil && c.Exists(file):
		c.Run("rm", "-f", file)
		c.Printf("IP_WHITELIST mode is OFF")
	case ip == nil:
		c.Printf("No IP given, and no whitelist file present. Nothing to do...")
	case net.ParseIP(*ip).To4() == nil:
		return fmt.Errorf("this doesn't look like a single IP: %s", *ip)
	default:
		c.PutReader(strings.NewReader(*ip+"\n"), file)
		c.Printf("IP_WHITELIST is ON for %s", *ip)
	}
	return c.Err()
}

// Message shows --msg on every page, or without --msg removes it.
func Message(c *loom.Conn, msg *string) error {
	if msg != nil {
		c.PutReader(strings.NewReader(*msg+"\n"), home+"/MESSAGE")
		c.Printf("MESSAGE mode is ON")
	} else {
		c.Run("rm", home+"/MESSAGE")
		c.Printf("MESSAGE mode is OFF")
	}
	return c.Err()
}

// Readonly toggles read-only mode.
func Readonly(c *loom.Conn) error { return toggleMode(c, "READONLY") }

// Maintenance toggles maintenance mode.
func Maintenance(c *loom.Conn) error { return toggleMode(c, "MAINTENANCE") }

func toggleMode(c *loom.Conn, mode string) error {
	file := home + "/" + mode
	if c.Exists(file) {
		c.Run("rm", file)
		c.Printf("%s mode is OFF", mode)
	} else {
		c.Run("touch", file)
		c.Printf("%s mode is ON", mode)
	}
	return c.Err()
}

func checkTargetJavaVersion() error {
	r := loom.Local().Run("java", "-version")
	if r.OK() && !strings.Contains(r.Stderr, fmt.Sprintf(`version "%d`, targetJavaVersion)) {
		return fmt.Errorf("Java %d required", targetJavaVersion)
	}
	return r.Err
}
