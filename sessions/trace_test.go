package sessions

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferrykafka/ferry/connector"
)

// outcomes returns the outcome of every ended checkpoint span by checkpoint
// id, checking that each is the session span's child.
func outcomes(t *testing.T, rec *tracetest.SpanRecorder, session sdktrace.ReadOnlySpan) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, s := range rec.Ended() {
		if s.Name() != "ferry.checkpoint" {
			continue
		}
		if s.Parent().SpanID() != session.SpanContext().SpanID() {
			t.Errorf("checkpoint span's parent %v, want the session's", s.Parent())
		}
		var id int64
		var outcome string
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case connector.AttrCheckpointID:
				id = kv.Value.AsInt64()
			case attrOutcome:
				outcome = kv.Value.AsString()
			}
		}
		out[id] = outcome
	}
	return out
}

func TestCheckpointSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, session := tp.Tracer("test").Start(context.Background(), "session")
	c := newCheckpointSpans(ctx, "source-1")
	for id := int64(1); id <= 5; id++ {
		c.begin(id, attribute.Int("n", 1))
	}
	c.end(2, outcomeCommitted, outcomeSuperseded, nil) // 1 superseded, 2 committed
	span := c.take(3, outcomeSuperseded)               // handed to a committer
	endCheckpoint(span, outcomeCommitted, errors.New("commit refused"))
	c.endLatest(outcomeFlushed, nil) // 5
	c.endAll(outcomeNotCompleted)    // 4
	if c.take(9, outcomeSuperseded) != nil {
		t.Error("take of a checkpoint without a span returned one")
	}
	session.End()
	got := outcomes(t, rec, session.(sdktrace.ReadOnlySpan))
	want := map[int64]string{1: outcomeSuperseded, 2: outcomeCommitted, 3: outcomeFailed, 4: outcomeNotCompleted, 5: outcomeFlushed}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("checkpoint %d: outcome %q, want %q", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ended checkpoint spans %v, want %v", got, want)
	}
}

// A client that never completes its checkpoints does not grow the open
// spans past maxCheckpointSpans: the oldest end as not completed.
func TestCheckpointSpansAreBounded(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, session := tp.Tracer("test").Start(context.Background(), "session")
	c := newCheckpointSpans(ctx, "sink-1")
	for id := int64(1); id <= maxCheckpointSpans+3; id++ {
		c.begin(id)
	}
	if len(c.open) != maxCheckpointSpans {
		t.Errorf("%d open checkpoint spans, want %d", len(c.open), maxCheckpointSpans)
	}
	got := outcomes(t, rec, session.(sdktrace.ReadOnlySpan))
	if len(got) != 3 || got[1] != outcomeNotCompleted || got[3] != outcomeNotCompleted {
		t.Errorf("ended %v, want checkpoints 1 to 3 not completed", got)
	}
}
