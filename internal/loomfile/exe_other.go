//go:build !windows

package loomfile

// exeSuffix ends the name of a compiled program: nothing here.
const exeSuffix = ""
