package sshmux

import "runtime"

var peerSupported = runtime.GOOS == "linux" || runtime.GOOS == "darwin"
