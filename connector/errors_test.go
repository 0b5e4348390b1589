package connector

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

func TestIsCertificateRefusal(t *testing.T) {
	alert := func(text string) error { return &net.OpError{Op: "remote error", Net: "tcp", Err: errors.New(text)} }
	cases := []struct {
		err  error
		want bool
	}{
		{&UnavailableError{Op: "pinging", Err: fmt.Errorf("broker 1: %w", alert("tls: certificate required"))}, true},
		{alert("tls: bad certificate"), true},
		{alert("tls: unknown certificate authority"), true},
		{alert("tls: protocol version not supported"), false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{errors.New("certificate required"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := IsCertificateRefusal(c.err); got != c.want {
			t.Errorf("IsCertificateRefusal(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
