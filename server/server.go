// Package server is ferry's gRPC front: the SourceService and SinkService
// handlers, health, reflection, and the interceptors that log every call and
// turn a panic into INTERNAL while the server keeps serving.
//
// Handlers stay thin: they validate a request, delegate to package sessions
// and map errors onto status codes (see toStatus).
package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server/authn"
	"github.com/ferrykafka/ferry/server/policy"
	"github.com/ferrykafka/ferry/server/telemetry"
	"github.com/ferrykafka/ferry/sessions"
)

// Config configures a Server.
type Config struct {
	// Clusters by name; "default" is used by specs that name no cluster and
	// is the one the health check watches. Required.
	Clusters map[string]connector.Cluster
	// MaxSessions bounds the open sessions; 0 means DefaultMaxSessions.
	// Opens beyond it fail with RESOURCE_EXHAUSTED.
	MaxSessions int
	// MaxRecvBytes bounds one client message; 0 means DefaultMaxRecvBytes.
	// Larger messages fail with RESOURCE_EXHAUSTED.
	MaxRecvBytes int
	// HealthInterval is how often Kafka reachability is checked; 0 means
	// DefaultHealthInterval. Each check waits for an answer as long as the
	// interval, and at least minHealthTimeout, so that a busy machine does
	// not flap the status.
	HealthInterval time.Duration
	// AllowedBootstrap lists the Kafka addresses a client may name in a
	// spec's cluster.bootstrap_servers, as "host:port" or "host:*"; every
	// server of a spec must match one. Empty (the default) refuses every
	// client-given address: clients name configured clusters, so that no
	// client makes ferry connect to a host the operator did not allow.
	AllowedBootstrap []string
	// AllowedFileDirs are the directories whose files a client's properties
	// may name (ssl.truststore.location, ...). Empty (the default) refuses
	// every client-given path; see kafkaconf.Files.
	AllowedFileDirs []string
	// Authenticator authenticates clients (TLS, mTLS, tokens, JWT) and
	// gives each call its principal; nil (the default) authenticates nobody
	// and every client may do everything, which cmd/ferry allows on
	// loopback only.
	Authenticator *authn.Authenticator
	// Policy is what each principal may do; nil allows everything. Replace
	// it while serving with SetPolicy.
	Policy *policy.Policy
	// KeepaliveTime is how long a connection may be silent before ferry
	// pings it, and KeepaliveTimeout how long ferry then waits for the
	// answer before it closes the connection, ending its streams and
	// closing their sessions: a client whose network vanished loses its
	// sessions within their sum. 0 means DefaultKeepaliveTime and
	// DefaultKeepaliveTimeout; gRPC raises a KeepaliveTime under 1 s to 1 s.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// OpenTimeout is how long a stream may take to send open; later, it
	// fails with DEADLINE_EXCEEDED. 0 means DefaultOpenTimeout.
	OpenTimeout time.Duration
	// MaxPendingStreams bounds the streams that have not sent open yet;
	// beyond it new streams fail at once with RESOURCE_EXHAUSTED. 0 means
	// DefaultMaxPendingStreams.
	MaxPendingStreams int
	// MaxConcurrentStreams bounds the streams of one connection; further
	// streams wait in the client. 0 means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
	// MaxConnections bounds the client connections the server holds; a
	// connection beyond it is closed as soon as it is accepted (the client
	// sees UNAVAILABLE). 0 means DefaultMaxConnections.
	MaxConnections int
	// MaxConnectionIdle is how long a connection may stay without streams
	// before ferry closes it (GOAWAY; a gRPC client reconnects when it next
	// needs the connection). 0 means DefaultMaxConnectionIdle.
	MaxConnectionIdle time.Duration
	// MemoryBudget bounds, in bytes, the memory all open sessions reserve:
	// a source its prefetch.max.bytes, a sink its buffer.memory. An open
	// beyond it fails with RESOURCE_EXHAUSTED. 0 means DefaultMemoryBudget.
	MemoryBudget int64
	// MaxSessionsPerPrincipal bounds the open sessions of one principal, or
	// of one connection when ferry authenticates nobody; beyond it opens
	// fail with RESOURCE_EXHAUSTED. 0 means DefaultMaxSessionsPerPrincipal.
	MaxSessionsPerPrincipal int
	// CheckpointTopic is the compacted topic, in each cluster, where ferry
	// keeps the checkpoints of JobCheckpoints sessions; "" means
	// "__ferry_checkpoints".
	CheckpointTopic string
	// CheckpointRetain is how many completed checkpoints of a job are kept;
	// 0 means 3 (older ones are removed with tombstones).
	CheckpointRetain int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Telemetry are the providers of ferry's metrics and traces (see
	// package telemetry); nil records nothing.
	Telemetry *telemetry.Providers
}

