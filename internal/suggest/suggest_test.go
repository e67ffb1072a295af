package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"gather", "gahter", 1}, {"kitten", "sitting", 3}, {"héllo", "hello", 1}, {"", "abc", 3}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"gather", "json", "timeout", "host-timeout"}
	for typed, want := range map[string]string{"gahter": "gather", "jsno": "json", "timeot": "timeout", "x": "", "zzzzzz": ""} {
		if got := Closest(typed, names); got != want {
			t.Errorf("Closest(%q) = %q, want %q", typed, got, want)
		}
	}
}
