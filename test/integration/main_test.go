// Package integration tests ferry end to end against a real Apache Kafka
// broker: the one test/kafka/with-kafka.sh starts and names in
// FERRY_TEST_KAFKA. Without it every test fails; none skips.
package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
)

const testTimeout = 60 * time.Second

// broker returns the address of the real Kafka broker, failing the test when
// it is not set.
func broker(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("FERRY_TEST_KAFKA")
	if addr == "" {
		t.Fatal("FERRY_TEST_KAFKA is not set: run the integration tests through `make test` (test/kafka/with-kafka.sh starts a real broker)")
	}
	return addr
}

// ferry is an in-process ferry server on a loopback port, talking to the
// real broker, and a client connection to it.
type ferry struct {
	addr   string
	srv    *server.Server
	conn   *grpc.ClientConn
	source ferryv1.SourceServiceClient
	sink   ferryv1.SinkServiceClient
	admin  *kadm.Client
}

func startFerry(t testing.TB) *ferry {
	t.Helper()
	return startFerryWith(t, nil)
}

// startFerryWith is startFerry with configure changing the server's Config
// first (limits, ...).
func startFerryWith(t testing.TB, configure func(*server.Config)) *ferry {
	t.Helper()
	addr := broker(t)
	cfg := server.Config{
		Clusters: map[string]connector.Cluster{
			"default": {BootstrapServers: []string{addr}},
			"main":    {BootstrapServers: []string{addr}},
		},
		HealthInterval:   200 * time.Millisecond,
		AllowedBootstrap: harnessListeners(),
		AllowedFileDirs:  harnessFileDirs(),
		Logger:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	f := &ferry{addr: lis.Addr().String(), srv: srv, conn: conn, source: ferryv1.NewSourceServiceClient(conn), sink: ferryv1.NewSinkServiceClient(conn), admin: kadm.NewClient(kc)}
	t.Cleanup(func() {
		conn.Close()
		kc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return f
}

// harnessListeners are the broker's listeners that test/kafka/with-kafka.sh
// names: the only addresses the test server lets clients name.
func harnessListeners() []string {
	var out []string
	for _, v := range os.Environ() {
		name, val, _ := strings.Cut(v, "=")
		if strings.HasPrefix(name, "FERRY_TEST_KAFKA") && !strings.Contains(val, "/") {
			if _, _, err := net.SplitHostPort(val); err == nil {
				out = append(out, val)
			}
		}
	}
	return out
}

// harnessFileDirs is the directory of the harness's CA and stores: the only
// directory whose files the test server lets clients name.
func harnessFileDirs() []string {
	if ca := os.Getenv("FERRY_TEST_KAFKA_CA"); ca != "" {
		return []string{filepath.Dir(ca)}
	}
	return nil
}

// testWriter sends server logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var topicSeq atomic.Int64

// createTopic creates a fresh topic with n partitions on the real broker.
func (f *ferry) createTopic(t testing.TB, n int32) string {
	t.Helper()
	return f.createTopicWith(t, n, nil)
}

// createTopicWith creates a fresh topic with n partitions and the given
// topic configs on the real broker.
func (f *ferry) createTopicWith(t testing.TB, n int32, configs map[string]*string) string {
	t.Helper()
	legal := func(r rune) rune { // Kafka topic names: [a-zA-Z0-9._-]
		if r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}
	base := strings.Map(legal, strings.ReplaceAll(t.Name(), "/", "."))
	if len(base) > 180 {
		base = base[:180]
	}
	name := fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano(), topicSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := f.admin.CreateTopic(ctx, n, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("creating topic %s: %v %v", name, err, resp.Err)
	}
	// Wait until the broker's metadata lists every partition with a leader.
	for {
		md, err := f.admin.Metadata(ctx, name)
		if td, ok := md.Topics[name]; err == nil && ok && td.Err == nil && len(td.Partitions) == int(n) {
			ready := true
			for _, p := range td.Partitions {
				ready = ready && p.Leader >= 0 && p.Err == nil
			}
			if ready {
				return name
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s never showed up in the metadata", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}
