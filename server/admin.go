package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// This file is the operator's view: the live sessions of this server and
// the AdminService that lists them (admin principals only, see
// adminServices in access.go).

// lagTimeout bounds the Kafka requests one ListSessions makes per source
// session (end and committed offsets), so that an unreachable cluster does
// not hold the call.
const lagTimeout = 5 * time.Second

// liveSession is what the admin view knows of one open session.
type liveSession struct {
	info   *ferryv1.SessionInfo // the fields that do not change
	opened time.Time
	source *sessions.Source // one of source and sink is set
	sink   *sessions.Sink
	// txnPrefix is an EXACTLY_ONCE sink's transactional id prefix, for
	// the metrics.
	txnPrefix string
}

// liveSessions are the sessions open on this server, by id.
type liveSessions struct {
	mu   sync.Mutex
	byID map[string]*liveSession
}

func (l *liveSessions) add(id string, s *liveSession) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = make(map[string]*liveSession)
	}
	l.byID[id] = s
	return func() {
		l.mu.Lock()
		delete(l.byID, id)
		l.mu.Unlock()
	}
}

// list returns the live sessions, oldest first.
func (l *liveSessions) list() []*liveSession {
	l.mu.Lock()
	out := make([]*liveSession, 0, len(l.byID))
	for _, s := range l.byID {
		out = append(out, s)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].opened.Equal(out[j].opened) {
			return out[i].opened.Before(out[j].opened)
		}
		return out[i].info.GetSessionId() < out[j].info.GetSessionId()
	})
	return out
}

// clusterName names a cluster for operators: its configured name, or the
// servers a client named.
func clusterName(c connector.Cluster) string {
	if c.Name != "" {
		return c.Name
	}
	return strings.Join(c.BootstrapServers, ",")
}

// clientAddress is the caller's address as ferry sees it.
func clientAddress(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// subscription says what a source reads, for operators.
func subscription(cfg source.Config) string {
	switch {
	case cfg.Pattern != nil:
		return "pattern " + strings.TrimSuffix(strings.TrimPrefix(cfg.Pattern.String(), "^(?:"), ")$")
	case len(cfg.Partitions) > 0:
		parts := make([]string, len(cfg.Partitions))
		for i, tp := range cfg.Partitions {
			parts[i] = fmt.Sprintf("%s/%d", tp.Topic, tp.Partition)
		}
		return "partitions " + strings.Join(parts, ",")
	}
	return "topics " + strings.Join(cfg.Topics, ",")
}

// registerSource adds an open source session to the admin view; the
// returned function removes it.
func (s *Server) registerSource(ctx context.Context, principal string, cfg source.Config, sess *sessions.Source) func() {
	return s.live.add(sess.ID, &liveSession{opened: time.Now(), source: sess, info: &ferryv1.SessionInfo{
		SessionId: sess.ID, Kind: ferryv1.SessionKind_SESSION_KIND_SOURCE, Principal: principal,
		ClientAddress: clientAddress(ctx), Cluster: clusterName(cfg.Cluster), Subscription: subscription(cfg), GroupId: cfg.GroupID,
	}})
}

// registerSink adds an open sink session to the admin view; the returned
// function removes it.
func (s *Server) registerSink(ctx context.Context, principal string, cfg sink.Config, sess *sessions.Sink) func() {
	g := ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_NONE
	switch cfg.Guarantee {
	case sink.AtLeastOnce:
		g = ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE
	case sink.ExactlyOnce:
		g = ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE
	}
	sub := ""
	if cfg.DefaultTopic != "" {
		sub = "default topic " + cfg.DefaultTopic
	}
	return s.live.add(sess.ID, &liveSession{opened: time.Now(), sink: sess, txnPrefix: cfg.TransactionalIDPrefix, info: &ferryv1.SessionInfo{
		SessionId: sess.ID, Kind: ferryv1.SessionKind_SESSION_KIND_SINK, Principal: principal,
		ClientAddress: clientAddress(ctx), Cluster: clusterName(cfg.Cluster), Subscription: sub, DeliveryGuarantee: g,
	}})
}

// describe fills the changing fields of a session's info: positions, lag,
// the last checkpoint and open transactions.
func (l *liveSession) describe(ctx context.Context, now time.Time) *ferryv1.SessionInfo {
	info := proto.Clone(l.info).(*ferryv1.SessionInfo)
	info.OpenedAtMs = l.opened.UnixMilli()
	var mark sessions.CheckpointMark
	switch {
	case l.source != nil:
		lctx, cancel := context.WithTimeout(ctx, lagTimeout)
		lags, err := l.source.Lag(lctx)
		cancel()
		if err != nil {
			info.Error = err.Error()
		}
		for _, sp := range lags {
			si := &ferryv1.SplitInfo{Topic: sp.Topic, Partition: sp.Partition, CurrentOffset: sp.Next, EndOffset: sp.End}
			if sp.End >= 0 {
				si.Lag = max(sp.End-sp.Next, 0)
			}
			if sp.Committed >= 0 {
				c := sp.Committed
				si.CommittedOffset = &c
			}
			info.Splits = append(info.Splits, si)
		}
		mark = l.source.View().Checkpoint
	case l.sink != nil:
		v := l.sink.View()
		mark = v.Checkpoint
		info.OpenTransactionalIds = v.TransactionalIDs
	}
	if mark.ID != 0 {
		info.LastCheckpointId = mark.ID
		info.LastCheckpointAgeMs = now.Sub(mark.At).Milliseconds()
	}
	return info
}

// adminServer serves ferry.v1.AdminService.
type adminServer struct {
	ferryv1.UnimplementedAdminServiceServer
	srv *Server
}

// ListSessions lists the live sessions; see the proto.
func (a adminServer) ListSessions(ctx context.Context, _ *ferryv1.ListSessionsRequest) (*ferryv1.ListSessionsResponse, error) {
	now := time.Now()
	live := a.srv.live.list()
	out := &ferryv1.ListSessionsResponse{Sessions: make([]*ferryv1.SessionInfo, len(live))}
	var wg sync.WaitGroup
	for i, l := range live {
		wg.Add(1)
		go func() { // sessions' Kafka requests in parallel
			defer wg.Done()
			out.Sessions[i] = l.describe(ctx, now)
		}()
	}
	wg.Wait()
	return out, nil
}
