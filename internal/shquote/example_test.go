package shquote_test

import (
	"fmt"

	"github.com/loomssh/loom/internal/shquote"
)

func ExampleJoin() {
	fmt.Println(shquote.Join([]string{"grep", "-r", "it's $HOME", "/etc"}))
	// Output: grep -r 'it'\''s $HOME' /etc
}
