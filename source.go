package loom

import (
	"embed"
	"io/fs"
)

// source is this module's code: what the loom command builds loomfiles
// against when they are in no module of their own. A program that does not
// call Source does not carry it (the linker drops it).
//
//go:embed go.mod go.sum *.go internal/*/*.go loomtest/*.go taskmain/*.go
var source embed.FS

// Source returns Loom's own source, the module this program was built
// from: go.mod, go.sum and the Go files of its packages. The loom command
// uses it to build a loomfile that has no go.mod of its own without the
// network, at the loom command's own version.
func Source() fs.FS { return source }
