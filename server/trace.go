package server

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
)

// A span per session, "ferry.session", from the start of its stream to its
// end, with the status the stream ends with. The gRPC stats handler
// (telemetry.Providers.GRPCServerHandler) took the client's trace context
// from the call's metadata and made the RPC's span its child; the session's
// span is the RPC span's child, and the parent of the session's checkpoint
// spans (package sessions), transaction spans (package connector/sink) and
// Kafka produce and fetch spans (telemetry.Providers.KafkaTraceHooks): all
// in the client's trace.

// tracerName is the instrumentation scope of the server's spans.
const tracerName = "github.com/ferrykafka/ferry/server"

// Attributes of session spans, besides connector's AttrSessionID,
// AttrIndex, AttrGroup and AttrTransactionalIDPrefix.
const (
	attrSessionKind   = attribute.Key("ferry.session.kind") // source or sink
	attrPrincipal     = attribute.Key("ferry.principal")
	attrCluster       = attribute.Key("ferry.cluster")
	attrSubscription  = attribute.Key("ferry.subscription")
	attrTopics        = attribute.Key("ferry.topics")
	attrDefaultTopic  = attribute.Key("messaging.destination.name")
	attrGuarantee     = attribute.Key("ferry.delivery_guarantee")
	attrParallelism   = attribute.Key("ferry.parallelism")
	attrGRPCStatus    = attribute.Key("rpc.grpc.status_code")
	attrMessagingSys  = attribute.Key("messaging.system")
	messagingSysKafka = "kafka"
)

// startSession starts the span of a session of kind ("source", "sink") on
// a stream whose context is ctx, and returns the context that carries it.
func (s *Server) startSession(ctx context.Context, kind string) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{attrSessionKind.String(kind), attrMessagingSys.String(messagingSysKafka)}
	if p := principalOf(ctx); p != "" {
		attrs = append(attrs, attrPrincipal.String(p))
	}
	return s.tel.Tracer.Tracer(tracerName).Start(ctx, "ferry.session", trace.WithAttributes(attrs...))
}

// endSession ends a session's span with the status its stream ended with:
// an error unless OK or CANCELLED (the client went away).
func endSession(span trace.Span, err error) {
	st := status.Convert(err)
	span.SetAttributes(attrGRPCStatus.Int(int(st.Code())))
	if c := st.Code(); c != codes.OK && c != codes.Canceled {
		span.SetStatus(otelcodes.Error, c.String()+": "+st.Message())
	}
	span.End()
}

// traceSource names what a source session reads on its span.
func traceSource(ctx context.Context, cfg source.Config) {
	attrs := []attribute.KeyValue{attrCluster.String(clusterName(cfg.Cluster)), attrSubscription.String(subscription(cfg)),
		connector.AttrIndex.Int(cfg.ReaderIndex), attrParallelism.Int(cfg.Parallelism)}
	if len(cfg.Topics) > 0 {
		attrs = append(attrs, attrTopics.StringSlice(cfg.Topics))
	}
	if cfg.GroupID != "" {
		attrs = append(attrs, connector.AttrGroup.String(cfg.GroupID))
	}
	trace.SpanFromContext(ctx).SetAttributes(attrs...)
}

// traceSink names what a sink session writes on its span.
func traceSink(ctx context.Context, cfg sink.Config) {
	attrs := []attribute.KeyValue{attrCluster.String(clusterName(cfg.Cluster)), attrGuarantee.String(cfg.Guarantee.String()),
		connector.AttrIndex.Int(cfg.WriterIndex), attrParallelism.Int(cfg.Parallelism)}
	if cfg.DefaultTopic != "" {
		attrs = append(attrs, attrDefaultTopic.String(cfg.DefaultTopic))
	}
	if cfg.TransactionalIDPrefix != "" {
		attrs = append(attrs, connector.AttrTransactionalIDPrefix.String(cfg.TransactionalIDPrefix))
	}
	trace.SpanFromContext(ctx).SetAttributes(attrs...)
}

// traceOpened adds the id of the session that opened to its span.
func traceOpened(ctx context.Context, id string) {
	trace.SpanFromContext(ctx).SetAttributes(connector.AttrSessionID.String(id))
}
