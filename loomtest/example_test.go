//go:build unix

package loomtest_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/loomssh/loom/loomtest"
	"golang.org/x/crypto/ssh"
)

// A server that accepts one client key; a plain x/crypto/ssh client runs a
// command on it. In a test, use loomtest.NewServer(t, ...) instead of Start
// and Close.
func Example() {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		log.Fatal(err)
	}

	srv, err := loomtest.Start(loomtest.Options{
		AuthorizedKeys: []ssh.PublicKey{key.PublicKey()},
		Env:            []string{"GREETING=hello"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	client, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User:            "deploy",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	sess, err := client.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	out, err := sess.Output(`echo "$GREETING from loomtest"; exit 3`)
	fmt.Print(string(out))
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		fmt.Println("exit status", exit.ExitStatus())
	}
	// Output:
	// hello from loomtest
	// exit status 3
}

// A server with a Fault shows a client the failures real servers produce
// only now and then: here, the command's exit status never arrives.
func ExampleFault() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewSignerFromKey(priv)
	srv, err := loomtest.Start(loomtest.Options{
		AuthorizedKeys: []ssh.PublicKey{key.PublicKey()},
		Fault:          loomtest.NoExitStatus,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	client, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User:            "deploy",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	sess, _ := client.NewSession()
	err = sess.Run("true")
	var missing *ssh.ExitMissingError
	fmt.Println(errors.As(err, &missing))
	// Output: true
}
