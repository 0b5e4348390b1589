package integration

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestPrefetchBudgetBoundsMemory writes 256 MiB to a topic, opens a session
// with a 16 MiB prefetch budget whose client reads one message and then
// stops reading, and checks that the heap of this process (server and
// client) grows by no more than the budget plus a fixed overhead; then the
// client reads on and gets every record. max.partition.fetch.bytes is set
// to 64 MiB so that only the budget holds fetching back (with a 256 MiB
// budget the same test sees about 63 MiB of growth and fails).
func TestPrefetchBudgetBoundsMemory(t *testing.T) {
	const (
		budgetMiB = 16
		records   = 256 * 1024 // of 1 KiB: 256 MiB
		overhead  = 12         // MiB: the client's flow-control windows and buffers
	)
	f := startFerry(t)
	topic := f.createTopic(t, 4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 1024)
	errs := make(chan error, 1)
	for i := 0; i < records; i++ {
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	// A client with small, fixed flow-control windows, so that what it
	// buffers without reading is small and known.
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := heapMiB()
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	open := bounded(topic)
	open.Spec.Properties = map[string]string{"prefetch.max.bytes": "16777216", "max.partition.fetch.bytes": "67108864"}
	if err := stream.Send(openSource(open)); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got == 0 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got += len(resp.GetRecords().GetRecords())
	}
	// The client stops reading. Sample the heap for two seconds: fetching
	// must pause at the budget instead of pulling the topic into memory.
	peak := 0.0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if h := heapMiB() - before; h > peak {
			peak = h
		}
	}
	t.Logf("heap growth while the client does not read: %.1f MiB (budget %d MiB, 256 MiB waiting)", peak, budgetMiB)
	if peak > budgetMiB+overhead {
		t.Fatalf("heap grew by %.1f MiB, more than the %d MiB budget plus %d MiB", peak, budgetMiB, overhead)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got += len(resp.GetRecords().GetRecords())
		if resp.GetEndOfInput() != nil {
			break
		}
	}
	if got != records {
		t.Fatalf("read %d records after resuming, want %d", got, records)
	}
}
