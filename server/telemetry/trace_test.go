package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferrykafka/ferry/server/telemetry"
	"github.com/ferrykafka/ferry/server/telemetry/otlptest"
)

// clearOTLP unsets the variables that turn OTLP export on, for the test.
func clearOTLP(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		t.Setenv(v, "")
	}
}

func TestTracesAreOffWithoutAnEndpoint(t *testing.T) {
	clearOTLP(t)
	p, err := telemetry.Setup(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if p.Tracing() {
		t.Error("tracing is on without OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT")
	}
	if h := p.KafkaTraceHooks(context.Background(), ""); h != nil {
		t.Errorf("Kafka trace hooks without tracing: %v", h)
	}
}

func TestTracesAreOffWhenTheExporterIsNone(t *testing.T) {
	clearOTLP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	p, err := telemetry.Setup(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if p.Tracing() {
		t.Error("tracing is on with OTEL_TRACES_EXPORTER=none")
	}
}

func TestSpansAreExportedOverOTLP(t *testing.T) {
	clearOTLP(t)
	rcv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.Endpoint)
	t.Setenv("OTEL_SERVICE_NAME", "ferry-test")
	p, err := telemetry.Setup(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Tracing() {
		t.Fatal("tracing is off with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set")
	}
	_, span := p.Tracer.Tracer("test").Start(context.Background(), "one")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 1 || spans[0].GetName() != "one" || spans[0].Resource["service.name"] != "ferry-test" {
		t.Fatalf("received %v, want the span one of service ferry-test", spans)
	}
}

func TestAnUnknownProtocolIsRefused(t *testing.T) {
	clearOTLP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
	if p, err := telemetry.Setup(context.Background(), telemetry.Config{}); err == nil {
		p.Shutdown(context.Background())
		t.Fatal("Setup accepted OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json")
	}
}

// TestKafkaSpansAreChildrenOfTheSession produces and fetches through
// clients with the session's hooks: every produce span is the child of the
// span the record's context carries, every fetch span the child of the
// session's span, and the records carry no trace header.
func TestKafkaSpansAreChildrenOfTheSession(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	p := telemetry.Disabled()
	p.Tracer = tp
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sctx, session := tp.Tracer("test").Start(ctx, "session")
	hooks := p.KafkaTraceHooks(sctx, "g")

	producer, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.WithHooks(hooks...))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.ProduceSync(sctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.WithHooks(hooks...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	fetches := consumer.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fetches.Records()
	if len(recs) != 1 || len(recs[0].Headers) != 0 {
		t.Fatalf("fetched %v, want one record without headers", recs)
	}
	session.End()

	want := map[string]bool{"t publish": false, "t receive": false}
	for _, s := range rec.Ended() {
		if _, ok := want[s.Name()]; !ok {
			continue
		}
		want[s.Name()] = true
		if s.Parent().SpanID() != session.SpanContext().SpanID() || s.SpanContext().TraceID() != session.SpanContext().TraceID() {
			t.Errorf("%s: parent %v, want the session span %v", s.Name(), s.Parent(), session.SpanContext())
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no span %q", name)
		}
	}
}
