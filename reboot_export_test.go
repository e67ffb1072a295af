package loom

import "testing"

// SetRebootScript makes Reboot run script instead of a real reboot, for the
// test's duration.
func SetRebootScript(t *testing.T, script string) {
	old := rebootScript
	rebootScript = script
	t.Cleanup(func() { rebootScript = old })
}
