package chaos

import (
	"context"
	"errors"
	"flag"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

var grpcFuzzTime = flag.Duration("grpc-fuzz", 3*time.Second, "how long TestGRPCFuzz sends random and mutated messages (make chaos: 60s)")

// rawCodec puts bytes on the wire as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// validMessages are well-formed requests of both RPCs, the starting points of
// mutation.
func validMessages(t *testing.T, topic string) (reads, writes [][]byte) {
	m := func(p proto.Message) []byte {
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	spec := &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: "fuzz",
		StartingOffsets:   &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Latest_{Latest: &ferryv1.OffsetsInitializer_Latest{}}},
		WatermarkStrategy: &ferryv1.WatermarkStrategy{Kind: ferryv1.WatermarkKind_WATERMARK_KIND_MONOTONOUS}}
	reads = [][]byte{
		m(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: &ferryv1.OpenSource{Spec: spec}}}),
		m(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: 1}}}),
		m(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_CheckpointComplete{CheckpointComplete: &ferryv1.CheckpointComplete{CheckpointId: 1}}}),
		m(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Close{Close: &ferryv1.Close{}}}),
	}
	sink := &ferryv1.SinkSpec{DefaultTopic: topic, DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE}
	writes = [][]byte{
		m(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Open{Open: &ferryv1.OpenSink{Spec: sink}}}),
		m(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1,
			Records: []*ferryv1.SinkRecord{{Key: []byte("k"), Value: []byte("v"), Headers: []*ferryv1.Header{{Key: "h", Value: []byte("x")}}}}}}}),
		m(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: 1}}}),
		m(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}),
	}
	return reads, writes
}

// mutate returns a copy of b with a few random changes: flipped bits,
// changed, inserted or removed bytes, a truncation, or random bytes.
func mutate(rng *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	switch rng.Intn(6) {
	case 0: // random bytes
		out = make([]byte, rng.Intn(64))
		rng.Read(out)
		return out
	case 1: // truncate
		if len(out) > 0 {
			return out[:rng.Intn(len(out))]
		}
	}
	for n := 1 + rng.Intn(4); n > 0 && len(out) > 0; n-- {
		i := rng.Intn(len(out))
		switch rng.Intn(4) {
		case 0:
			out[i] ^= 1 << rng.Intn(8)
		case 1:
			out[i] = byte(rng.Intn(256))
		case 2:
			out = append(out[:i], append([]byte{byte(rng.Intn(256))}, out[i:]...)...)
		case 3:
			out = append(out[:i], out[i+1:]...)
		}
	}
	return out
}

// TestGRPCFuzz sends random bytes and mutations of valid messages to both
// RPCs of a ferry process on the real broker for -grpc-fuzz (3 s in `make
// test`, 60 s in `make chaos`), each stream a short random sequence of
// messages. No call may end in INTERNAL or UNKNOWN, the log must show no
// panic, and ferry must still be SERVING and alive at the end.
func TestGRPCFuzz(t *testing.T) {
	kafka := broker(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "ferry")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ferrykafka/ferry/cmd/ferry").CombinedOutput(); err != nil {
		t.Fatalf("building ferry: %v\n%s", err, out)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	logPath := filepath.Join(dir, "ferry.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	proc := &ferryProcess{t: t, bin: bin, addr: addr, kafk: kafka, log: logf}
	proc.start()
	defer proc.stop()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	topic := "fuzz-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "-")
	kc, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if resp, err := kadm.NewClient(kc).CreateTopic(context.Background(), 2, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("creating %s: %v %v", topic, err, resp.Err)
	}
	reads, writes := validMessages(t, topic)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	codesSeen := map[codes.Code]int{}
	streams := 0
	for end := time.Now().Add(*grpcFuzzTime); time.Now().Before(end); streams++ {
		method, pool := "/ferry.v1.SourceService/Read", reads
		if rng.Intn(2) == 1 {
			method, pool = "/ferry.v1.SinkService/Write", writes
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			cancel()
			t.Fatalf("stream %d: %v", streams, err)
		}
		for n := 1 + rng.Intn(4); n > 0; n-- {
			msg := pool[rng.Intn(len(pool))]
			if rng.Intn(3) > 0 {
				msg = mutate(rng, msg)
			}
			if stream.SendMsg(&msg) != nil {
				break
			}
		}
		_ = stream.CloseSend()
		var code codes.Code
		var msg string
		for {
			var out []byte
			if err := stream.RecvMsg(&out); err != nil {
				if errors.Is(err, io.EOF) {
					break // the stream ended with OK
				}
				st := status.Convert(err)
				code, msg = st.Code(), st.Message()
				break
			}
		}
		cancel()
		codesSeen[code]++
		if code == codes.Internal || code == codes.Unknown {
			t.Errorf("stream %d to %s ended with %v: %s", streams, method, code, msg)
		}
	}
	t.Logf("%d streams, status codes: %v", streams, codesSeen)
	h, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after fuzzing: %v %v", h, err)
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "panic"); n > 0 {
		t.Errorf("ferry's log shows %d panics", n)
	}
}
