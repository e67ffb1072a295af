//go:build !unix

package main

// raiseFileLimit does nothing: there is no descriptor limit to raise here.
func raiseFileLimit(int) {}
