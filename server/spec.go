package server

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// The spec_*.go files turn the open messages of both RPCs into connector
// configurations, one function per part of a spec. Every error is a
// *connector.InvalidError whose Field is the path of the offending field in
// the request ("open.spec.topics.topics[1]"), or a *connector.NotFoundError
// for an unknown cluster name. This file holds the rules both specs share.

// clusterSpec picks the cluster of a spec: absent means "default", a name
// must be configured on the server, and bootstrap servers must be host:port.
func (s *Server) clusterSpec(field string, c *ferryv1.Cluster) (connector.Cluster, error) {
	if c == nil {
		return s.namedCluster(field, "default")
	}
	switch {
	case len(c.GetBootstrapServers()) > 0 && c.GetName() != "":
		return connector.Cluster{}, connector.Invalid(field, "set bootstrap_servers or name, not both")
	case c.GetName() != "":
		return s.namedCluster(field+".name", c.GetName())
	}
	cl := connector.Cluster{BootstrapServers: c.GetBootstrapServers()}
	if len(cl.BootstrapServers) == 0 {
		return cl, connector.Invalid(field+".bootstrap_servers", "must list at least one host:port (or set cluster.name, or leave cluster out for the server's default)")
	}
	if err := cl.Validate(field + ".bootstrap_servers"); err != nil {
		return cl, err
	}
	for i, addr := range cl.BootstrapServers {
		if !bootstrapAllowed(s.cfg.AllowedBootstrap, addr) {
			return cl, &connector.DeniedError{Operation: "connect to", Resource: fmt.Sprintf("bootstrap server %q (%s)", addr, entryField(field+".bootstrap_servers", i)),
				Reason: "the operator allows no such address (ferry serve --allow-bootstrap); name a configured cluster instead"}
		}
	}
	return cl, nil
}

// bootstrapAllowed reports whether addr matches one of the patterns
// "host:port" or "host:*", compared as written (no name is resolved).
func bootstrapAllowed(patterns []string, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	for _, p := range patterns {
		ph, pp, err := net.SplitHostPort(p)
		if err == nil && strings.EqualFold(ph, host) && (pp == "*" || pp == port) {
			return true
		}
	}
	return false
}

// namedCluster returns the configured cluster name, or a
// *connector.NotFoundError that lists the configured names.
func (s *Server) namedCluster(field, name string) (connector.Cluster, error) {
	if cl, ok := s.cfg.Clusters[name]; ok {
		cl.Name = name
		return cl, nil
	}
	names := make([]string, 0, len(s.cfg.Clusters))
	for n := range s.cfg.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return connector.Cluster{}, fmt.Errorf("%s: %w (configured: %s)", field, &connector.NotFoundError{Kind: "cluster", Name: name}, strings.Join(names, ", "))
}

// parallelismSpec checks a reader's or writer's index and parallelism
// (default 1, as a Flink operator's index i of N).
func parallelismSpec(p *int32, index int32, indexField string) (idx, n int, err error) {
	par := int32(1)
	if p != nil {
		par = *p
	}
	if par < 1 || par > MaxParallelism {
		return 0, 0, connector.Invalid("open.parallelism", "must be in 1..%d (Flink's maximum parallelism), got %d", MaxParallelism, par)
	}
	if index < 0 || index >= par {
		return 0, 0, connector.Invalid(indexField, "must be in [0, parallelism=%d), got %d", par, index)
	}
	return int(index), int(par), nil
}

