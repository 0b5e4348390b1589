package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"

	"github.com/ferrykafka/ferry/internal/grpcbuf"
)

// discardCodec is a client codec that only counts what it receives.
type discardCodec struct{}

func (discardCodec) Marshal(any) (mem.BufferSlice, error) { return nil, nil }
func (discardCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*int) += data.Len()
	return nil
}
func (discardCodec) Name() string { return "proto" }

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadHop sends record batches (256 KiB messages, as a read does)
// through the server's transport settings and codec over loopback TCP to a
// client in the same process that only counts the bytes, and reports the
// process's CPU per GB of values: the cost of ferry's hop after the fetch,
// plus a constant for the client.
func BenchmarkReadHop(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) { benchReadHop(b, size) })
	}
}

func benchReadHop(b *testing.B, size int) {
	// Values in 64 MiB of memory, taken in turn: out of the CPU's caches
	// when sent, as fetched values are.
	arena := bytes.Repeat([]byte{7}, 64<<20)
	perMsg := max(1, (256<<10)/(size+40))
	batches := make([][]*kgo.Record, len(arena)/(perMsg*size))
	for j := range batches {
		recs := make([]*kgo.Record, perMsg)
		for i := range recs {
			at := (j*perMsg + i) * size
			recs[i] = &kgo.Record{Topic: "ferry-bench-topic", Partition: 3, Offset: int64(1_000_000 + i),
				Timestamp: time.UnixMilli(1_700_000_000_123), Value: arena[at : at+size : at+size], LeaderEpoch: 1}
		}
		batches[j] = recs
	}
	msgs := (100 << 20) / (perMsg * size) // per stream: about 100 MB
	desc := grpc.StreamDesc{StreamName: "Read", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
		for i := range msgs {
			if err := ss.SendMsg(&recordsMessage{recs: batches[i%len(batches)]}); err != nil {
				return err
			}
		}
		return nil
	}}
	srv := grpc.NewServer(transportOptions()...)
	srv.RegisterService(&grpc.ServiceDesc{ServiceName: "bench.Hop", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{desc}}, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(discardCodec{}), grpc.MaxCallRecvMsgSize(64<<20)),
		experimental.WithBufferPool(grpcbuf.New()),
		grpc.WithInitialWindowSize(4<<20), grpc.WithInitialConnWindowSize(16<<20), grpc.WithReadBufferSize(512<<10))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bytesPerOp := int64(msgs * perMsg * size)
	b.SetBytes(bytesPerOp)
	cpu0 := processCPU()
	for b.Loop() {
		st, err := conn.NewStream(context.Background(), &desc, "/bench.Hop/Read")
		if err != nil {
			b.Fatal(err)
		}
		if err := st.CloseSend(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			var got int
			if err := st.RecvMsg(&got); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != msgs {
			b.Fatalf("received %d messages, want %d", n, msgs)
		}
	}
	b.ReportMetric((processCPU()-cpu0).Seconds()/(float64(b.N)*float64(bytesPerOp)/1e9), "cpu-s/GB")
}