// The defaults of Config, with their reasons.
const (
	// DefaultMaxSessions bounds open sessions so that clients cannot open
	// Kafka clients without limit; each session holds at most its prefetch
	// budget or its buffer.memory.
	DefaultMaxSessions = 1024
	// DefaultMaxRecvBytes is 16 MiB: four times gRPC's default, so that a
	// client's write batch of 8 MiB (the Python facade's cut) and a few
	// large records fit, while one message cannot take much memory.
	DefaultMaxRecvBytes = 16 << 20
	// DefaultHealthInterval is how often the default cluster is pinged.
	DefaultHealthInterval = 5 * time.Second
	// minHealthTimeout is the least time a health check waits for Kafka: a
	// loaded machine must not flap the status to NOT_SERVING.
	minHealthTimeout = 3 * time.Second
)

// Server serves ferry's API.
type Server struct {
	ferryv1.UnimplementedSourceServiceServer
	ferryv1.UnimplementedSinkServiceServer

	cfg         Config
	log         *slog.Logger
	grpc        *grpc.Server
	health      *health.Server
	registry    *sessions.Registry
	jobs        jobStores                     // the checkpoint stores of JobCheckpoints, by cluster
	live        liveSessions                  // the admin view of the open sessions
	policy      atomic.Pointer[policy.Policy] // nil allows everything
	pending     atomic.Int64                  // streams that have not sent open yet
	connections atomic.Int64                  // client connections open (connections.go)
	tel         *telemetry.Providers          // never nil
	metrics     *telemetry.Metrics            // nil when metrics are off

	stopping     chan struct{} // closed when Shutdown begins
	stopOnce     sync.Once
	healthCancel context.CancelFunc
	healthDone   chan struct{}
}

