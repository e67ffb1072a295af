//go:build loom

// The deployment of EHRI's back end (a Neo4j plugin built with Maven),
// ported from its fabfile: see README.md.
//
//	loom -H db1 deploy                   build, upload, link, restart (asks)
//	loom -H db1 rollback                 back to the previous jar
//	loom -H db1 online-clone-db ./graph  a backup of the live database, here
package main

import (
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/loomssh/loom"
)

const (
	deploysDir   = "/opt/neo4j/ehri-rest/deploys"
	targetLink   = "/opt/neo4j/plugins/ehri-data.jar"
	neo4jInstall = "/opt/neo4j/current"
)

func init() {
	loom.Task(OnlineBackup, loom.ArgDefault("tar", "true"))
}

// Deploy builds (with --clean from scratch) and deploys the distribution.
func Deploy(c *loom.Conn, clean *bool) error {
	build := "mvn package -DskipTests"
	if clean != nil && *clean {
		build = "mvn clean package -DskipTests"
	}
	if err := loom.Local().Shell(build).Err; err != nil {
		return err
	}
	artifactVersion, err := ArtifactVersion(c)
	if err != nil {
		return err
	}
	version, err := VersionStamp(c)
	if err != nil {
		return err
	}
	dst := fmt.Sprintf("%s/ehri-data-%s.jar", deploysDir, version)
	c.Put(fmt.Sprintf("build/target/ehri-data-%s.jar", artifactVersion), dst)
	return SymlinkTarget(c, dst, targetLink)
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

// ArtifactVersion is the current artifact version, from Maven.
func ArtifactVersion(c *loom.Conn) (string, error) {
	r := loom.Local().Shell(`mvn org.apache.maven.plugins:maven-help-plugin:2.1.1:evaluate -Dexpression=project.version | grep -Ev '(^\[|Download\w+:)'`)
	return r.Text(), r.Err
}

// SymlinkTarget links target to a version and restarts.
func SymlinkTarget(c *loom.Conn, source, target string) error {
	c.Run("ln", "--force", "--no-dereference", "--symbolic", source, target)
	c.Run("chgrp", "-R", "webadm", target)
	return Restart(c)
}

// Restart restarts the Neo4j process, if you say so.
func Restart(c *loom.Conn) error {
	if ok, err := loom.Confirm(c.Context(), "Restart Neo4j?"); !ok || err != nil {
		return err
	}
	c.Sudo("service", "neo4j", "restart")
	return c.Err()
}

// VersionStamp is the tag for a version: the current time and git revision.
func VersionStamp(c *loom.Conn) (string, error) {
	rev := loom.Local().Run("git", "rev-parse", "--short", "HEAD")
	return timestamp() + "_" + rev.Text(), rev.Err
}

// OnlineBackup makes an online backup in the directory DIR (--tar=false
// leaves it a directory, else it becomes DIR.tgz).
func OnlineBackup(c *loom.Conn, dir string, tar bool) error {
	if c.Exists(dir) {
		return fmt.Errorf("remote directory %q already exists", dir)
	}
	c.Run(neo4jInstall+"/bin/neo4j-admin", "backup", "--from", "localhost:6362", "--name="+path.Base(dir), "--backup-dir", path.Dir(dir))
	if tar {
		c.Run("tar", "--create", "--gzip", "--file", dir+".tgz", "-C", dir, ".")
		c.Run("rm", "-rf", dir)
	}
	return c.Err()
}

// OnlineCloneDB makes an online backup of the database and downloads it
// into the local directory DIR.
func OnlineCloneDB(c *loom.Conn, dir string) error {
	tmp := "/tmp/" + timestamp()
	if err := OnlineBackup(c, tmp, false); err != nil {
		return err
	}
	c.Run("tar", "--create", "--gzip", "--file", tmp+".tgz", "-C", tmp, ".")
	tgz := path.Base(tmp) + ".tgz"
	c.Get(tmp+".tgz", tgz)
	c.Run("rm", "-rf", tmp, tmp+".tgz")
	if err := c.Err(); err != nil {
		return err
	}
	local := loom.Local()
	local.Run("mkdir", "-p", dir)
	local.Run("tar", "xf", tgz, "-C", dir)
	local.Run("rm", tgz)
	return local.Err()
}

func timestamp() string { return time.Now().Format("20060102150405") }
