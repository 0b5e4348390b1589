package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/sessions"
)

// This file bounds what clients can hold on the server, so that none can
// take it down (DESIGN: "every session, pending stream and buffer counts
// against a limit, and a client that vanishes loses its sessions within a
// bound"):
//   - keepalive: a connection that stops answering pings is closed, which
//     ends its streams and so closes their sessions;
//   - a stream must send open within OpenTimeout, and at most
//     MaxPendingStreams streams may wait for it at once;
//   - one connection carries at most MaxConcurrentStreams streams;
//   - the server holds at most MaxConnections connections (connections.go),
//     each must finish its handshake within OpenTimeout, and one without
//     streams for MaxConnectionIdle is closed;
//   - the registry bounds sessions per owner and the memory all sessions
//     reserve (see sessions.Limits).

// The defaults of the limits in Config, with their reasons.
const (
	// DefaultKeepaliveTime is how long a connection may be silent before
	// ferry pings it: 15 s, so that with DefaultKeepaliveTimeout a client
	// whose network vanished loses its connection, and with it its
	// sessions, within 25 s, well inside the 30 s ferry promises; a live
	// client answers a ping from its gRPC library without any code.
	DefaultKeepaliveTime = 15 * time.Second
	// DefaultKeepaliveTimeout is how long ferry waits for the answer to a
	// ping before it closes the connection: 10 s tolerates a loaded client
	// or network (pings travel at the head of the queue).
	DefaultKeepaliveTimeout = 10 * time.Second
	// KeepaliveMinClientInterval is how often a client may ping ferry:
	// every 10 s, the least keepalive time grpc-go and grpc-java clients
	// allow, so that a client's own keepalive is never punished, while a
	// client pinging faster (a cheap flood) has its connection closed
	// (GOAWAY too_many_pings). Clients may ping without open streams, to
	// keep an idle connection alive.
	KeepaliveMinClientInterval = 10 * time.Second
	// DefaultOpenTimeout is how long a stream may wait before sending open:
	// 10 s, far longer than any client takes to send its first message,
	// short enough that streams that never open do not pile up.
	DefaultOpenTimeout = 10 * time.Second
	// DefaultMaxPendingStreams bounds streams that have not sent open yet:
	// 256, more than the opens any number of honest clients have in flight
	// at once, while each costs little (a few KiB and two goroutines).
	DefaultMaxPendingStreams = 256
	// DefaultMaxConcurrentStreams bounds the streams of one connection: 64
	// sessions is more than one program needs (a Flink job's readers and
	// writers of one task manager), and a client needing more opens another
	// connection. Further streams wait in the client until one ends.
	DefaultMaxConcurrentStreams = 64
	// DefaultMaxConnections bounds the client connections: 1024, one for
	// each of DefaultMaxSessions, far below the file descriptors a process
	// gets (Go raises its soft limit to the hard one, commonly 2^20), and
	// within memory: an active connection takes up to 512 KiB of read
	// buffer and, while it sends, a 512 KiB write buffer.
	DefaultMaxConnections = 1024
	// DefaultMaxConnectionIdle is how long a connection may stay without
	// streams: 5 minutes, long enough that a client between sessions keeps
	// its connection, short enough that connections left open (or opened
	// and never used) give their slots back.
	DefaultMaxConnectionIdle = 5 * time.Minute
	// DefaultMemoryBudget is the memory all sessions together may reserve:
	// 1 GiB fits a small machine (a 2 GiB container, with room for gRPC's
	// buffers and the Go runtime) and holds 16 sources at the default
	// prefetch.max.bytes (64 MiB) or 32 sinks at the default buffer.memory
	// (32 MiB); sessions with smaller settings fit more.
	DefaultMemoryBudget = 1 << 30
	// DefaultMaxSessionsPerPrincipal bounds the sessions of one principal,
	// or of one connection when ferry authenticates nobody: 64, so that one
	// client cannot take every session slot of a shared server (there are
	// DefaultMaxSessions).
	DefaultMaxSessionsPerPrincipal = 64
)

// limitDefaults fills the limits of cfg left zero with their defaults and
// refuses negative ones.
func limitDefaults(cfg *Config) error {
	return errors.Join(
		defaultLimit("KeepaliveTime", &cfg.KeepaliveTime, DefaultKeepaliveTime),
		defaultLimit("KeepaliveTimeout", &cfg.KeepaliveTimeout, DefaultKeepaliveTimeout),
		defaultLimit("OpenTimeout", &cfg.OpenTimeout, DefaultOpenTimeout),
		defaultLimit("MaxPendingStreams", &cfg.MaxPendingStreams, DefaultMaxPendingStreams),
		defaultLimit("MaxConcurrentStreams", &cfg.MaxConcurrentStreams, DefaultMaxConcurrentStreams),
		defaultLimit("MaxConnections", &cfg.MaxConnections, DefaultMaxConnections),
		defaultLimit("MaxConnectionIdle", &cfg.MaxConnectionIdle, DefaultMaxConnectionIdle),
		defaultLimit("MaxSessionsPerPrincipal", &cfg.MaxSessionsPerPrincipal, DefaultMaxSessionsPerPrincipal),
		defaultLimit("MemoryBudget", &cfg.MemoryBudget, DefaultMemoryBudget),
	)
}

