package source

import (
	"math"
	"time"
)

// WatermarkKind is a kind of watermark generator (Flink's WatermarkStrategy
// factories). The zero value is WatermarkNone.
type WatermarkKind int

const (
	// WatermarkNone generates no watermarks and no idleness (the default).
	WatermarkNone WatermarkKind = iota
	// WatermarkMonotonous is forMonotonousTimestamps: the watermark of a
	// split is its highest record timestamp minus 1 ms.
	WatermarkMonotonous
	// WatermarkBoundedOutOfOrderness is forBoundedOutOfOrderness: the
	// watermark of a split is its highest record timestamp minus
	// MaxOutOfOrderness minus 1 ms.
	WatermarkBoundedOutOfOrderness
)

// WatermarkStrategy configures the per-split watermark generators of a
// reader. The zero value generates no watermarks.
type WatermarkStrategy struct {
	// Kind is the generator; WatermarkNone by default.
	Kind WatermarkKind
	// MaxOutOfOrderness is the delay of WatermarkBoundedOutOfOrderness,
	// truncated to milliseconds; ignored by other kinds. 0 by default, which
	// behaves like WatermarkMonotonous; negative values count as 0.
	MaxOutOfOrderness time.Duration
	// IdleTimeout is withIdleness: a split with no record for strictly
	// longer than this stops holding the watermark back. 0 (the default)
	// means splits never go idle.
	IdleTimeout time.Duration
}

// wmSplit is the watermark generator and idleness timer of one split.
type wmSplit struct {
	maxTs   int64
	hasTs   bool      // a record has been seen, so maxTs is valid
	lastAct time.Time // last record, or AddSplit when none
	idle    bool
}

// Watermarks combines the per-split watermarks of one reader the way Flink's
// SourceOperator does with per-split watermark generation: the reader's
// watermark is the minimum over active, non-idle splits, and only moves
// forward. It is pure (time is passed in) and not safe for concurrent use.
type Watermarks struct {
	s      WatermarkStrategy
	delay  int64 // ms subtracted from maxTs, before the extra 1 ms
	splits map[TopicPartition]*wmSplit
	last   int64 // last reported watermark; math.MinInt64 when none
	idle   bool  // last reported reader idleness
}

// NewWatermarks returns the watermark state of a reader with no splits.
func NewWatermarks(s WatermarkStrategy) *Watermarks {
	w := &Watermarks{s: s, splits: map[TopicPartition]*wmSplit{}, last: math.MinInt64}
	if s.Kind == WatermarkBoundedOutOfOrderness && s.MaxOutOfOrderness > 0 {
		w.delay = s.MaxOutOfOrderness.Milliseconds()
	}
	return w
}

// AddSplit makes a split active with no watermark yet: until its first
// record (or until it goes idle) it holds the reader's watermark back. Adding
// a split that is already present starts it afresh.
func (w *Watermarks) AddSplit(topic string, partition int32, now time.Time) {
	w.splits[TopicPartition{topic, partition}] = &wmSplit{lastAct: now}
}

// RemoveSplit forgets a finished split so that it no longer holds the
// watermark back nor counts toward reader idleness. Unknown splits are
// ignored.
func (w *Watermarks) RemoveSplit(topic string, partition int32) {
	delete(w.splits, TopicPartition{topic, partition})
}

// OnRecord records the event time (ms) of a record emitted from a split and
// makes the split active again if it was idle. Unknown splits are ignored.
func (w *Watermarks) OnRecord(topic string, partition int32, timestampMs int64, now time.Time) {
	sp := w.splits[TopicPartition{topic, partition}]
	if sp == nil || w.s.Kind == WatermarkNone {
		return
	}
	if !sp.hasTs || timestampMs > sp.maxTs {
		sp.maxTs, sp.hasTs = timestampMs, true
	}
	sp.lastAct, sp.idle = now, false
}

// Advance is Flink's periodic emit at time now. It marks splits idle whose
// timeout has passed and returns the reader's watermark wm (the last reported
// one, math.MinInt64 before any), advanced when wm is newly reported (strictly
// greater than any before), idle for whether every split is idle (false with
// no splits), and idleChanged when idle differs from the previous call's.
// With WatermarkNone it always returns math.MinInt64 and all false.
func (w *Watermarks) Advance(now time.Time) (wm int64, advanced bool, idle bool, idleChanged bool) {
	if w.s.Kind == WatermarkNone {
		return math.MinInt64, false, false, false
	}
	lo, ready, allIdle := int64(math.MaxInt64), true, len(w.splits) > 0
	for _, sp := range w.splits {
		if w.s.IdleTimeout > 0 && now.Sub(sp.lastAct) > w.s.IdleTimeout {
			sp.idle = true
		}
		if sp.idle {
			continue
		}
		allIdle = false
		if !sp.hasTs {
			ready = false
			continue
		}
		if v := w.splitWatermark(sp.maxTs); v < lo {
			lo = v
		}
	}
	idleChanged = allIdle != w.idle
	w.idle = allIdle
	if !allIdle && ready && lo != math.MaxInt64 && lo > w.last {
		w.last, advanced = lo, true
	}
	return w.last, advanced, allIdle, idleChanged
}

// splitWatermark is maxTs - delay - 1, saturating at math.MinInt64.
func (w *Watermarks) splitWatermark(maxTs int64) int64 {
	if maxTs < math.MinInt64+w.delay+1 {
		return math.MinInt64
	}
	return maxTs - w.delay - 1
}
