// Command loom runs commands, scripts and deployments over SSH on one host
// or ten thousand. Run "loom -h" for help and "loom demo" for a tour.
package main

import (
	"os"

	"github.com/loomssh/loom/internal/cli"
	"github.com/loomssh/loom/internal/demo"
)

func main() {
	cli.SetDemo(demo.Run)
	os.Exit(cli.Main())
}
