//go:build loom

// The deployment toolkit of awesome-python3-webapp (a Python web app run by
// supervisor behind nginx), ported from its Fabric 1 fabfile: see README.md.
//
//	loom build deploy    pack www/ and switch the server to it
//	loom rollback        back to the release before, once you confirm
//	loom backup          the database, downloaded into backup/
package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loomssh/loom"
)

const (
	dbUser        = "www-data"
	dbPassword    = "www-data"
	tarFile       = "dist-awesome.tar.gz"
	remoteTmpTar  = "/tmp/" + tarFile
	remoteBaseDir = "/srv/awesome"
)

func init() {
	loom.Task(Backup, loom.OnHosts("michael@192.168.0.3"))
	loom.Task(Deploy, loom.OnHosts("michael@192.168.0.3"))
	loom.Task(Rollback, loom.OnHosts("michael@192.168.0.3"))
}

func now() string { return time.Now().Format("06-01-02_15.04.05") }

// Backup dumps the entire database on the server and downloads it.
func Backup(c *loom.Conn) error {
	f := "backup-awesome-" + now() + ".sql"
	tmp := c.Cd("/tmp")
	tmp.Shell(fmt.Sprintf("mysqldump --user=%s --password=%s --skip-opt --add-drop-table --default-character-set=utf8 --quick awesome > %s", dbUser, dbPassword, f))
	tmp.Run("tar", "-czvf", f+".tar.gz", f)
	tmp.Get(f+".tar.gz", "backup/")
	tmp.Run("rm", "-f", f, f+".tar.gz")
	return c.Err()
}

// Build packs the app in www/ into dist/.
func Build() error {
	local := loom.Local()
	local.Run("rm", "-f", "dist/"+tarFile)
	local.Cd("www").Shell("tar --dereference -czvf ../dist/" + tarFile + " --exclude='test' --exclude='.*' --exclude='*.pyc' --exclude='*.pyo' static templates transwarp favicon.ico *.py")
	return local.Err()
}

// Deploy unpacks dist/ into a new release directory and switches to it.
func Deploy(c *loom.Conn) error {
	newdir := "www-" + now()
	c.Run("rm", "-f", remoteTmpTar)
	c.Put("dist/"+tarFile, remoteTmpTar)
	base := c.Cd(remoteBaseDir)
	base.Sudo("mkdir", newdir)
	base.Cd(newdir).Sudo("tar", "-xzvf", remoteTmpTar)
	base.Sudo("rm", "-f", "www")
	base.Sudo("ln", "-s", newdir, "www")
	base.Sudo("chown", "www-data:www-data", "www")
	base.Sudo("chown", "-R", "www-data:www-data", newdir)
	restart(c)
	return c.Err()
}

func restart(c *loom.Conn) {
	c.Warn().Sudo("supervisorctl", "stop", "awesome")
	c.Warn().Sudo("supervisorctl", "start", "awesome")
	c.Warn().Sudo("/etc/init.d/nginx", "reload")
}

// Rollback switches back to the release before the current one.
func Rollback(c *loom.Conn) error {
	base := c.Cd(remoteBaseDir)
	var files []string
	for _, s := range strings.Fields(base.Quiet().Run("ls", "-p", "-1").Stdout) {
		if strings.HasPrefix(s, "www-") && strings.HasSuffix(s, "/") {
			files = append(files, strings.TrimSuffix(s, "/"))
		}
	}
	slices.Sort(files)
	slices.Reverse(files)
	current := base.Quiet().Run("readlink", "www").Text()
	if err := c.Err(); err != nil {
		return fmt.Errorf("'www' is not a symbol link: %w", err)
	}
	c.Printf("Found current symbol link points to: %s\n", current)
	index := slices.Index(files, current)
	switch {
	case index < 0:
		return fmt.Errorf("symbol link is invalid: %s", current)
	case index+1 == len(files):
		return fmt.Errorf("already the oldest version: %s", current)
	}
	old := files[index+1]
	c.Printf("==================================================")
	for _, f := range files {
		switch f {
		case current:
			c.Printf("      Current ---> %s", f)
		case old:
			c.Printf("  Rollback to ---> %s", f)
		default:
			c.Printf("                   %s", f)
		}
	}
	c.Printf("==================================================\n")
	if ok, err := loom.Confirm(c.Context(), "continue?"); !ok || err != nil {
		c.Printf("Rollback cancelled.")
		return err
	}
	c.Printf("Start rollback...")
	base.Sudo("rm", "-f", "www")
	base.Sudo("ln", "-s", old, "www")
	base.Sudo("chown", "www-data:www-data", "www")
	restart(c)
	c.Printf("ROLLBACKED OK.")
	return c.Err()
}

// Restore2local restores a downloaded backup into the local database.
func Restore2local(ctx context.Context) error {
	files, _ := filepath.Glob("backup/backup-*.sql.tar.gz")
	slices.Sort(files)
	slices.Reverse(files)
	if len(files) == 0 {
		fmt.Println("No backup files found.")
		return nil
	}
	fmt.Printf("Found %d backup files:\n", len(files))
	fmt.Println("==================================================")
	for n, f := range files {
		fmt.Printf("%d: %s\n", n, filepath.Base(f))
	}
	fmt.Print("==================================================\n\n")
	answer, err := loom.Prompt(ctx, "Restore file:", "")
	num, nerr := strconv.Atoi(answer)
	if err != nil || nerr != nil || num < 0 || num >= len(files) {
		return fmt.Errorf("invalid file number %q %v", answer, err)
	}
	restoreFile := filepath.Base(files[num])
	if ok, err := loom.Confirm(ctx, fmt.Sprintf("Restore file %d: %s?", num, restoreFile)); !ok || err != nil {
		fmt.Println("Restore cancelled.")
		return err
	}
	fmt.Println("Start restore to local database...")
	p, err := loom.Prompt(ctx, "Input mysql root password:", "")
	if err != nil {
		return err
	}
	local := loom.Local().WithContext(ctx)
	for _, sql := range []string{
		"drop database if exists awesome;",
		"create database awesome;",
		fmt.Sprintf("grant select, insert, update, delete on awesome.* to '%s'@'localhost' identified by '%s';", dbUser, dbPassword),
	} {
		local.Run("mysql", "-uroot", "-p"+p, "-e", sql)
	}
	sqlFile := strings.TrimSuffix(restoreFile, ".tar.gz")
	local.Cd("backup").Run("tar", "zxvf", restoreFile)
	local.Shell("mysql -uroot -p" + loom.Quote(p) + " awesome < backup/" + loom.Quote(sqlFile))
	local.Cd("backup").Run("rm", "-f", sqlFile)
	return local.Err()
}
