package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/server/telemetry"
	"github.com/ferrykafka/ferry/server/telemetry/otlptest"
)

// traceparent is a W3C trace context as a client sends it: a fresh trace id
// and the id of the client's span.
type traceparent struct{ traceID, spanID string }

func newTraceparent() traceparent {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return traceparent{hex.EncodeToString(b[:16]), hex.EncodeToString(b[16:])}
}

func (p traceparent) String() string { return "00-" + p.traceID + "-" + p.spanID + "-01" }

// tracedClient is f with clients whose every call carries tp in its
// metadata, as an instrumented client's would.
func (f *ferry) tracedClient(t *testing.T, tp traceparent) *ferry {
	t.Helper()
	return clientOf(t, f, f.addr, grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn,
		method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(metadata.AppendToOutgoingContext(ctx, "traceparent", tp.String()), desc, cc, method, opts...)
	}))
}

// spanIndex finds received spans by name and id.
type spanIndex []otlptest.Span

func (x spanIndex) named(name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range x {
		if s.GetName() == name {
			out = append(out, s)
		}
	}
	return out
}

func (x spanIndex) byID(id string) (otlptest.Span, bool) {
	for _, s := range x {
		if s.SpanID() == id {
			return s, true
		}
	}
	return otlptest.Span{}, false
}

// session returns the session span of kind in trace.
func (x spanIndex) session(t *testing.T, trace, kind string) otlptest.Span {
	t.Helper()
	for _, s := range x.named("ferry.session") {
		if k, _ := s.Attr("ferry.session.kind"); k == kind && s.TraceID() == trace {
			return s
		}
	}
	t.Fatalf("no %s session span in trace %s", kind, trace)
	return otlptest.Span{}
}

// wantAttrs fails unless s has every attribute of want.
func wantAttrs(t *testing.T, s otlptest.Span, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got, ok := s.Attr(k); !ok || got != w {
			t.Errorf("span %s: %s = %q, want %q", s.GetName(), k, got, w)
		}
	}
}

