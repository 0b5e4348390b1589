package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOnFake starts a server whose default cluster is an in-process kfake
// broker, with extra registering more services before it serves.
func startOnFake(t *testing.T, logs *syncBuffer, extra func(*grpc.Server)) (*Server, *grpc.ClientConn) {
	return startOnFakeWith(t, logs, nil, extra)
}

// startOnFakeWith is startOnFake with configure changing the Config first.
func startOnFakeWith(t *testing.T, logs *syncBuffer, configure func(*Config), extra func(*grpc.Server)) (*Server, *grpc.ClientConn) {
	t.Helper()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	cfg := Config{
		Clusters:       map[string]connector.Cluster{"default": {BootstrapServers: fake.ListenAddrs()}},
		HealthInterval: 50 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(srv.grpc)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, conn
}

// waitServing waits until the health check answers SERVING.
func waitServing(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("waiting for SERVING: %v", err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

func TestPanicBecomesInternalAndServerKeepsServing(t *testing.T) {
	logs := &syncBuffer{}
	panicky := &grpc.ServiceDesc{
		ServiceName: "test.Panicky",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Boom", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			boom := func(context.Context, any) (any, error) { panic("kaboom") }
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.Panicky/Boom"}, boom)
		}}},
	}
	_, conn := startOnFake(t, logs, func(g *grpc.Server) { g.RegisterService(panicky, struct{}{}) })
	waitServing(t, conn)

	err := conn.Invoke(context.Background(), "/test.Panicky/Boom", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panic gave %v, want INTERNAL", err)
	}
	if l := logs.String(); !strings.Contains(l, "kaboom") || !strings.Contains(l, "server_test.go") {
		t.Errorf("the panic and its stack are not logged:\n%s", l)
	}
	h, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after the panic: %v %v", h, err)
	}
}

func TestShutdownEndsOpenStreamsWithUnavailable(t *testing.T) {
	srv, conn := startOnFake(t, &syncBuffer{}, nil)
	waitServing(t, conn)
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	open := &ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{"t"}}, // unbounded: never ends by itself
	}}}}
	if err := stream.Send(open); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetOpened() == nil {
		t.Fatalf("open: %v %v", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	_, err = stream.Recv()
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
		t.Fatalf("open stream ended with %v, want UNAVAILABLE saying the server shuts down", err)
	}
	if n := srv.registry.Len(); n != 0 {
		t.Errorf("%d sessions still registered after shutdown", n)
	}
}

func TestHealthIsNotServingUntilKafkaAnswers(t *testing.T) {
	// A "broker" that hangs up on every connection: the health check must
	// not claim SERVING. The port stays ours for the whole test (a port
	// merely closed could be taken by another test's in-process broker,
	// which would answer).
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dead := lis.Addr().String()
	srv, err := New(Config{
		Clusters:       map[string]connector.Cluster{"default": {BootstrapServers: []string{dead}}},
		HealthInterval: 100 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(&syncBuffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(glis)
	defer srv.Shutdown(context.Background())
	conn, err := grpc.NewClient(glis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Watch until the first real check finished: the checker reports
	// NOT_SERVING from the start and changes only on success.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if status.Code(err) == codes.DeadlineExceeded {
			return // never SERVING within several check intervals
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			t.Fatal("health says SERVING while Kafka is unreachable")
		}
	}
}

func TestIgnoredPropertiesAreLoggedByKeyOnly(t *testing.T) {
	logs := &syncBuffer{}
	_, conn := startOnFake(t, logs, nil)
	waitServing(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics:      &ferryv1.TopicList{Topics: []string{"t"}},
		Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED,
		Properties:  map[string]string{"value.deserializer": "com.example.SecretValue", "key.deserializer": "com.example.SecretKey", "client.id": "c"},
	}}
	if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: open}}); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetOpened() == nil {
		t.Fatalf("open: %v %v", r, err)
	}
	l := logs.String()
	if !strings.Contains(l, "properties accepted without effect") || !strings.Contains(l, "keys=\"[key.deserializer value.deserializer]\"") {
		t.Errorf("ignored keys not logged:\n%s", l)
	}
	if strings.Contains(l, "com.example.Secret") {
		t.Errorf("a property value was logged:\n%s", l)
	}
}
