package telemetry

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Traces: ferry's spans (a span per session, per checkpoint and per
// transaction, see the README's Observability section) and the Kafka
// clients' produce and fetch spans (kotel), exported over OTLP when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
// The trace context of a client's call (W3C traceparent and baggage in its
// gRPC metadata) is taken by the gRPC stats handler (GRPCServerHandler), so
// that a session's spans belong to the client's trace.

func init() { signals = append(signals, setupTraces) }

// setupTraces makes p.Tracer an SDK tracer provider that exports over OTLP
// (grpc or http/protobuf, see otlpProtocol) in batches, when the OTEL_*
// variables ask for it. The SDK reads the rest: OTEL_TRACES_SAMPLER (parent
// based, always on by default: a session is traced when its client's call
// is), OTEL_BSP_* (batching), OTEL_EXPORTER_OTLP_* (headers, TLS, timeout).
func setupTraces(ctx context.Context, cfg Config, p *Providers) error {
	if !otlpEnabled("TRACES") {
		return nil
	}
	proto, err := otlpProtocol("TRACES")
	if err != nil {
		return err
	}
	var exp *otlptrace.Exporter
	if proto == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return fmt.Errorf("OTLP trace exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(p.Resource))
	p.Tracer = tp
	p.shutdown = append(p.shutdown, tp.Shutdown)
	cfg.Logger.Info("exporting traces over OTLP", "protocol", proto)
	return nil
}

// Tracing reports whether p's spans go anywhere: false for the tracer
// provider of Disabled, which records nothing.
func (p *Providers) Tracing() bool {
	_, off := p.Tracer.(tracenoop.TracerProvider)
	return !off
}

// KafkaTraceHooks returns the franz-go hooks that trace a session's Kafka
// client with p's tracer provider, or nil when p traces nothing: kotel's
// produce ("{topic} publish") and fetch ("{topic} receive") span per
// record, group naming the consumer group of a source (empty for none).
//
// A produced record's span is the child of the span its Record.Context
// carries (the sink sets the session's or the transaction's). A fetched
// record has none, so the first hook gives it the span of ctx, the
// session's: both kinds belong to the trace of the client that opened the
// session.
//
// Kafka records are the user's data: these hooks neither add a traceparent
// header to a produced record nor continue the trace of one a fetched
// record carries, so ferry writes and reads records exactly as the client
// gave them.
func (p *Providers) KafkaTraceHooks(ctx context.Context, group string) []kgo.Hook {
	if !p.Tracing() {
		return nil
	}
	opts := []kotel.TracerOpt{
		kotel.TracerProvider(p.Tracer),
		// No propagator: nothing is injected into nor extracted from
		// record headers.
		kotel.TracerPropagator(propagation.NewCompositeTextMapPropagator()),
	}
	if group != "" {
		opts = append(opts, kotel.ConsumerGroup(group))
	}
	tracer := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(opts...)))
	return append([]kgo.Hook{fetchParent{trace.SpanFromContext(ctx)}}, tracer.Hooks()...)
}

// fetchParent gives every fetched record the context of a span, before
// kotel starts the record's receive span from it.
type fetchParent struct{ span trace.Span }

var _ kgo.HookFetchRecordBuffered = fetchParent{}

// OnFetchRecordBuffered implements kgo.HookFetchRecordBuffered.
func (h fetchParent) OnFetchRecordBuffered(r *kgo.Record) {
	parent := r.Context
	if parent == nil {
		parent = context.Background()
	}
	r.Context = trace.ContextWithSpan(parent, h.span)
}
