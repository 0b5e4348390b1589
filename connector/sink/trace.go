package sink

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector"
)

// The writer's spans, children of the session's span that Open's ctx
// carries (see connector.Spans):
//   - "ferry.transaction" (EXACTLY_ONCE): one Kafka transaction, from its
//     first record or consumed offsets to its commit or abort, with events
//     "prepared" and "offsets_added"; the produce spans of its records are
//     its children.
//   - "ferry.transaction.recover": committing a transaction of the restore
//     state at open.
//   - "ferry.transactions.abort_lingering": aborting the writer's lingering
//     transactions at open.
//
// Under NONE and AT_LEAST_ONCE the produce spans are children of the
// session's span. Records carry the span in their Context, which the
// caller's Kafka hooks (kotel, Config.Hooks) read.

// Attributes of the writer's spans.
const (
	attrTransactionalID = attribute.Key("ferry.transactional_id")
	attrProducerID      = attribute.Key("ferry.producer.id")
	attrProducerEpoch   = attribute.Key("ferry.producer.epoch")
	// attrOutcome says how a transaction ended: committed, aborted,
	// left_prepared (for a commit after a restore) or failed.
	attrOutcome = attribute.Key("ferry.transaction.outcome")
)

// newSpans returns the Spans of a writer opened with ctx.
func newSpans(ctx context.Context) connector.Spans {
	return connector.SpansUnder(ctx, "github.com/ferrykafka/ferry/connector/sink")
}

// recordContext is the Context of records produced under span: ctx, which
// ends when they must fail, carrying span when it is part of a trace.
func recordContext(ctx context.Context, span trace.Span) context.Context {
	if span == nil || !span.SpanContext().IsValid() {
		return ctx
	}
	return trace.ContextWithSpan(ctx, span)
}

// producerAttrs are the producer id and epoch of a transaction.
func producerAttrs(pid int64, epoch int16) []attribute.KeyValue {
	return []attribute.KeyValue{attrProducerID.Int64(pid), attrProducerEpoch.Int(int(epoch))}
}

// traceBegin starts the span of p's open transaction unless it has one:
// the transaction exists on the broker from its first record or consumed
// offsets, so an empty one, which is never prepared (FLINK-31363), has no
// span either.
func (t *transactions) traceBegin(ctx context.Context, p *txnProducer) {
	if p.span != nil {
		return
	}
	p.span = t.spans.Start("ferry.transaction", attrTransactionalID.String(p.id), connector.AttrIndex.Int(t.index))
	if p.span.IsRecording() {
		if pid, epoch, err := p.cl.ProducerID(ctx); err == nil {
			p.span.SetAttributes(producerAttrs(pid, epoch)...)
		}
	}
}

// traceEnd ends the span of p's transaction, if it has one, with outcome.
func traceEnd(p *txnProducer, outcome string, err error) {
	connector.EndSpan(p.span, err, attrOutcome.String(outcome))
	p.span = nil
}