// propertiesSpec parses the Kafka properties of a session for role: the
// operator's properties of the cluster (with the principal's own Kafka
// identity over them, when the operator gave it one), then the spec's. A
// spec may not change the security of a cluster whose security the operator
// configured; files the spec names must lie under Config.AllowedFileDirs.
// A bad key is named as open.spec.properties["key"].
func (s *Server) propertiesSpec(role kafkaconf.Role, cl connector.Cluster, principal string, props map[string]string) (*kafkaconf.Settings, error) {
	merged := make(map[string]string, len(cl.Properties)+len(props))
	operatorSecurity := false
	var operatorFiles []string
	for _, m := range []map[string]string{cl.Properties, cl.PrincipalProperties[principal]} {
		for k, v := range kafkaconf.ForRole(role, m) {
			merged[k] = v
			operatorSecurity = operatorSecurity || kafkaconf.IsSecurity(k)
			operatorFiles = append(operatorFiles, kafkaconf.ServerFiles(k, v)...)
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if operatorSecurity && kafkaconf.IsSecurity(k) {
			return nil, &connector.DeniedError{Principal: principal, Operation: "set", Resource: fmt.Sprintf("property %q of cluster %q (open.spec.properties)", k, cl.Name),
				Reason: "the operator's cluster config sets how ferry authenticates to this cluster"}
		}
		merged[k] = props[k]
	}
	st, err := kafkaconf.Parse(role, merged, kafkaconf.Files{Dirs: s.cfg.AllowedFileDirs, Paths: operatorFiles})
	if ie, ok := err.(*connector.InvalidError); ok {
		return nil, connector.Invalid("open.spec."+ie.Field, "%s", ie.Rule)
	}
	return st, err
}

// Bounds of what a client may name, each with its reason. They keep one
// request from costing much (a 1 MiB regular expression, a 1 MiB group id)
// and refuse values Kafka would refuse later, or with a worse message.
const (
	// maxTopicNameLen is Kafka's own limit on topic names.
	maxTopicNameLen = 249
	// MaxParallelism is Flink's maximum parallelism (2^15): a reader or
	// writer index beyond it cannot come from a Flink job's assignment.
	MaxParallelism = 32768
	// maxNameLen bounds group ids, client ids and transactional id
	// prefixes: they are keys in Kafka's internal topics and in broker
	// logs; longer ones are mistakes.
	maxNameLen = 255
	// maxPatternLen bounds a topic pattern, so that compiling it and
	// matching every topic against it stays cheap.
	maxPatternLen = 1024
	// maxHeadersPerRecord and maxHeaderKeyLen bound a record's headers;
	// values are bounded by the message size (Config.MaxRecvBytes) and
	// Kafka's max.request.size.
	maxHeadersPerRecord = 1024
	maxHeaderKeyLen     = 1024
)

// topicNameSpec checks a topic name by Kafka's rules (Topic.validate): 1 to
// 249 characters of [a-zA-Z0-9._-], neither "." nor "..". Checking here
// gives the client a message naming the field instead of Kafka's
// INVALID_TOPIC_EXCEPTION, and keeps names like "../etc passwd" out of
// ferry's logs and Kafka requests.
func topicNameSpec(field, topic string) error {
	switch {
	case topic == "":
		return connector.Invalid(field, "must not be empty")
	case len(topic) > maxTopicNameLen:
		return connector.Invalid(field, "is %d characters long; Kafka allows at most %d", len(topic), maxTopicNameLen)
	case topic == "." || topic == "..":
		return connector.Invalid(field, "%q is not a legal topic name", topic)
	}
	for _, r := range topic {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return connector.Invalid(field, "%q has a character Kafka does not allow in topic names (only ASCII letters, digits, '.', '_' and '-')", topic)
		}
	}
	return nil
}

// nameSpec checks a group id, client id or transactional id prefix: at most
// maxNameLen bytes, no control characters (they would forge log lines).
func nameSpec(field, name string) error {
	if len(name) > maxNameLen {
		return connector.Invalid(field, "is %d bytes long; at most %d", len(name), maxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return connector.Invalid(field, "must not contain control characters (found %U)", r)
		}
	}
	return nil
}

// positiveIDSpec checks a checkpoint id or batch sequence: ids start at 1,
// so 0 and negative values (often an unset or overflowed counter) are
// refused rather than taken as "before everything".
func positiveIDSpec(field string, id int64) error {
	if id <= 0 {
		return connector.Invalid(field, "must be > 0, got %d", id)
	}
	return nil
}

// topicPartitionSpec checks one (topic, partition) entry of a list at field:
// the topic is not empty and the partition is >= 0; with seen (the entries
// before it), it is not listed twice. It is the one rule for every list of
// partitions a client sends: partition sets, specific offsets, restore
// states and consumed offsets.
func topicPartitionSpec(field, topic string, partition int32, seen map[source.TopicPartition]bool) (source.TopicPartition, error) {
	tp := source.TopicPartition{Topic: topic, Partition: partition}
	if err := topicNameSpec(field+".topic", topic); err != nil {
		return tp, err
	}
	switch {
	case partition < 0:
		return tp, connector.Invalid(field+".partition", "must be >= 0, got %d", partition)
	case seen[tp]:
		return tp, connector.Invalid(field, "%s/%d is listed twice", topic, partition)
	}
	if seen != nil {
		seen[tp] = true
	}
	return tp, nil
}

// offsetSpec checks an offset a client sends: Kafka offsets are >= 0.
func offsetSpec(field string, offset int64) error {
	if offset < 0 {
		return connector.Invalid(field, "must be >= 0, got %d", offset)
	}
	return nil
}

// entryField names entry i of a list field.
func entryField(list string, i int) string { return fmt.Sprintf("%s[%d]", list, i) }

// jobSpec checks the JobCheckpoints of an open: a job and an operator name
// (the checkpoint store's names: no '/', no control characters), and no
// client-held restore state beside it (the job's stored checkpoints are
// the state). nil when the session keeps its state on the client.
func jobSpec(job *ferryv1.JobCheckpoints, clientRestore bool) (*ferryv1.JobCheckpoints, error) {
	if job == nil {
		return nil, nil
	}
	for _, f := range []struct{ field, name string }{{"open.job.job", job.GetJob()}, {"open.job.operator", job.GetOperator()}} {
		if f.name == "" {
			return nil, connector.Invalid(f.field, "is required")
		}
		if strings.Contains(f.name, "/") {
			return nil, connector.Invalid(f.field, "must not contain '/'")
		}
		if err := nameSpec(f.field, f.name); err != nil {
			return nil, err
		}
	}
	if clientRestore {
		return nil, connector.Invalid("open.restore", "must be absent with open.job: ferry keeps the job's state (use open.job.restore_latest)")
	}
	return job, nil
}
