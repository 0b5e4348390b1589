package server

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCountedConnectionsKeepTheUserTimeout: a connection the limit admits
// carries TCP_USER_TIMEOUT = the keepalive timeout, which gRPC's server
// sets only on the *net.TCPConn it would have been given unwrapped.
func TestCountedConnectionsKeepTheUserTimeout(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	srv := &Server{cfg: Config{MaxConnections: 1, KeepaliveTimeout: 7 * time.Second}}
	limited := srv.limitConnections(lis)
	client, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := limited.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*countedConn).Conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ms int
	var getErr error
	if err := raw.Control(func(fd uintptr) {
		ms, getErr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}); err != nil || getErr != nil {
		t.Fatal(err, getErr)
	}
	if ms != 7000 {
		t.Errorf("TCP_USER_TIMEOUT = %d ms, want 7000 (the keepalive timeout)", ms)
	}
	if n := srv.connections.Load(); n != 1 {
		t.Errorf("%d connections counted, want 1", n)
	}
}