// defaultLimit sets *v to def when it is zero; a negative *v is an error
// naming the field.
func defaultLimit[T int | int64 | time.Duration](field string, v *T, def T) error {
	if *v < 0 {
		return fmt.Errorf("server: Config.%s is negative (%v)", field, *v)
	}
	if *v == 0 {
		*v = def
	}
	return nil
}

// limitOptions are the gRPC server options of the limits: keepalive with
// its enforcement, idle connections closed, the connection's handshake
// (TLS and HTTP/2) within the open timeout, and the streams per connection.
func limitOptions(cfg Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.KeepaliveTime, Timeout: cfg.KeepaliveTimeout,
			MaxConnectionIdle: cfg.MaxConnectionIdle}),
		grpc.ConnectionTimeout(cfg.OpenTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinClientInterval, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxConcurrentStreams)),
	}
}

// Usage is what clients hold on the server now.
type Usage struct {
	sessions.Usage
	// PendingStreams are the streams that have not sent open yet.
	PendingStreams int
	// Connections are the client connections open.
	Connections int
}

// Usage returns what clients hold on the server now: open sessions, their
// reserved memory, the streams waiting for open and the connections.
func (s *Server) Usage() Usage {
	return Usage{Usage: s.registry.Usage(), PendingStreams: int(s.pending.Load()), Connections: int(s.connections.Load())}
}

// isSessionMethod reports whether a method is one of ferry's session
// streams, whose first message must be open.
func isSessionMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+ferryv1.SourceService_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(fullMethod, "/"+ferryv1.SinkService_ServiceDesc.ServiceName+"/")
}

// limitStream is the stream interceptor of the limits on session streams;
// it runs after authentication. It counts the stream as pending until its
// first message arrives: beyond MaxPendingStreams the stream fails at once
// with RESOURCE_EXHAUSTED, and a first message later than OpenTimeout fails
// it with DEADLINE_EXCEEDED. It puts the owner of the stream's session into
// the context (its principal, or its connection without authentication).
func (s *Server) limitStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if !isSessionMethod(info.FullMethod) {
		return next(srv, ss)
	}
	if !s.admitPending() {
		err := status.Errorf(codes.ResourceExhausted,
			"too many streams waiting for open: the limit of %d is reached (ferry serve --max-pending-streams); send open as the first message, at once",
			s.cfg.MaxPendingStreams)
		s.openRefused(ss.Context(), sessionKind(info.FullMethod), err)
		return err
	}
	ctx := sessions.WithOwner(ss.Context(), ownerOf(ss.Context()))
	ps := &pendingStream{ServerStream: ss, ctx: ctx, srv: s}
	defer ps.opened()
	return next(srv, ps)
}

// ownerOf is who a call's sessions count against: its principal, or its
// connection (the client's address) when ferry authenticates nobody.
func ownerOf(ctx context.Context) sessions.Owner {
	if p := principalOf(ctx); p != "" {
		return sessions.Owner(fmt.Sprintf("principal %q", p))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return sessions.Owner("connection " + p.Addr.String())
	}
	return ""
}

// pendingStream carries the context with the owner of the stream's session,
// waits at most OpenTimeout for the first message and stops counting as
// pending when it arrives, or when the handler returns.
type pendingStream struct {
	grpc.ServerStream
	ctx     context.Context
	srv     *Server
	done    atomic.Bool // no longer counted as pending
	started bool        // RecvMsg was called (the first call is the handler's)
}

func (p *pendingStream) Context() context.Context { return p.ctx }

// opened stops counting the stream as pending; only the first call counts.
func (p *pendingStream) opened() {
	if p.done.CompareAndSwap(false, true) {
		p.srv.pending.Add(-1)
	}
}

// RecvMsg receives the first message with the open deadline, the others as
// gRPC does. A first message that does not arrive in time fails the stream
// with DEADLINE_EXCEEDED naming the deadline, a shutdown at once with
// UNAVAILABLE; the receive left behind ends with the stream.
func (p *pendingStream) RecvMsg(m any) error {
	if p.started {
		return p.ServerStream.RecvMsg(m)
	}
	p.started = true
	defer p.opened()
	got := make(chan error, 1)
	go func() { got <- p.ServerStream.RecvMsg(m) }()
	timer := time.NewTimer(p.srv.cfg.OpenTimeout)
	defer timer.Stop()
	select {
	case err := <-got:
		return err
	case <-p.srv.stopping:
		return errShuttingDown
	case <-timer.C:
		return status.Errorf(codes.DeadlineExceeded,
			"no open within the open deadline of %s (ferry serve --open-timeout): the first message of a stream must be open, sent at once",
			p.srv.cfg.OpenTimeout)
	}
}

// admitPending counts one more stream waiting for open unless the limit is
// reached.
func (s *Server) admitPending() bool {
	return admit(&s.pending, int64(s.cfg.MaxPendingStreams))
}

// admit adds one to n unless n is at limit. The count never goes past the
// limit, not even for a moment, so that Usage never reports more than is
// allowed.
func admit(n *atomic.Int64, limit int64) bool {
	for {
		v := n.Load()
		if v >= limit {
			return false
		}
		if n.CompareAndSwap(v, v+1) {
			return true
		}
	}
}
