package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// These tests run the limits against kfake; test/integration/limits_test.go
// runs them against a real broker, with keepalive through a proxy.

// waitUsage polls the server until ok holds, failing after 10 s.
func waitUsage(t *testing.T, srv *Server, what string, ok func(Usage) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(srv.Usage()) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: usage is %+v", what, srv.Usage())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, target string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// openSource opens a source on topic t with properties and returns the
// stream and the status of the open (nil when opened).
func openSource(t *testing.T, conn *grpc.ClientConn, props map[string]string) (ferryv1.SourceService_ReadClient, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{"t"}}, Properties: props,
	}}}}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err == nil && r.GetOpened() == nil {
		t.Fatalf("first answer %v, want opened", r)
	}
	return stream, err
}

func wantStatus(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("status %v, want %v", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Fatalf("message %q does not say %q", st.Message(), p)
		}
	}
}

func TestStreamWithoutOpenEndsAtTheOpenDeadline(t *testing.T) {
	srv, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) { c.OpenTimeout = 300 * time.Millisecond }, nil)
	for _, start := range []func(context.Context) (grpc.ClientStream, error){
		func(ctx context.Context) (grpc.ClientStream, error) {
			return ferryv1.NewSourceServiceClient(conn).Read(ctx)
		},
		func(ctx context.Context) (grpc.ClientStream, error) {
			return ferryv1.NewSinkServiceClient(conn).Write(ctx)
		},
	} {
		began := time.Now()
		stream, err := start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = stream.RecvMsg(new(ferryv1.ReadResponse))
		wantStatus(t, err, codes.DeadlineExceeded, "open deadline of 300ms", "--open-timeout")
		if d := time.Since(began); d < 300*time.Millisecond || d > 5*time.Second {
			t.Fatalf("the stream ended after %s, want the deadline of 300ms", d)
		}
		waitUsage(t, srv, "no pending stream", func(u Usage) bool { return u.PendingStreams == 0 })
	}
}

func TestPendingStreamsAreBounded(t *testing.T) {
	srv, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) { c.MaxPendingStreams = 3 }, nil)
	waitServing(t, conn)
	var pending []ferryv1.SourceService_ReadClient
	for i := 0; i < 3; i++ {
		s, err := ferryv1.NewSourceServiceClient(conn).Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, s)
	}
	waitUsage(t, srv, "3 pending streams", func(u Usage) bool { return u.PendingStreams == 3 })
	over, err := ferryv1.NewSinkServiceClient(conn).Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = over.Recv()
	wantStatus(t, err, codes.ResourceExhausted, "waiting for open", "limit of 3", "--max-pending-streams")
	// An open frees its pending slot: the session is counted as a session.
	if err := pending[0].Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{"t"}},
	}}}}); err != nil {
		t.Fatal(err)
	}
	if r, err := pending[0].Recv(); err != nil || r.GetOpened() == nil {
		t.Fatalf("open: %v %v", r, err)
	}
	if u := srv.Usage(); u.PendingStreams != 2 || u.Sessions != 1 {
		t.Fatalf("after one open: %+v", u)
	}
	if _, err := openSource(t, conn, nil); err != nil {
		t.Fatalf("an open with a free pending slot: %v", err)
	}
}

func TestStreamsPerConnectionAreBounded(t *testing.T) {
	srv, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) { c.MaxConcurrentStreams = 2 }, nil)
	for i := 0; i < 2; i++ {
		if _, err := ferryv1.NewSourceServiceClient(conn).Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitUsage(t, srv, "2 pending streams", func(u Usage) bool { return u.PendingStreams == 2 })
	// The third stream of the connection waits in the client for a free
	// stream; its deadline passes first.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	third, err := ferryv1.NewSourceServiceClient(conn).Read(ctx)
	if err == nil {
		_, err = third.Recv()
	}
	wantStatus(t, err, codes.DeadlineExceeded)
	if n := srv.Usage().PendingStreams; n != 2 {
		t.Fatalf("the server has %d streams, want 2", n)
	}
	// Another connection is not limited by the first.
	if _, err := openSource(t, dial(t, conn.Target()), nil); err != nil {
		t.Fatalf("a stream on another connection: %v", err)
	}
}

