package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"

	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
	"github.com/ferrykafka/ferry/server/authn"
	"github.com/ferrykafka/ferry/server/policy"
)

// This file checks what an authenticated principal may do (package policy)
// at the points where a session names a resource: at open for the cluster,
// the topics, the group and the transactional id prefix; later for every
// topic a sink's records name and every group a sink's consumed offsets
// name. The checks come after a spec is valid and before ferry talks to
// Kafka, so a denied client learns nothing about the cluster.

// SetPolicy replaces the policy that sessions opening from now on are
// checked against; open sessions keep the rights they were opened with. nil
// allows everything, for a server without authentication.
func (s *Server) SetPolicy(p *policy.Policy) { s.policy.Store(p) }

func (s *Server) check(principal string, op policy.Operation, resource string) error {
	return s.policy.Load().Check(principal, op, resource)
}

// clusterResource names a cluster for the policy: its configured name, or
// "" for servers a client named (which --allow-bootstrap governs).
func clusterResource(name string) string { return name }

// authorizeSource checks the cluster, every listed topic, the group and, for
// a pattern subscription, makes discovery see only readable topics.
func (s *Server) authorizeSource(principal string, cfg *source.Config) error {
	if cfg.Cluster.Name != "" {
		if err := s.check(principal, policy.UseCluster, clusterResource(cfg.Cluster.Name)); err != nil {
			return err
		}
	}
	for _, t := range cfg.Topics {
		if err := s.check(principal, policy.Read, t); err != nil {
			return err
		}
	}
	for _, tp := range cfg.Partitions {
		if err := s.check(principal, policy.Read, tp.Topic); err != nil {
			return err
		}
	}
	if cfg.GroupID != "" {
		if err := s.check(principal, policy.UseGroup, cfg.GroupID); err != nil {
			return err
		}
	}
	if cfg.Pattern != nil {
		// As Kafka's ACL-filtered metadata: a pattern never matches a
		// topic the principal may not read, now or when discovered later.
		cfg.TopicFilter = func(topic string) bool { return s.policy.Load().Allows(principal, policy.Read, topic) }
	}
	return nil
}

// authorizeSink checks the cluster, the default topic and, under
// EXACTLY_ONCE, the transactional id prefix: owning a prefix is what lets a
// writer commit, abort and fence the transactions under it.
func (s *Server) authorizeSink(principal string, cfg sink.Config) error {
	if cfg.Cluster.Name != "" {
		if err := s.check(principal, policy.UseCluster, clusterResource(cfg.Cluster.Name)); err != nil {
			return err
		}
	}
	if cfg.DefaultTopic != "" {
		if err := s.check(principal, policy.Write, cfg.DefaultTopic); err != nil {
			return err
		}
	}
	if cfg.Guarantee == sink.ExactlyOnce {
		if err := s.check(principal, policy.UseTransactionalIDPrefix, cfg.TransactionalIDPrefix); err != nil {
			return err
		}
	}
	return nil
}

// authorizeRecords checks the topic of every record of a batch, each topic
// once per session (writable remembers the allowed ones, at most
// maxRememberedTopics). Records without a topic go to the default topic,
// checked at open.
func (s *Server) authorizeRecords(principal string, writable map[string]bool, recs []*kgo.Record, seq int64) error {
	for i, r := range recs {
		if r.Topic == "" || writable[r.Topic] {
			continue
		}
		if err := s.check(principal, policy.Write, r.Topic); err != nil {
			return fmt.Errorf("records.records[%d] (batch sequence %d): %w", i, seq, err)
		}
		if len(writable) < maxRememberedTopics {
			writable[r.Topic] = true
		}
	}
	return nil
}

// maxRememberedTopics bounds the topics a sink session remembers as
// writable; past it, further topics are checked for every record.
const maxRememberedTopics = 1024

// principalOf is the authenticated principal of a call, or "" when the
// server authenticates nobody.
func principalOf(ctx context.Context) string {
	p, _ := authn.FromContext(ctx)
	return p.Name
}

// adminServices are the operator's services: only admin principals may call
// them (server reflection describes every service, so it follows the
// policy too).
var adminServices = []string{"ferry.v1.AdminService", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}

func isAdminMethod(fullMethod string) bool {
	for _, svc := range adminServices {
		if strings.HasPrefix(fullMethod, "/"+svc+"/") {
			return true
		}
	}
	return false
}

// adminOnlyUnary and adminOnlyStream refuse the admin services to principals
// the policy does not make admin. They run after authentication.
func (s *Server) adminOnlyUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if isAdminMethod(info.FullMethod) {
		if err := s.check(principalOf(ctx), policy.Administer, info.FullMethod); err != nil {
			return nil, toStatus(err)
		}
	}
	return next(ctx, req)
}

func (s *Server) adminOnlyStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if isAdminMethod(info.FullMethod) {
		if err := s.check(principalOf(ss.Context()), policy.Administer, info.FullMethod); err != nil {
			return toStatus(err)
		}
	}
	return next(srv, ss)
}
