//go:build windows

package loomfile

// exeSuffix ends the name of a compiled program: Windows runs only a file
// whose name says it is a program.
const exeSuffix = ".exe"