func TestMemoryBudgetRefusesAnOpenThatDoesNotFit(t *testing.T) {
	srv, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) { c.MemoryBudget = 256 << 10 }, nil)
	waitServing(t, conn)
	small := map[string]string{"prefetch.max.bytes": "65536"}
	var open []ferryv1.SourceService_ReadClient
	for i := 0; i < 4; i++ {
		s, err := openSource(t, conn, small)
		if err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
		open = append(open, s)
	}
	_, err := openSource(t, conn, small)
	wantStatus(t, err, codes.ResourceExhausted, "memory budget 256 KiB: 256 KiB in use by 4 sessions, this session needs 64 KiB (its prefetch.max.bytes)")
	// A default sink (32 MiB of buffer.memory) does not fit either.
	w, err := ferryv1.NewSinkServiceClient(conn).Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Open{Open: &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: "t"}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = w.Recv()
	wantStatus(t, err, codes.ResourceExhausted, "this session needs 32 MiB (its buffer.memory)")
	// Closing a session gives its memory back.
	if err := open[0].Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Close{Close: &ferryv1.Close{}}}); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, srv, "3 sessions", func(u Usage) bool { return u.Sessions == 3 && u.MemoryInUse == 3*65536 })
	if _, err := openSource(t, conn, small); err != nil {
		t.Fatalf("an open after a close: %v", err)
	}
}

func TestSessionsPerConnectionWithoutAuthentication(t *testing.T) {
	_, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) { c.MaxSessionsPerPrincipal = 2 }, nil)
	waitServing(t, conn)
	for i := 0; i < 2; i++ {
		if _, err := openSource(t, conn, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := openSource(t, conn, nil)
	wantStatus(t, err, codes.ResourceExhausted, "connection 127.0.0.1:", "has 2 open sessions")
	if _, err := openSource(t, dial(t, conn.Target()), nil); err != nil {
		t.Fatalf("another connection: %v", err)
	}
}

func TestNegativeLimitsAreRefused(t *testing.T) {
	for _, cfg := range []Config{{OpenTimeout: -1}, {MaxPendingStreams: -1}, {MemoryBudget: -1}, {KeepaliveTime: -time.Second}} {
		cfg.Clusters = map[string]connector.Cluster{"default": {BootstrapServers: []string{"127.0.0.1:9"}}}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("New(%+v) = %v, want an error saying negative", cfg, err)
		}
	}
}

func TestShutdownEndsStreamsWaitingForOpenAtOnce(t *testing.T) {
	srv, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) { c.OpenTimeout = time.Minute }, nil)
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitUsage(t, srv, "a pending stream", func(u Usage) bool { return u.PendingStreams == 1 })
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	_, err = stream.Recv()
	wantStatus(t, err, codes.Unavailable, "shutting down")
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("shutdown took %s with a stream waiting for open", d)
	}
}

// TestConnectionsBeyondTheLimitAreClosed: with two connections held, a
// third is closed as soon as it is accepted (its call fails UNAVAILABLE)
// and logged; when one of the two goes, a new connection is served.
func TestConnectionsBeyondTheLimitAreClosed(t *testing.T) {
	logs := &syncBuffer{}
	srv, first := startOnFakeWith(t, logs, func(c *Config) { c.MaxConnections = 2 }, nil)
	waitServing(t, first)
	dial := func() *grpc.ClientConn {
		c, err := grpc.NewClient(first.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	second := dial()
	waitServing(t, second)
	if u := srv.Usage(); u.Connections != 2 {
		t.Fatalf("two clients connected: usage %+v", u)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	third := dial()
	_, err := healthpb.NewHealthClient(third).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a third connection: %v, want UNAVAILABLE", err)
	}
	third.Close() // else it keeps reconnecting, and could take the slot freed below
	if u := srv.Usage(); u.Connections != 2 {
		t.Errorf("after the refused connection: usage %+v, want 2 connections", u)
	}
	if !strings.Contains(logs.String(), "--max-connections") {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}

	second.Close()
	// The next connection is served once the second one's slot is free:
	// the call waits for it (gRPC retries the connection meanwhile).
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(dial()).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("a connection after one was closed: %v", err)
	}
}

// TestIdleConnectionsAreClosed: a connection without streams for
// MaxConnectionIdle is closed, and gives back its slot (the limit is one
// connection here): the client reconnects for its next call.
func TestIdleConnectionsAreClosed(t *testing.T) {
	srv, conn := startOnFakeWith(t, &syncBuffer{}, func(c *Config) {
		c.MaxConnections = 1
		c.MaxConnectionIdle = 300 * time.Millisecond
	}, nil)
	waitServing(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !conn.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatalf("the idle connection stayed %v", conn.GetState())
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("a call after the idle connection was closed: %v", err)
	}
	if u := srv.Usage(); u.Connections != 1 {
		t.Errorf("usage %+v, want 1 connection", u)
	}
}
