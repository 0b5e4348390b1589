package connector

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is the address of a Kafka cluster.
type Cluster struct {
	// BootstrapServers are "host:port" seeds; at least one is required.
	BootstrapServers []string
}

// Validate checks that every bootstrap server is a host:port with a port in
// 1..65535. field names the field in errors.
func (c Cluster) Validate(field string) error {
	if len(c.BootstrapServers) == 0 {
		return Invalid(field, "must list at least one host:port")
	}
	for i, s := range c.BootstrapServers {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return Invalid(fmt.Sprintf("%s[%d]", field, i), "%q is not host:port", s)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Invalid(fmt.Sprintf("%s[%d]", field, i), "port of %q must be 1..65535", s)
		}
	}
	return nil
}

// Ping checks that the cluster answers a metadata request within timeout.
// It returns an *UnavailableError when it does not.
func (c Cluster) Ping(ctx context.Context, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapServers...))
	if err != nil {
		return &UnavailableError{Op: "connecting", Err: err}
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return &UnavailableError{Op: "pinging", Err: err}
	}
	return nil
}