// New returns a server for cfg. It returns an error when cfg has no default
// cluster.
func New(cfg Config) (*Server, error) {
	if _, ok := cfg.Clusters["default"]; !ok {
		return nil, fmt.Errorf("server: Config.Clusters needs a \"default\" cluster")
	}
	for name, cl := range cfg.Clusters {
		if err := checkClusterProperties(cl); err != nil {
			return nil, fmt.Errorf("server: cluster %q: %w", name, err)
		}
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxRecvBytes == 0 {
		cfg.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if err := limitDefaults(&cfg); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tel := cfg.Telemetry
	if tel == nil {
		tel = telemetry.Disabled()
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		health: health.NewServer(),
		registry: sessions.NewRegistry(sessions.Limits{MaxSessions: cfg.MaxSessions,
			MaxPerOwner: cfg.MaxSessionsPerPrincipal, MemoryBudget: cfg.MemoryBudget}),
		stopping: make(chan struct{}),
		tel:      tel,
	}
	s.policy.Store(cfg.Policy)
	if err := s.startMetrics(); err != nil {
		return nil, err
	}
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.StartCall, logging.FinishCall)}
	recoverOpts := []recovery.Option{recovery.WithRecoveryHandlerContext(s.recovered)}
	unary := []grpc.UnaryServerInterceptor{
		logging.UnaryServerInterceptor(slogAdapter(s.log), logOpts...),
		recovery.UnaryServerInterceptor(recoverOpts...),
	}
	stream := []grpc.StreamServerInterceptor{
		logging.StreamServerInterceptor(slogAdapter(s.log), logOpts...),
		recovery.StreamServerInterceptor(recoverOpts...),
		decodeStreams,
	}
	var serverOpts []grpc.ServerOption
	if cfg.Telemetry != nil {
		// gRPC's server metrics and spans, and the client's trace context.
		serverOpts = append(serverOpts, grpc.StatsHandler(tel.GRPCServerHandler()))
	}
	if a := cfg.Authenticator; a != nil {
		unary = append(unary, a.UnaryServerInterceptor(), s.adminOnlyUnary)
		stream = append(stream, a.StreamServerInterceptor(), s.adminOnlyStream)
		if tc := a.TLSConfig(); tc != nil {
			serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(tc)))
		}
	}
	// After authentication, which gives the principal sessions count
	// against.
	stream = append(stream, s.limitStream)
	serverOpts = append(serverOpts, limitOptions(cfg)...)
	serverOpts = append(serverOpts, transportOptions()...) // wire.go
	s.grpc = grpc.NewServer(append(serverOpts,
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)...)
	ferryv1.RegisterSourceServiceServer(s.grpc, s)
	ferryv1.RegisterSinkServiceServer(s.grpc, s)
	ferryv1.RegisterAdminServiceServer(s.grpc, adminServer{srv: s})
	ferryv1.RegisterCheckpointServiceServer(s.grpc, checkpointServer{srv: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.setServing(healthpb.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

// checkClusterProperties parses the operator's properties of a cluster, and
// of each principal's identity over them, for both roles, so that a bad key
// fails at start, not at a client's open.
func checkClusterProperties(cl connector.Cluster) error {
	for principal, over := range cl.PrincipalProperties {
		merged := maps.Clone(cl.Properties)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, over)
		if err := parseBoth(merged); err != nil {
			return fmt.Errorf("properties of principal %q: %w", principal, err)
		}
	}
	return parseBoth(cl.Properties)
}

func parseBoth(props map[string]string) error {
	for _, role := range []kafkaconf.Role{kafkaconf.Consumer, kafkaconf.Producer} {
		if _, err := kafkaconf.Parse(role, kafkaconf.ForRole(role, props), kafkaconf.Files{Any: true}); err != nil {
			return err
		}
	}
	return nil
}

// Serve starts the health checker and serves on lis until Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.healthCancel, s.healthDone = cancel, make(chan struct{})
	go s.watchKafka(ctx)
	return s.grpc.Serve(s.limitConnections(lis))
}

// Shutdown ends open sessions with UNAVAILABLE, waits for their handlers to
// return and stops the server. When ctx ends first, connections are closed
// at once.
func (s *Server) Shutdown(ctx context.Context) {
	s.stopOnce.Do(func() {
		if s.metrics != nil {
			_ = s.metrics.Close()
		}
		s.health.Shutdown()
		close(s.stopping)
		if s.healthCancel != nil {
			s.healthCancel()
			<-s.healthDone
		}
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
		}
		s.closeJobStores()
	})
}

func (s *Server) recovered(ctx context.Context, p any) error {
	s.log.ErrorContext(ctx, "panic in handler; the call fails with INTERNAL and the server keeps serving",
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error in ferry (logged on the server)")
}

func (s *Server) setServing(st healthpb.HealthCheckResponse_ServingStatus) {
	for _, name := range []string{"", ferryv1.SourceService_ServiceDesc.ServiceName, ferryv1.SinkService_ServiceDesc.ServiceName} {
		s.health.SetServingStatus(name, st)
	}
}

// watchKafka reports SERVING while the default cluster answers, and logs
// each change of state once.
func (s *Server) watchKafka(ctx context.Context) {
	defer close(s.healthDone)
	cluster := s.cfg.Clusters["default"]
	// The operator's properties were checked in New.
	st, _ := kafkaconf.Parse(kafkaconf.Consumer, kafkaconf.ForRole(kafkaconf.Consumer, cluster.Properties), kafkaconf.Files{Any: true})
	opts := st.ClientOpts(cluster, "ferry-health")
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if err := cluster.Ping(ctx, max(s.cfg.HealthInterval, minHealthTimeout), opts...); err != nil {
			if ctx.Err() != nil {
				return
			}
			st = healthpb.HealthCheckResponse_NOT_SERVING
			if st != last {
				s.log.Warn("kafka unreachable; health is NOT_SERVING", "err", err)
			}
		} else if st != last {
			s.log.Info("kafka reachable; health is SERVING", "bootstrap", cluster.BootstrapServers)
		}
		if st != last {
			s.setServing(st)
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.HealthInterval):
		}
	}
}

func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}
