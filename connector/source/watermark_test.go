package source

import (
	"math"
	"testing"
	"time"
)

var wmT0 = time.Unix(1_700_000_000, 0)

func wmAt(ms int) time.Time { return wmT0.Add(time.Duration(ms) * time.Millisecond) }

// wmStep is one action on a Watermarks followed by an Advance check.
type wmStep struct {
	add, remove, rec string // split topic (partition 0) to add, remove or record on
	ts               int64  // record timestamp for rec
	at               int    // ms since wmT0
	// expected Advance result at at
	wm             int64
	advanced, idle bool
	idleChanged    bool
}

func runWmSteps(t *testing.T, s WatermarkStrategy, steps []wmStep) {
	t.Helper()
	w := NewWatermarks(s)
	for i, st := range steps {
		now := wmAt(st.at)
		if st.add != "" {
			w.AddSplit(st.add, 0, now)
		}
		if st.remove != "" {
			w.RemoveSplit(st.remove, 0)
		}
		if st.rec != "" {
			w.OnRecord(st.rec, 0, st.ts, now)
		}
		wm, adv, idle, ch := w.Advance(now)
		if wm != st.wm || adv != st.advanced || idle != st.idle || ch != st.idleChanged {
			t.Errorf("step %d: Advance = (%d, %v, %v, %v), want (%d, %v, %v, %v)",
				i, wm, adv, idle, ch, st.wm, st.advanced, st.idle, st.idleChanged)
		}
	}
}

const noWM = math.MinInt64

func TestWatermarks(t *testing.T) {
	bounded := WatermarkStrategy{Kind: WatermarkBoundedOutOfOrderness, MaxOutOfOrderness: 500 * time.Millisecond}
	mono := WatermarkStrategy{Kind: WatermarkMonotonous, MaxOutOfOrderness: time.Hour} // delay ignored
	idle := WatermarkStrategy{Kind: WatermarkMonotonous, IdleTimeout: 100 * time.Millisecond}
	for _, tc := range []struct {
		name  string
		s     WatermarkStrategy
		steps []wmStep
	}{
		{"bounded out-of-orderness", bounded, []wmStep{
			{add: "a", wm: noWM},
			{rec: "a", ts: 1000, wm: 499, advanced: true},
			{rec: "a", ts: 3000, wm: 2499, advanced: true},
			{rec: "a", ts: 2000, wm: 2499},
			{wm: 2499},
		}},
		{"monotonous", mono, []wmStep{
			{add: "a", wm: noWM},
			{rec: "a", ts: 1000, wm: 999, advanced: true},
			{rec: "a", ts: 1001, wm: 1000, advanced: true},
			{rec: "a", ts: 1001, wm: 1000},
		}},
		{"min over splits waits for every split", mono, []wmStep{
			{add: "a", wm: noWM},
			{add: "b", wm: noWM},
			{rec: "a", ts: 5000, wm: noWM},
			{rec: "a", ts: 6000, wm: noWM},
			{rec: "b", ts: 2000, wm: 1999, advanced: true},
			{rec: "b", ts: 7000, wm: 5999, advanced: true},
			{rec: "a", ts: 9000, wm: 6999, advanced: true},
		}},
		{"removing the laggard advances", bounded, []wmStep{
			{add: "a", wm: noWM},
			{add: "b", wm: noWM},
			{rec: "a", ts: 5000, wm: noWM},
			{remove: "b", wm: 4499, advanced: true},
			{rec: "b", ts: 1, wm: 4499}, // removed: ignored
			{remove: "nope", wm: 4499},  // unknown: ignored
		}},
		{"removing a split without records advances", mono, []wmStep{
			{add: "a", wm: noWM},
			{add: "b", wm: noWM},
			{rec: "a", ts: 3000, wm: noWM},
			{rec: "b", ts: 1000, wm: 999, advanced: true},
			{add: "c", wm: 999},
			{rec: "b", ts: 4000, wm: 999}, // c has no watermark yet
			{remove: "c", wm: 2999, advanced: true},
		}},
		{"idleness", idle, []wmStep{
			{add: "a", at: 0, wm: noWM},
			{add: "b", at: 0, wm: noWM},
			{rec: "a", ts: 1000, at: 50, wm: noWM},                  // b active without watermark
			{rec: "a", ts: 2000, at: 100, wm: noWM},                 // b inactive exactly 100 ms: not yet idle
			{rec: "a", ts: 3000, at: 101, wm: 2999, advanced: true}, // b idle, watermark follows a
			{rec: "a", ts: 4000, at: 150, wm: 3999, advanced: true},
			{at: 250, wm: 3999},
			{at: 251, wm: 3999, idle: true, idleChanged: true}, // a idle too
			{at: 300, wm: 3999, idle: true},
			{rec: "b", ts: 500, at: 310, wm: 3999, idleChanged: true}, // b back, behind: no regress
			{rec: "b", ts: 1000, at: 320, wm: 3999},
			{rec: "b", ts: 5000, at: 330, wm: 4999, advanced: true}, // a still idle
			{rec: "a", ts: 4500, at: 340, wm: 4999},                 // a back, behind: no regress
			{rec: "a", ts: 8000, at: 350, wm: 4999},
			{rec: "b", ts: 9000, at: 360, wm: 7999, advanced: true},
		}},
		{"idle split without records, then removed", idle, []wmStep{
			{add: "a", at: 0, wm: noWM},
			{at: 101, wm: noWM, idle: true, idleChanged: true},
			{remove: "a", at: 102, wm: noWM, idleChanged: true}, // zero splits: not idle
			{at: 500, wm: noWM},
		}},
		{"kind none", WatermarkStrategy{IdleTimeout: time.Millisecond}, []wmStep{
			{add: "a", wm: noWM},
			{rec: "a", ts: 1000, at: 1, wm: noWM},
			{at: 1000, wm: noWM},
			{rec: "a", ts: 5000, at: 2000, wm: noWM},
		}},
		{"zero splits", idle, []wmStep{
			{wm: noWM},
			{rec: "a", ts: 1000, at: 10, wm: noWM}, // unknown: ignored
			{at: 10_000, wm: noWM},
		}},
		{"no idle timeout never idles", mono, []wmStep{
			{add: "a", wm: noWM},
			{rec: "a", ts: 10, wm: 9, advanced: true},
			{at: 1_000_000_000, wm: 9},
		}},
		{"extreme timestamps saturate", bounded, []wmStep{
			{add: "a", wm: noWM},
			{rec: "a", ts: math.MinInt64 + 3, wm: noWM},
			{rec: "a", ts: 501, wm: 0, advanced: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runWmSteps(t, tc.s, tc.steps) })
	}
}

func TestWatermarksNegativeDelayIsZero(t *testing.T) {
	w := NewWatermarks(WatermarkStrategy{Kind: WatermarkBoundedOutOfOrderness, MaxOutOfOrderness: -time.Second})
	w.AddSplit("t", 3, wmT0)
	w.OnRecord("t", 3, 1000, wmT0)
	if wm, adv, _, _ := w.Advance(wmT0); wm != 999 || !adv {
		t.Fatalf("Advance = (%d, %v), want (999, true)", wm, adv)
	}
}
