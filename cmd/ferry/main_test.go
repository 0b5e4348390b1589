package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeEmbeddedThenSIGTERM runs `ferry serve` with the embedded broker,
// checks it prints the grpcurl quick start and becomes SERVING, then stops
// it with SIGTERM and expects a clean exit.
func TestServeEmbeddedThenSIGTERM(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "addr")
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile}, &stdout, &stderr)
	}()
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no address file; stderr:\n%s", stderr.String())
		}
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			addr = strings.TrimSpace(string(b))
		} else {
			select {
			case err := <-done:
				t.Fatalf("ferry exited early: %v\n%s", err, stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("health: %v", err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}
	for _, want := range []string{"ferry serving on " + addr, "ferry.v1.SinkService/Write", "ferry.v1.SourceService/Read"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ferry serve after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ferry did not stop after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", stderr.String())
	}
}

func TestServeRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"serve", "--kafka", "no-port"},
		{"serve", "--cluster", "x"},
		{"serve", "--log-level", "loud"},
	} {
		if err := run(args, &lockedBuffer{}, &lockedBuffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
