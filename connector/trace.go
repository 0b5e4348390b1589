package connector

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Spans is where a part of ferry below the server (a writer, a session's
// checkpoints) starts its spans: as children of the span of the context it
// was opened with, the session's, with a tracer of that span's provider.
// So neither the connector nor the sessions know how telemetry is set up:
// under a context without a span (or with tracing off) every span records
// nothing.
type Spans struct {
	parent context.Context // carries the parent span, and nothing else
	tracer trace.Tracer
}

// SpansUnder returns the Spans under the span of ctx, with scope naming the
// instrumentation (the package path).
func SpansUnder(ctx context.Context, scope string) Spans {
	s := trace.SpanFromContext(ctx)
	return Spans{parent: trace.ContextWithSpan(context.Background(), s), tracer: s.TracerProvider().Tracer(scope)}
}

// Start starts a span named name under the parent span.
func (s Spans) Start(name string, attrs ...attribute.KeyValue) trace.Span {
	_, span := s.tracer.Start(s.parent, name, trace.WithAttributes(attrs...))
	return span
}

// Parent returns the parent span.
func (s Spans) Parent() trace.Span { return trace.SpanFromContext(s.parent) }

// EndSpan sets attrs on span and ends it, with err as its error status when
// not nil. A nil span is none.
func EndSpan(span trace.Span, err error, attrs ...attribute.KeyValue) {
	if span == nil {
		return
	}
	span.SetAttributes(attrs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Attributes that spans of more than one package carry (the README lists
// every span and attribute).
const (
	AttrSessionID             = attribute.Key("ferry.session.id")
	AttrCheckpointID          = attribute.Key("ferry.checkpoint.id")
	AttrIndex                 = attribute.Key("ferry.index") // the reader's or writer's index
	AttrTransactionalIDPrefix = attribute.Key("ferry.transactional_id_prefix")
	AttrGroup                 = attribute.Key("messaging.consumer.group.name")
)
