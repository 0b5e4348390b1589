package connector

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is a Kafka cluster: its address and, when the operator
// configured it, the properties its clients use (credentials, TLS).
type Cluster struct {
	// Name is the name the operator configured it under; empty for a
	// cluster a client named by its bootstrap servers.
	Name string
	// BootstrapServers are "host:port" seeds; at least one is required.
	BootstrapServers []string
	// Properties are the operator's Java-named client properties for this
	// cluster (security.protocol, sasl.jaas.config, ssl.*, ...), applied
	// before a session's own; nil for a cluster a client named.
	Properties map[string]string
	// PrincipalProperties are, per authenticated principal, properties that
	// replace Properties' keys for that principal's sessions: its own Kafka
	// identity (sasl.jaas.config), so that Kafka's ACLs apply to it too.
	PrincipalProperties map[string]map[string]string
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

// Ping checks that the cluster answers a metadata request within timeout,
// with a client of opts (the cluster's security, see kafkaconf.ClientOpts;
// none means only the seeds). It returns an *UnavailableError when it does
// not.
func (c Cluster) Ping(ctx context.Context, timeout time.Duration, opts ...kgo.Opt) error {
	if len(opts) == 0 {
		opts = []kgo.Opt{kgo.SeedBrokers(c.BootstrapServers...)}
	}
	cl, err := kgo.NewClient(opts...)
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
