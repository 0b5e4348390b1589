package jobstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// The index is the topic's latest record per key, parsed: what compaction
// keeps. Every rule that reads it (which members are current, which
// checkpoint is the latest) is a function of that latest-per-key view and of
// the records' offsets, never of the order in which records were applied, so
// that a ferry that tailed the whole history, one that rebuilt its index from
// a compacted topic, and one that applied its own writes before the tail
// delivered them, all answer alike.

// entry is the latest record of one key.
type entry[T any] struct {
	off int64 // the record's offset in the topic
	// gone marks a tombstone this store wrote and applied before the tail
	// read it back: it keeps an older record of the key, still to come
	// from the tail, from coming back. The tail's tombstone removes it.
	gone bool
	v    T
}

// put applies the record of key k at offset e.off to m: a newer record of k
// already applied wins; a tombstone read by the tail removes k (the tail
// reads in order, so no older record of k can follow).
func put[K comparable, T any](m map[K]entry[T], k K, e entry[T], tail bool) {
	if old, ok := m[k]; ok && old.off > e.off {
		return
	}
	if e.gone && tail {
		delete(m, k)
		return
	}
	m[k] = e
}

// slot is one index of one operator.
type slot struct {
	operator string
	index    int
}

// jobIndex is what the topic holds of one job.
type jobIndex struct {
	states    map[int64]map[slot]entry[State]  // checkpoint id → slot → state
	completes map[int64]entry[Completion]      // checkpoint id → completion
	members   map[string]map[int]entry[Member] // operator → index → member
}

func (j *jobIndex) empty() bool {
	return len(j.states) == 0 && len(j.completes) == 0 && len(j.members) == 0
}

// index is the store's memory of the topic.
type index struct {
	jobs map[string]*jobIndex
	// next is the offset after the last record the tail applied.
	next int64
}

func newIndex() *index { return &index{jobs: make(map[string]*jobIndex)} }

// apply applies the record of key k at offset off; a nil value is a
// tombstone. tail says whether the tail read it (in topic order) or the
// store applies its own write (ahead of the tail, which applies it again).
func (x *index) apply(k key, value []byte, off int64, tail bool) error {
	if !tail && off < x.next {
		return nil // the tail applied it already, and maybe newer records
	}
	j := x.jobs[k.job]
	if j == nil {
		j = &jobIndex{
			states:    make(map[int64]map[slot]entry[State]),
			completes: make(map[int64]entry[Completion]),
			members:   make(map[string]map[int]entry[Member]),
		}
		x.jobs[k.job] = j
	}
	// A value that does not decode counts as a tombstone, as it would for
	// a reader of the compacted topic: the older value of its key is gone.
	var err error
	switch k.kind {
	case kindState:
		var e entry[State]
		e, err = decode[State](value, off)
		m := j.states[k.id]
		if m == nil {
			m = make(map[slot]entry[State])
			j.states[k.id] = m
		}
		put(m, slot{k.operator, k.index}, e, tail)
		if len(m) == 0 {
			delete(j.states, k.id)
		}
	case kindComplete:
		var e entry[Completion]
		e, err = decode[Completion](value, off)
		put(j.completes, k.id, e, tail)
	case kindMember:
		var e entry[Member]
		e, err = decode[Member](value, off)
		if err == nil && !e.gone && (e.v.Parallelism < 1 || k.index >= e.v.Parallelism) {
			e.gone, err = true, fmt.Errorf("member index %d is not below its parallelism %d", k.index, e.v.Parallelism)
		}
		m := j.members[k.operator]
		if m == nil {
			m = make(map[int]entry[Member])
			j.members[k.operator] = m
		}
		put(m, k.index, e, tail)
		if len(m) == 0 {
			delete(j.members, k.operator)
		}
	}
	if j.empty() {
		delete(x.jobs, k.job)
	}
	return err
}

// decode is the entry of a record at off; a tombstone, or a value that does
// not decode (with the error), is gone.
func decode[T any](value []byte, off int64) (entry[T], error) {
	e := entry[T]{off: off, gone: value == nil}
	if value != nil {
		if err := json.Unmarshal(value, &e.v); err != nil {
			return entry[T]{off: off, gone: true}, err
		}
	}
	return e, nil
}

// latest returns the job's newest completed checkpoint and the offset of the
// job's last completion record (the log's order of completions), -1 when
// there is none.
func (x *index) latest(job string) (id int64, c Completion, lastOff int64, ok bool) {
	lastOff = -1
	j := x.jobs[job]
	if j == nil {
		return 0, Completion{}, -1, false
	}
	for cid, e := range j.completes {
		if e.gone {
			continue
		}
		if !ok || cid > id {
			id, c, ok = cid, e.v, true
		}
		lastOff = max(lastOff, e.off)
	}
	return id, c, lastOff, ok
}

