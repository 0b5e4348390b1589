//go:build !linux

package server

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist (gRPC's
// server does not set it there either).
func setUserTimeout(net.Conn, time.Duration) error { return nil }
