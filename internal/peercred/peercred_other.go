//go:build !linux && !darwin

package peercred

func sockPeer(int) (uid, pid int, err error) { return -1, 0, ErrUnsupported }
