package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/server/authn"
	"github.com/ferrykafka/ferry/server/policy"
)

// fileConfig is ferry's config file (JSON, --config): one file for the
// listener, the clusters with their credentials, how clients authenticate
// and what each principal may do. Flags override its settings. Unknown
// fields are errors, so that a typo does not silently open a door.
type fileConfig struct {
	// Listen is the gRPC address; --listen overrides it.
	Listen string `json:"listen"`
	// Insecure allows serving a non-loopback address without TLS and
	// authentication; --insecure overrides it. Logged loudly.
	Insecure bool `json:"insecure"`
	// TLS is ferry's own certificate (reloaded when its files change) and
	// the client CA of mTLS; see authn.TLS.
	TLS authn.TLS `json:"tls"`
	// TokensFile holds "principal sha256:<hex>" lines: hashes of bearer
	// tokens (`ferry hash-token` prints one), reloaded when it changes.
	TokensFile string `json:"tokens_file"`
	// JWT checks bearer JWTs against a local JWKS file; see authn.JWT.
	JWT authn.JWT `json:"jwt"`
	// HealthPublic lets anyone call grpc.health.v1.Health (load
	// balancers); otherwise health needs authentication like the rest.
	HealthPublic bool `json:"health_public"`
	// AllowBootstrap and AllowFileDirs extend --allow-bootstrap and
	// --allow-file-dir.
	AllowBootstrap []string `json:"allow_bootstrap"`
	AllowFileDirs  []string `json:"allow_file_dirs"`
	// Clusters by name; "default" serves specs that name none (--kafka
	// overrides its bootstrap servers).
	Clusters map[string]clusterConfig `json:"clusters"`
	// Principals are the policy: the rights of each authenticated name.
	// Reloaded when the file changes; a bad file keeps the old policy.
	Principals map[string]rightsConfig `json:"principals"`
	// Limits bound what clients may hold: sessions, memory, streams,
	// keepalive; the flags of the same names override them.
	Limits limitsConfig `json:"limits"`
}

type clusterConfig struct {
	BootstrapServers []string          `json:"bootstrap_servers"`
	Properties       map[string]string `json:"properties"`
	// PrincipalProperties give principals their own Kafka identity on this
	// cluster (e.g. their own sasl.jaas.config), so Kafka's ACLs apply too.
	PrincipalProperties map[string]map[string]string `json:"principal_properties"`
}

type rightsConfig struct {
	Clusters                []string `json:"clusters"`
	ReadTopics              []string `json:"read_topics"`
	WriteTopics             []string `json:"write_topics"`
	Groups                  []string `json:"groups"`
	TransactionalIDPrefixes []string `json:"transactional_id_prefixes"`
	Jobs                    []string `json:"jobs"`
	Admin                   bool     `json:"admin"`
}

// maxConfigBytes bounds the config file, as every file ferry reads.
const maxConfigBytes = kafkaconf.MaxFileBytes

// loadConfig reads and checks the config file at path.
func loadConfig(path string) (*fileConfig, error) {
	raw, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c fileConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := c.policy(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, cl := range c.Clusters {
		if err := (connector.Cluster{BootstrapServers: cl.BootstrapServers}).Validate("clusters." + name + ".bootstrap_servers"); err != nil && !(name == "default" && len(cl.BootstrapServers) == 0) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for p := range cl.PrincipalProperties {
			if _, ok := c.Principals[p]; !ok {
				return nil, fmt.Errorf("%s: clusters.%s.principal_properties names principal %q, which principals does not list", path, name, p)
			}
		}
	}
	for _, d := range c.AllowFileDirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("%s: allow_file_dirs: %q must be an absolute path", path, d)
		}
	}
	return &c, nil
}

// readBounded reads a regular file of at most maxConfigBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err == nil && len(b) > maxConfigBytes {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxConfigBytes)
	}
	return b, err
}

// policy turns the principals section into a policy.
func (c *fileConfig) policy() (*policy.Policy, error) {
	rights := make(map[string]policy.Rights, len(c.Principals))
	names := make([]string, 0, len(c.Principals))
	for n := range c.Principals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := c.Principals[name]
		var out policy.Rights
		for _, f := range []struct {
			field string
			in    []string
			out   *policy.Patterns
		}{
			{"clusters", r.Clusters, &out.Clusters},
			{"read_topics", r.ReadTopics, &out.ReadTopics},
			{"write_topics", r.WriteTopics, &out.WriteTopics},
			{"groups", r.Groups, &out.Groups},
			{"transactional_id_prefixes", r.TransactionalIDPrefixes, &out.TransactionalIDPrefixes},
			{"jobs", r.Jobs, &out.Jobs},
		} {
			for i, s := range f.in {
				p, err := policy.ParsePattern(s)
				if err != nil {
					return nil, fmt.Errorf("principals.%s.%s[%d]: %w", name, f.field, i, err)
				}
				*f.out = append(*f.out, p)
			}
		}
		out.Admin = r.Admin
		rights[name] = out
	}
	return policy.New(rights), nil
}

// clusters returns the configured clusters.
func (c *fileConfig) clusters() map[string]connector.Cluster {
	out := make(map[string]connector.Cluster, len(c.Clusters))
	for name, cl := range c.Clusters {
		out[name] = connector.Cluster{Name: name, BootstrapServers: cl.BootstrapServers, Properties: cl.Properties, PrincipalProperties: cl.PrincipalProperties}
	}
	return out
}

// authn returns the authentication part; skip exempts methods.
func (c *fileConfig) authn(skip func(string) bool) authn.Config {
	return authn.Config{TLS: c.TLS, TokensFile: c.TokensFile, JWT: c.JWT, Skip: skip}
}