// TestTracesFromClientToKafka: ferry exports its spans over OTLP to a
// receiver, all in the trace of the client's traceparent: a sink session
// (EXACTLY_ONCE) with its checkpoint, its transaction and franz-go's produce
// spans of its records, and a source session with its checkpoint and
// franz-go's fetch spans, each session under the span of its RPC, which is
// the child of the client's span.
func TestTracesFromClientToKafka(t *testing.T) {
	rcv := otlptest.Start(t)
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(v, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.Endpoint)
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := startFerryWith(t, func(c *server.Config) { c.Telemetry = tel })
	topic := f.createTopic(t, 1)
	prefix := "traced-" + topic

	// A sink session in the first trace: three records in a transaction,
	// prepared at checkpoint 1 and committed.
	sinkTrace := newTraceparent()
	w, opened := f.tracedClient(t, sinkTrace).openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	w.write("a", "b", "c")
	state := w.checkpoint(1)
	w.commit(1)
	w.close()
	txn := state.GetTransactions()[0]

	// A source session in the second trace reads them and commits its
	// checkpoint's offsets.
	sourceTrace := newTraceparent()
	group := "traced-" + topic
	r := f.tracedClient(t, sourceTrace).openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group,
		Properties: map[string]string{"isolation.level": "read_committed"},
	}})
	for got := 0; got < 3; {
		got += len(r.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords())
	}
	r.checkpoint(1)
	r.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	r.complete(1)
	if c := r.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted(); c.GetError() != "" {
		t.Fatalf("committed = %v", c)
	}
	r.send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Close{Close: &ferryv1.Close{}}})
	for range r.msgs {
	}

	// Sessions end their spans when their handlers return: stop the server
	// (it waits for them), then flush the exporter.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.srv.Shutdown(ctx)
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := spanIndex(rcv.Spans())

	// Every span of ferry and of franz-go belongs to one of the two traces.
	for _, s := range spans {
		if s.TraceID() != sinkTrace.traceID && s.TraceID() != sourceTrace.traceID {
			t.Errorf("span %s (%s) is in trace %s, not a client's", s.GetName(), s.Scope, s.TraceID())
		}
	}

	// Each session span is the child of its RPC's span, the child of the
	// client's span.
	sinkSession := spans.session(t, sinkTrace.traceID, "sink")
	sourceSession := spans.session(t, sourceTrace.traceID, "source")
	for _, c := range []struct {
		session otlptest.Span
		tp      traceparent
		rpc     string
	}{{sinkSession, sinkTrace, "ferry.v1.SinkService/Write"}, {sourceSession, sourceTrace, "ferry.v1.SourceService/Read"}} {
		rpc, ok := spans.byID(c.session.ParentID())
		if !ok || rpc.GetName() != c.rpc || rpc.ParentID() != c.tp.spanID {
			t.Errorf("%s session's parent: %v (found %v), want the span of %s, child of the client's span %s",
				c.rpc, rpc.GetName(), ok, c.rpc, c.tp.spanID)
		}
	}
	wantAttrs(t, sinkSession, map[string]string{
		"ferry.session.id": opened.GetSessionId(), "ferry.cluster": "default", "ferry.delivery_guarantee": "EXACTLY_ONCE",
		"ferry.transactional_id_prefix": prefix, "messaging.destination.name": topic,
	})
	wantAttrs(t, sourceSession, map[string]string{
		"ferry.session.id": r.opened.GetSessionId(), "ferry.cluster": "default", "ferry.topics": topic,
		"messaging.consumer.group.name": group,
	})

	// The checkpoints: the sink's from prepare to commit, the source's from
	// barrier to the offset commit.
	for _, c := range []struct {
		session otlptest.Span
		want    map[string]string
	}{
		{sinkSession, map[string]string{"ferry.checkpoint.id": "1", "ferry.checkpoint.outcome": "committed", "ferry.transactional_ids": txn.GetTransactionalId()}},
		{sourceSession, map[string]string{"ferry.checkpoint.id": "1", "ferry.checkpoint.outcome": "committed", "ferry.splits": "1"}},
	} {
		var found bool
		for _, s := range spans.named("ferry.checkpoint") {
			if s.ParentID() == c.session.SpanID() {
				found = true
				wantAttrs(t, s, c.want)
			}
		}
		if !found {
			t.Errorf("no checkpoint span under the session %s", c.session.SpanID())
		}
	}

	// The transaction, the sink session's child, and the produce spans of
	// its records, the transaction's children.
	txns := spans.named("ferry.transaction")
	if len(txns) != 1 || txns[0].ParentID() != sinkSession.SpanID() {
		t.Fatalf("transaction spans %v, want one under the sink session", txns)
	}
	wantAttrs(t, txns[0], map[string]string{
		"ferry.transactional_id": txn.GetTransactionalId(), "ferry.producer.id": fmt.Sprint(txn.GetProducerId()),
		"ferry.producer.epoch": fmt.Sprint(txn.GetProducerEpoch()), "ferry.checkpoint.id": "1",
		"ferry.transaction.outcome": "committed",
	})
	if n := len(spans.named("ferry.transactions.abort_lingering")); n != 1 {
		t.Errorf("%d abort_lingering spans, want 1", n)
	}
	publish := spans.named(topic + " publish")
	if len(publish) != 3 {
		t.Errorf("%d produce spans, want 3", len(publish))
	}
	for _, s := range publish {
		if s.ParentID() != txns[0].SpanID() || s.TraceID() != sinkTrace.traceID {
			t.Errorf("produce span under %s in trace %s, want under the transaction %s in %s", s.ParentID(), s.TraceID(), txns[0].SpanID(), sinkTrace.traceID)
		}
	}

	// franz-go's fetch spans of the source's records, the source session's
	// children.
	receive := spans.named(topic + " receive")
	if len(receive) < 3 {
		t.Errorf("%d fetch spans, want one per record (3)", len(receive))
	}
	for _, s := range receive {
		if s.ParentID() != sourceSession.SpanID() {
			t.Errorf("fetch span under %s, want under the source session %s", s.ParentID(), sourceSession.SpanID())
		}
	}
	if t.Failed() {
		var names []string
		for _, s := range spans {
			names = append(names, fmt.Sprintf("%s[%s<-%s]", s.GetName(), s.SpanID(), s.ParentID()))
		}
		t.Logf("spans received: %s", strings.Join(names, " "))
	}
}
