package sessions

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrykafka/ferry/connector"
)

// A span per checkpoint, "ferry.checkpoint", child of the session's span
// that the ctx of OpenSource and OpenSink carries (see connector.Spans). It
// starts when the client
// asks for the checkpoint and ends:
//   - source: when the checkpoint's offsets are committed, or when the
//     client completes it if the session commits nothing;
//   - sink: when the checkpoint's transactions are committed (EXACTLY_ONCE),
//     or once flushed (NONE, AT_LEAST_ONCE);
//   - else when a later checkpoint supersedes it or the session ends.
//
// ferry.checkpoint.outcome says which.

// Attributes of checkpoint spans, besides connector.AttrCheckpointID and
// connector.AttrSessionID.
const (
	attrSplits           = attribute.Key("ferry.splits")
	attrTransactionalIDs = attribute.Key("ferry.transactional_ids")
	attrOutcome          = attribute.Key("ferry.checkpoint.outcome")
)

// Outcomes of a checkpoint span.
const (
	outcomeCommitted    = "committed"     // its offsets or transactions were committed
	outcomeCompleted    = "completed"     // completed; the session commits nothing
	outcomeFlushed      = "flushed"       // NONE, AT_LEAST_ONCE: flushed, nothing to commit
	outcomeSuperseded   = "superseded"    // a later checkpoint completed first
	outcomeFailed       = "failed"        // taking or committing it failed
	outcomeNotCompleted = "not_completed" // the session ended first
)

// maxCheckpointSpans bounds the checkpoint spans a session keeps open: a
// client that never completes its checkpoints must not grow them without
// bound. Past it the oldest ends as not completed.
const maxCheckpointSpans = 64

// checkpointSpans are the open checkpoint spans of a session, by increasing
// checkpoint id. Only the goroutine that serves the session uses it; a span
// it hands out (take) may end on another.
type checkpointSpans struct {
	spans   connector.Spans
	session string
	open    []checkpointSpan
}

type checkpointSpan struct {
	id   int64
	span trace.Span
}

func newCheckpointSpans(ctx context.Context, sessionID string) checkpointSpans {
	return checkpointSpans{spans: connector.SpansUnder(ctx, "github.com/ferrykafka/ferry/sessions"), session: sessionID}
}

// begin starts the span of checkpoint id, whose id is higher than any
// before.
func (c *checkpointSpans) begin(id int64, attrs ...attribute.KeyValue) trace.Span {
	if len(c.open) == maxCheckpointSpans {
		endCheckpoint(c.open[0].span, outcomeNotCompleted, nil)
		c.open = c.open[1:]
	}
	span := c.spans.Start("ferry.checkpoint", append(attrs, connector.AttrCheckpointID.Int64(id), connector.AttrSessionID.String(c.session))...)
	c.open = append(c.open, checkpointSpan{id, span})
	return span
}

// take removes the spans of the checkpoints up to id, ends those before id
// with outcome older, and returns id's, nil when it has none.
func (c *checkpointSpans) take(id int64, older string) trace.Span {
	var span trace.Span
	n := 0
	for ; n < len(c.open) && c.open[n].id <= id; n++ {
		if c.open[n].id == id {
			span = c.open[n].span
		} else {
			endCheckpoint(c.open[n].span, older, nil)
		}
	}
	c.open = c.open[n:]
	return span
}

// end ends the spans of the checkpoints up to id: id's with outcome and
// err, those before with outcome older.
func (c *checkpointSpans) end(id int64, outcome, older string, err error) {
	endCheckpoint(c.take(id, older), outcome, err)
}

// endLatest ends the span of the latest checkpoint with outcome, or failed
// with err, and leaves the others open.
func (c *checkpointSpans) endLatest(outcome string, err error) {
	if n := len(c.open); n > 0 {
		endCheckpoint(c.open[n-1].span, outcome, err)
		c.open = c.open[:n-1]
	}
}

// endAll ends every open span with outcome.
func (c *checkpointSpans) endAll(outcome string) {
	for _, o := range c.open {
		endCheckpoint(o.span, outcome, nil)
	}
	c.open = nil
}

// endCheckpoint ends a checkpoint span (nil is none) with outcome, or
// failed with err.
func endCheckpoint(span trace.Span, outcome string, err error) {
	if err != nil {
		outcome = outcomeFailed
	}
	connector.EndSpan(span, err, attrOutcome.String(outcome))
}