// current returns the operator's current members and their parallelism, 0
// when it has none. In offset order, a member whose parallelism differs from
// the one before it replaces all before it (a rescale).
func (x *index) current(job, operator string) (int, map[int]entry[Member]) {
	j := x.jobs[job]
	if j == nil {
		return 0, nil
	}
	all := j.members[operator]
	order := make([]int, 0, len(all))
	for i, e := range all {
		if !e.gone {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool { return all[order[a]].off < all[order[b]].off })
	p, set := 0, make(map[int]entry[Member], len(order))
	for _, i := range order {
		if e := all[i]; e.v.Parallelism != p {
			clear(set)
			p = e.v.Parallelism
		}
		set[i] = all[i]
	}
	return p, set
}

// operators returns the job's operators that have current members, sorted.
func (x *index) operators(job string) []string {
	j := x.jobs[job]
	if j == nil {
		return nil
	}
	var ops []string
	for op, m := range j.members {
		for _, e := range m {
			if !e.gone {
				ops = append(ops, op)
				break
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// state returns the state at checkpoint id of the slot.
func (x *index) state(job string, id int64, s slot) (State, bool) {
	j := x.jobs[job]
	if j == nil {
		return State{}, false
	}
	e, ok := j.states[id][s]
	return e.v, ok && !e.gone
}

// states returns the operator's states at checkpoint id by index; with
// parallelism > 0 only those of indexes below it stored at that parallelism.
func (x *index) states(job, operator string, id int64, parallelism int) []State {
	j := x.jobs[job]
	if j == nil {
		return nil
	}
	var out []State
	for s, e := range j.states[id] {
		if e.gone || s.operator != operator {
			continue
		}
		if parallelism > 0 && (s.index >= parallelism || e.v.Parallelism != parallelism) {
			continue
		}
		st := e.v
		st.Index = s.index
		st.Data = bytes.Clone(st.Data)
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b State) int { return a.Index - b.Index })
	return out
}

// expired returns the keys that retention drops from the job: the states
// and completions of checkpoints older than its retain-th newest completed
// one.
func (x *index) expired(job string, retain int) []string {
	j := x.jobs[job]
	if j == nil {
		return nil
	}
	var done []int64
	for id, e := range j.completes {
		if !e.gone {
			done = append(done, id)
		}
	}
	if len(done) < retain {
		return nil
	}
	slices.Sort(done)
	cutoff := done[len(done)-retain]
	var keys []string
	for _, id := range slices.Sorted(maps.Keys(j.states)) {
		if id >= cutoff {
			break
		}
		for s, e := range j.states[id] {
			if !e.gone {
				keys = append(keys, stateKey(job, id, s.operator, s.index))
			}
		}
	}
	for _, id := range done {
		if id >= cutoff {
			break
		}
		keys = append(keys, completeKey(job, id))
	}
	return keys
}

// completion returns the completion of the job's checkpoint id.
func (x *index) completion(job string, id int64) (Completion, bool) {
	j := x.jobs[job]
	if j == nil {
		return Completion{}, false
	}
	e, ok := j.completes[id]
	if !ok || e.gone {
		return Completion{}, false
	}
	return cloneCompletion(e.v), true
}

// admit decides whether a member with parallelism may join the operator. It
// may not (ok false, open the current parallelism) when a current member with
// another parallelism joined after the job's last completion. stale are the
// indexes, at or above parallelism, of member records to tombstone.
func (x *index) admit(job, operator string, parallelism int) (open int, stale []int, ok bool) {
	p, set := x.current(job, operator)
	if p != 0 && p != parallelism {
		_, _, lastOff, _ := x.latest(job)
		for _, e := range set {
			if e.off > lastOff {
				return p, nil, false
			}
		}
	}
	if j := x.jobs[job]; j != nil {
		for i, e := range j.members[operator] {
			if !e.gone && i >= parallelism {
				stale = append(stale, i)
			}
		}
	}
	slices.Sort(stale)
	return p, stale, true
}

// check returns the completion of checkpoint id of the job, or an
// *IncompleteError when a member stored no state for it.
func (x *index) check(job string, id int64) (Completion, error) {
	ops := x.operators(job)
	if len(ops) == 0 {
		return Completion{}, &IncompleteError{Job: job, Checkpoint: id, Reason: "no operator has joined the job"}
	}
	c := Completion{Operators: make(map[string]int32, len(ops))}
	for _, op := range ops {
		p, members := x.current(job, op)
		for i := range p {
			incomplete := func(format string, args ...any) error {
				return &IncompleteError{Job: job, Checkpoint: id, Operator: op, Index: i, Parallelism: p, Reason: fmt.Sprintf(format, args...)}
			}
			m, ok := members[i]
			if !ok {
				return Completion{}, incomplete("has no member")
			}
			st, ok := x.state(job, id, slot{op, i})
			switch {
			case !ok:
				return Completion{}, incomplete("stored no state (member session %q)", m.v.Session)
			case st.Session != m.v.Session:
				return Completion{}, incomplete("stored no state from its member session %q (the state there is session %q's, which that member replaced)", m.v.Session, st.Session)
			}
		}
		c.Operators[op] = int32(p)
	}
	return c, nil
}
