//go:build !unix

package loom

// watchResize: without SIGWINCH the size is the one at the start.
func watchResize(int, func(w, h int)) func() { return func() {} }
