package jobstore

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want key
	}{
		{stateKey("j", 7, "o", 3), key{kind: kindState, job: "j", id: 7, operator: "o", index: 3}},
		{completeKey("j", 1<<62), key{kind: kindComplete, job: "j", id: 1 << 62}},
		{memberKey("j", "o", 0), key{kind: kindMember, job: "j", operator: "o", index: 0}},
	} {
		got, ok := parseKey(tc.key)
		if !ok || got != tc.want {
			t.Errorf("parseKey(%q) = %+v %v, want %+v", tc.key, got, ok, tc.want)
		}
	}
	if k := stateKey("j", 7, "o", 3); k != "ferry/v1/j/state/00000000000000000007/o/3" {
		t.Errorf("stateKey = %q", k)
	}
	for _, bad := range []string{
		"", "ferry/v1/", "ferry/v2/j/complete/1", "ferry/v1/j/complete/x", "ferry/v1/j/complete/-1",
		"ferry/v1//complete/1", "ferry/v1/j/complete/1/extra", "ferry/v1/j/state/1/o", "ferry/v1/j/state/1//0",
		"ferry/v1/j/member/o/-1", "ferry/v1/j/member/o/1.5", "ferry/v1/j/other/o/1", "ferry/v1/j\x01/complete/1",
	} {
		if k, ok := parseKey(bad); ok {
			t.Errorf("parseKey(%q) = %+v, want refused", bad, k)
		}
	}
}

func value(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A store applies its own writes before the tail reads them back: the index
// must come out as if every record were applied in topic order.
func TestApplyAheadOfTail(t *testing.T) {
	x := newIndex()
	k := key{kind: kindState, job: "j", id: 1, operator: "o", index: 0}
	old := value(t, State{Session: "old"})
	// Offset 5 holds a state, offset 10 its tombstone (written by this
	// store, applied at once), offset 12 a new state (this store's too).
	if err := x.apply(k, nil, 10, false); err != nil {
		t.Fatal(err)
	}
	if err := x.apply(k, old, 5, true); err != nil { // the tail, behind
		t.Fatal(err)
	}
	x.next = 6
	if _, ok := x.state("j", 1, slot{"o", 0}); ok {
		t.Fatal("an older record came back over a tombstone")
	}
	if err := x.apply(k, nil, 10, true); err != nil {
		t.Fatal(err)
	}
	x.next = 11
	if len(x.jobs) != 0 {
		t.Fatalf("the tombstone read back left %+v", x.jobs["j"])
	}
	if err := x.apply(k, value(t, State{Session: "new"}), 12, false); err != nil {
		t.Fatal(err)
	}
	if err := x.apply(k, old, 11, true); err != nil { // another ferry's, before ours
		t.Fatal(err)
	}
	if st, ok := x.state("j", 1, slot{"o", 0}); !ok || st.Session != "new" {
		t.Fatalf("state = %+v %v, want the newest", st, ok)
	}
	// A write the tail has passed is not applied again.
	x.next = 20
	if err := x.apply(k, nil, 13, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := x.state("j", 1, slot{"o", 0}); !ok {
		t.Fatal("a write the tail had read was applied again")
	}
}

// The members a compacted topic rebuilds are those of the whole history.
func TestMembersSurviveCompaction(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		full, compacted := newIndex(), newIndex()
		type rec struct {
			k   key
			v   []byte
			off int64
		}
		var log []rec
		latest := map[key]int{}
		for off := range 12 {
			p := 2 + rng.IntN(2)
			k := key{kind: kindMember, job: "j", operator: "o", index: rng.IntN(p)}
			var v []byte
			if rng.IntN(6) == 0 {
				k = key{kind: kindComplete, job: "j", id: int64(off)}
				v = value(t, Completion{})
			} else if rng.IntN(8) > 0 {
				v = value(t, Member{Parallelism: p, Session: fmt.Sprint(off)})
			}
			latest[k] = len(log)
			log = append(log, rec{k, v, int64(off)})
		}
		for i, r := range log {
			if err := full.apply(r.k, r.v, r.off, true); err != nil {
				t.Fatal(err)
			}
			if latest[r.k] == i {
				if err := compacted.apply(r.k, r.v, r.off, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, p := range []int{2, 3} {
			o1, s1, ok1 := full.admit("j", "o", p)
			o2, s2, ok2 := compacted.admit("j", "o", p)
			if o1 != o2 || ok1 != ok2 || fmt.Sprint(s1) != fmt.Sprint(s2) {
				t.Fatalf("round %d: admit(%d) = %d %v %v from the history, %d %v %v compacted", round, p, o1, s1, ok1, o2, s2, ok2)
			}
		}
		p1, m1 := full.current("j", "o")
		p2, m2 := compacted.current("j", "o")
		if p1 != p2 || fmt.Sprint(m1) != fmt.Sprint(m2) {
			t.Fatalf("round %d: members %d %v from the history, %d %v compacted", round, p1, m1, p2, m2)
		}
	}
}

func TestNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"job": true, "Flink job #1 (prod)": true, "日本": true, "a.b-c_d": true,
		"": false, "a/b": false, "a\nb": false, "\u0085": false, "\xc3": false,
	} {
		if got := checkName(name) == ""; got != ok {
			t.Errorf("checkName(%q) = %q", name, checkName(name))
		}
	}
}
