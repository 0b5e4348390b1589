package sink

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector"
)

// tracedOpen opens a writer of guarantee g on a fake cluster under a
// session span, with kotel's produce spans, and returns the writer (the
// test closes it), the session span and the recorder of every span.
func tracedOpen(t *testing.T, g Guarantee) (Writer, trace.Span, *tracetest.SpanRecorder) {
	t.Helper()
	c := fakeCluster(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, session := tp.Tracer("test").Start(context.Background(), "session")
	hooks := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(kotel.TracerProvider(tp),
		kotel.TracerPropagator(propagation.NewCompositeTextMapPropagator())))).Hooks()
	w, err := Open(ctx, Config{
		Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Guarantee: g,
		DefaultTopic: "t", TransactionalIDPrefix: "unit", Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, session, rec
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func ended(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// A transaction has a span from its first record to its commit, the
// session's child, naming its transactional id, producer id and epoch and
// checkpoint; the produce spans of its records are its children. The next
// transaction, aborted at close, ends as aborted; an empty one has no span.
func TestTransactionSpans(t *testing.T) {
	w, session, rec := tracedOpen(t, ExactlyOnce)
	ctx := context.Background()
	write := func(seq int64) {
		t.Helper()
		if err := w.Write(ctx, seq, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition}}); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	prepared, err := w.Checkpoint(ctx, 1)
	if err != nil || len(prepared) != 1 {
		t.Fatalf("Checkpoint = %v, %v; want one prepared transaction", prepared, err)
	}
	eo, _ := Transactional(w)
	if err := eo.Commit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, 2); err != nil { // empty: no transaction, no span
		t.Fatal(err)
	}
	write(2)
	w.Close(ctx)

	txns := ended(rec, "ferry.transaction")
	if len(txns) != 2 {
		t.Fatalf("%d transaction spans, want 2 (committed, aborted)", len(txns))
	}
	p := prepared[0]
	committed := spanAttrs(txns[0])
	for k, want := range map[attribute.Key]attribute.Value{
		attrTransactionalID:        attribute.StringValue(p.TransactionalID),
		attrProducerID:             attribute.Int64Value(p.ProducerID),
		attrProducerEpoch:          attribute.IntValue(int(p.ProducerEpoch)),
		connector.AttrCheckpointID: attribute.Int64Value(1),
		attrOutcome:                attribute.StringValue("committed"),
	} {
		if got := committed[k]; got != want {
			t.Errorf("committed transaction: %s = %v, want %v", k, got.Emit(), want.Emit())
		}
	}
	if got := spanAttrs(txns[1])[attrOutcome].AsString(); got != "aborted" {
		t.Errorf("second transaction: outcome %q, want aborted", got)
	}
	for _, s := range txns {
		if s.Parent().SpanID() != session.SpanContext().SpanID() {
			t.Errorf("transaction span's parent %v, want the session %v", s.Parent().SpanID(), session.SpanContext().SpanID())
		}
	}
	publish := ended(rec, "t publish")
	if len(publish) != 2 {
		t.Fatalf("%d produce spans, want 2", len(publish))
	}
	for i, s := range publish {
		if s.Parent().SpanID() != txns[i].SpanContext().SpanID() {
			t.Errorf("record %d: produce span's parent %v, want its transaction's %v", i, s.Parent().SpanID(), txns[i].SpanContext().SpanID())
		}
	}
}

// Without transactions the produce spans are children of the session's
// span.
func TestProduceSpansAreChildrenOfTheSession(t *testing.T) {
	w, session, rec := tracedOpen(t, AtLeastOnce)
	ctx := context.Background()
	defer w.Close(ctx)
	if err := w.Write(ctx, 1, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	publish := ended(rec, "t publish")
	if len(publish) != 1 || publish[0].Parent().SpanID() != session.SpanContext().SpanID() {
		t.Fatalf("produce spans %v, want one, the session's child", publish)
	}
	if n := len(ended(rec, "ferry.transaction")); n != 0 {
		t.Errorf("%d transaction spans under AT_LEAST_ONCE", n)
	}
}
