package jobstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

func fakeCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func config(c *kfake.Cluster) Config {
	return Config{
		Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()},
		Log:     slog.New(slog.DiscardHandler),
	}
}

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client is a plain client of the cluster, closed with the test.
func client(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func admin(t *testing.T, c *kfake.Cluster) *kadm.Client { return kadm.NewClient(client(t, c)) }

// wantInvalid fails the test unless err is a *connector.InvalidError.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var invalid *connector.InvalidError
	if !errors.As(err, &invalid) {
		t.Errorf("%s = %v, want an InvalidError", what, err)
	}
}

// session names the member at index of an operator.
func session(operator string, index int) string { return fmt.Sprintf("%s-%d", operator, index) }

// joinAll joins indexes 0..parallelism-1 of the operator, member i as
// session(operator, i).
func joinAll(t *testing.T, s *Store, job, operator string, parallelism int) {
	t.Helper()
	for i := range parallelism {
		if err := s.Join(testContext(t), job, operator, i, parallelism, "source", session(operator, i)); err != nil {
			t.Fatalf("join %s[%d]: %v", operator, i, err)
		}
	}
}

// putAll stores a state for checkpoint id at every index 0..parallelism-1.
func putAll(t *testing.T, s *Store, job, operator string, parallelism int, id int64) {
	t.Helper()
	for i := range parallelism {
		st := State{Data: fmt.Appendf(nil, "%s/%d@%d", operator, i, id), Session: session(operator, i)}
		if err := s.PutState(testContext(t), job, operator, i, st, id); err != nil {
			t.Fatalf("put %s[%d]@%d: %v", operator, i, id, err)
		}
	}
}

// topicRecords reads the whole topic.
func topicRecords(t *testing.T, c *kfake.Cluster, topic string) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	end, err := admin(t, c).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := end.Lookup(topic, 0)
	cl := client(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset+1 < o.Offset {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestOpenCreatesCompactedTopic(t *testing.T) {
	c := fakeCluster(t)
	openStore(t, config(c))
	adm := admin(t, c)
	ctx := testContext(t)
	topics, err := adm.ListTopics(ctx, DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(topics[DefaultTopic].Partitions); n != 1 {
		t.Fatalf("topic has %d partitions, want 1", n)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := configs.On(DefaultTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, cfg := range rc.Configs {
		if cfg.Key == "cleanup.policy" && cfg.Value != nil {
			policy = *cfg.Value
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy = %q, want compact", policy)
	}
	// A second store finds the topic and uses it.
	openStore(t, config(c))
}

func TestOpenRefusesUnfitTopic(t *testing.T) {
	c := fakeCluster(t)
	adm := admin(t, c)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "deleting"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "three"); err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]string{"deleting": "cleanup.policy=delete", "three": "3 partitions"} {
		cfg := config(c)
		cfg.Topic = topic
		_, err := Open(ctx, cfg)
		var invalid *connector.InvalidError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("topic %s: err = %v, want an InvalidError saying %q", topic, err, want)
		}
	}
}

func TestConfigRules(t *testing.T) {
	c := fakeCluster(t)
	for name, mod := range map[string]func(*Config){
		"no cluster":      func(cfg *Config) { cfg.Cluster = connector.Cluster{} },
		"bad topic":       func(cfg *Config) { cfg.Topic = "a/b" },
		"negative retain": func(cfg *Config) { cfg.Retain = -1 },
	} {
		cfg := config(c)
		mod(&cfg)
		_, err := Open(testContext(t), cfg)
		wantInvalid(t, name, err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx := testContext(t)
	if _, _, ok := s.Latest("j"); ok {
		t.Fatal("a new store has a completed checkpoint")
	}
	joinAll(t, s, "j", "read", 2)
	joinAll(t, s, "j", "write", 1)
	putAll(t, s, "j", "read", 2, 7)
	putAll(t, s, "j", "write", 1, 7)
	c, err := s.Complete(ctx, "j", 7)
	if err != nil {
		t.Fatal(err)
	}
	if c.Operators["read"] != 2 || c.Operators["write"] != 1 || len(c.Operators) != 2 || c.AtMs == 0 {
		t.Fatalf("completion = %+v", c)
	}
	id, latest, ok := s.Latest("j")
	if !ok || id != 7 || latest.AtMs != c.AtMs {
		t.Fatalf("Latest = %d %+v %v, want 7", id, latest, ok)
	}
	states := s.States("j", "read", 7)
	if len(states) != 2 {
		t.Fatalf("States = %+v, want 2", states)
	}
	for i, st := range states {
		if st.Index != i || string(st.Data) != fmt.Sprintf("read/%d@7", i) || st.Session != session("read", i) ||
			st.Parallelism != 2 || st.Kind != "source" || st.AtMs == 0 {
			t.Errorf("state %d = %+v", i, st)
		}
	}
	if got := s.States("j", "other", 7); got != nil {
		t.Errorf("States of an operator outside the completion = %+v", got)
	}
	if _, _, ok := s.Latest("k"); ok {
		t.Error("another job has a completed checkpoint")
	}
}

func TestCompleteRefusesMissingIndex(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx := testContext(t)
	joinAll(t, s, "j", "read", 3)
	for _, i := range []int{0, 2} {
		if err := s.PutState(ctx, "j", "read", i, State{Session: session("read", i)}, 1); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Complete(ctx, "j", 1)
	var incomplete *IncompleteError
	if !errors.As(err, &incomplete) || incomplete.Operator != "read" || incomplete.Index != 1 || incomplete.Parallelism != 3 {
		t.Fatalf("Complete = %v, want an IncompleteError for read index 1", err)
	}
	if !strings.Contains(err.Error(), `operator "read" index 1`) {
		t.Errorf("message %q does not name the operator and index", err)
	}
	if err := s.PutState(ctx, "j", "read", 1, State{Session: session("read", 1)}, 1); err != nil {
		t.Fatal(err)
	}
	first, err := s.Complete(ctx, "j", 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Complete(ctx, "j", 1)
	if err != nil || again.AtMs != first.AtMs || again.Operators["read"] != 3 {
		t.Fatalf("Complete again = %+v, %v; want the stored %+v", again, err, first)
	}
	putAll(t, s, "j", "read", 3, 3)
	if _, err := s.Complete(ctx, "j", 3); err != nil {
		t.Fatal(err)
	}
	var order *OrderError
	if _, err := s.Complete(ctx, "j", 2); !errors.As(err, &order) || order.Last != 3 {
		t.Errorf("Complete(2) after 3 = %v, want an OrderError", err)
	}
	if err := s.PutState(ctx, "j", "read", 0, State{Session: session("read", 0)}, 3); !errors.As(err, &order) {
		t.Errorf("PutState for a completed checkpoint = %v, want an OrderError", err)
	}
	if _, err := s.Complete(ctx, "nobody", 1); !errors.As(err, &incomplete) || incomplete.Operator != "" {
		t.Errorf("Complete of a job without members = %v, want an IncompleteError", err)
	}
}

func TestReplacedMemberIsFenced(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx := testContext(t)
	joinAll(t, s, "j", "read", 2)
	putAll(t, s, "j", "read", 2, 1)
	// Index 1 restarts as another session before checkpoint 1 completes:
	// the state its old session left does not count.
	if err := s.Join(ctx, "j", "read", 1, 2, "source", "new"); err != nil {
		t.Fatal(err)
	}
	var incomplete *IncompleteError
	if _, err := s.Complete(ctx, "j", 1); !errors.As(err, &incomplete) || incomplete.Index != 1 {
		t.Fatalf("Complete = %v, want an IncompleteError for index 1", err)
	}
	var fenced *FencedError
	err := s.PutState(ctx, "j", "read", 1, State{Session: session("read", 1)}, 2)
	if !errors.As(err, &fenced) || fenced.Member != "new" {
		t.Fatalf("PutState of the replaced session = %v, want a FencedError", err)
	}
	if err := s.PutState(ctx, "j", "read", 1, State{Session: "never joined"}, 2); !errors.As(err, &fenced) {
		t.Fatalf("PutState of a stranger = %v, want a FencedError", err)
	}
	if err := s.PutState(ctx, "j", "read", 1, State{Session: "new"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx, "j", 1); err != nil {
		t.Fatal(err)
	}
}

func TestTwoFerries(t *testing.T) {
	c := fakeCluster(t)
	a := openStore(t, config(c))
	b := openStore(t, config(c))
	ctx := testContext(t)
	joinAll(t, a, "j", "read", 2)
	putAll(t, a, "j", "read", 2, 1)

	seen := make(chan time.Time, 1)
	waitErr := make(chan error, 1)
	go func() {
		id, err := b.WaitCompleted(ctx, "j", 0)
		if err == nil && id != 1 {
			err = fmt.Errorf("WaitCompleted = %d, want 1", id)
		}
		seen <- time.Now()
		waitErr <- err
	}()
	time.Sleep(50 * time.Millisecond) // b waits before the completion is written
	if _, err := a.Complete(ctx, "j", 1); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	at := <-seen
	if err := <-waitErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("the other ferry saw the completion %v after it was written", at.Sub(done))
	if lag := at.Sub(done); lag > time.Second {
		t.Errorf("the other ferry saw the completion %v late", lag)
	}
	// b serves a restart: it completes the next checkpoint of the same
	// members (Complete reads to the end first), and a sees it.
	putAll(t, b, "j", "read", 2, 2)
	if _, err := b.Complete(ctx, "j", 2); err != nil {
		t.Fatal(err)
	}
	if id, err := a.WaitCompleted(ctx, "j", 1); err != nil || id != 2 {
		t.Fatalf("a.WaitCompleted = %d, %v; want 2", id, err)
	}
	if got := a.States("j", "read", 2); len(got) != 2 || string(got[1].Data) != "read/1@2" {
		t.Fatalf("a.States = %+v", got)
	}
	// A member that restarts through a after the completion makes the
	// operator open: b, reading to the end first, refuses another
	// parallelism.
	if err := a.Join(ctx, "j", "read", 0, 2, "source", session("read", 0)); err != nil {
		t.Fatal(err)
	}
	var conflict *ConflictError
	if err := b.Join(ctx, "j", "read", 0, 3, "source", "x"); !errors.As(err, &conflict) || conflict.Open != 2 {
		t.Fatalf("b.Join with parallelism 3 = %v, want a ConflictError", err)
	}
}

func TestWaitCompletedEnds(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	if _, err := s.WaitCompleted(ctx, "j", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitCompleted = %v, want the deadline", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Close()
	}()
	if _, err := s.WaitCompleted(testContext(t), "j", 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitCompleted = %v, want ErrClosed", err)
	}
	if err := s.Join(testContext(t), "j", "o", 0, 1, "", "s"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Close = %v, want ErrClosed", err)
	}
}

func TestRebuildFromTopic(t *testing.T) {
	c := fakeCluster(t)
	cfg := config(c)
	a := openStore(t, cfg)
	ctx := testContext(t)
	joinAll(t, a, "j", "read", 2)
	joinAll(t, a, "j", "write", 1)
	for id := int64(1); id <= 6; id++ {
		putAll(t, a, "j", "read", 2, id)
		putAll(t, a, "j", "write", 1, id)
		if id < 6 { // 6 stays pending
			if _, err := a.Complete(ctx, "j", id); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantID, want, _ := a.Latest("j")
	a.Close()

	b := openStore(t, cfg) // an empty memory
	id, got, ok := b.Latest("j")
	if !ok || id != wantID || id != 5 || got.AtMs != want.AtMs || got.Operators["read"] != 2 || got.Operators["write"] != 1 {
		t.Fatalf("rebuilt Latest = %d %+v %v, want %d %+v", id, got, ok, wantID, want)
	}
	for _, op := range []string{"read", "write"} {
		if got, want := b.States("j", op, 5), a.States("j", op, 5); fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
			t.Errorf("rebuilt States(%s) = %+v, want %+v", op, got, want)
		}
	}
	for _, old := range []int64{1, 2} { // retention dropped them
		if got := b.States("j", "read", old); len(got) != 0 {
			t.Errorf("rebuilt States at %d = %+v, want none", old, got)
		}
	}
	if got := b.States("j", "read", 6); len(got) != 2 {
		t.Errorf("rebuilt pending States = %+v, want 2", got)
	}
	// The members came back too: checkpoint 6 completes through b.
	if c, err := b.Complete(ctx, "j", 6); err != nil || c.Operators["read"] != 2 {
		t.Fatalf("Complete(6) through the rebuilt store = %+v, %v", c, err)
	}
}

// keys counts the keys the index keeps (tombstones still to be read back
// included).
func keys(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, j := range s.idx.jobs {
		for _, m := range j.states {
			n += len(m)
		}
		n += len(j.completes)
		for _, m := range j.members {
			n += len(m)
		}
	}
	return n
}

func TestRetention(t *testing.T) {
	const (
		checkpoints = 1000
		parallelism = 2
		retain      = 3
	)
	c := fakeCluster(t)
	cfg := config(c)
	cfg.Retain = retain
	s := openStore(t, cfg)
	ctx := testContext(t)
	joinAll(t, s, "j", "read", parallelism)
	for id := int64(1); id <= checkpoints; id++ {
		putAll(t, s, "j", "read", parallelism, id)
		if _, err := s.Complete(ctx, "j", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil { // the tail reads every tombstone back
		t.Fatal(err)
	}
	// The index keeps the members, and the states and completions of the
	// last 3 checkpoints.
	if got, want := keys(s), parallelism+retain*(parallelism+1); got != want {
		t.Errorf("the index keeps %d keys, want %d", got, want)
	}
	for id := int64(checkpoints - retain + 1); id <= checkpoints; id++ {
		if got := s.States("j", "read", id); len(got) != parallelism {
			t.Errorf("States at %d = %d, want %d", id, len(got), parallelism)
		}
	}
	// Every key of the checkpoints before has a tombstone as its last
	// record (kfake may not have compacted the topic).
	last := make(map[string][]byte)
	tombstones := 0
	for _, r := range topicRecords(t, c, DefaultTopic) {
		last[string(r.Key)] = r.Value
		if r.Value == nil {
			tombstones++
		}
	}
	for id := int64(1); id <= checkpoints; id++ {
		keys := []string{completeKey("j", id)}
		for i := range parallelism {
			keys = append(keys, stateKey("j", id, "read", i))
		}
		for _, k := range keys {
			v, ok := last[k]
			if dropped := id <= checkpoints-retain; !ok || (v == nil) != dropped {
				t.Fatalf("key %s: last value %q (present %v), want a tombstone: %v", k, v, ok, dropped)
			}
		}
	}
	t.Logf("%d tombstones for %d dropped checkpoints", tombstones, checkpoints-retain)

	// A new store on the topic rebuilds the same index.
	if got := keys(openStore(t, cfg)); got != parallelism+retain*(parallelism+1) {
		t.Errorf("a rebuilt index keeps %d keys", got)
	}
}

func TestParallelismConflict(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx := testContext(t)
	joinAll(t, s, "j", "read", 4)
	err := s.Join(ctx, "j", "read", 0, 3, "source", "other")
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Open != 4 || conflict.Asked != 3 {
		t.Fatalf("Join with parallelism 3 = %v, want a ConflictError", err)
	}
	if want := `job "j" operator "read" is open with parallelism 4`; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q lacks %q", err, want)
	}
	// Another operator of the job, and the same operator of another job,
	// have their own parallelism.
	joinAll(t, s, "j", "write", 3)
	joinAll(t, s, "k", "read", 3)
	// Rejoining at the open parallelism is fine.
	if err := s.Join(ctx, "j", "read", 2, 4, "source", session("read", 2)); err != nil {
		t.Fatal(err)
	}
	// A completion does not free the members that join after it.
	putAll(t, s, "j", "read", 4, 1)
	putAll(t, s, "j", "write", 3, 1)
	if _, err := s.Complete(ctx, "j", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx, "j", "read", 0, 4, "source", "restarted"); err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx, "j", "read", 0, 5, "source", "rescaled"); !errors.As(err, &conflict) {
		t.Fatalf("Join with parallelism 5 while a member joined after the completion = %v, want a ConflictError", err)
	}
}

func TestRescaleAfterCompletion(t *testing.T) {
	c := fakeCluster(t)
	s := openStore(t, config(c))
	ctx := testContext(t)
	joinAll(t, s, "j", "read", 4)
	putAll(t, s, "j", "read", 4, 1)
	if _, err := s.Complete(ctx, "j", 1); err != nil {
		t.Fatal(err)
	}
	joinAll(t, s, "j", "read", 3) // restore from 1 with 3 readers
	putAll(t, s, "j", "read", 3, 2)
	got, err := s.Complete(ctx, "j", 2)
	if err != nil || got.Operators["read"] != 3 {
		t.Fatalf("Complete(2) = %+v, %v; want parallelism 3", got, err)
	}
	if n := len(s.States("j", "read", 1)); n != 4 {
		t.Errorf("States at 1 = %d, want the 4 of the completion", n)
	}
	if n := len(s.States("j", "read", 2)); n != 3 {
		t.Errorf("States at 2 = %d, want 3", n)
	}
	// The member at index 3 was tombstoned.
	var tomb bool
	for _, r := range topicRecords(t, c, DefaultTopic) {
		if string(r.Key) == memberKey("j", "read", 3) {
			tomb = r.Value == nil
		}
	}
	if !tomb {
		t.Error("the member record of index 3 was not tombstoned")
	}
	// Then up again to 5, and the 3 old states of index 0..2 at a
	// checkpoint that never completed do not count.
	putAll(t, s, "j", "read", 3, 3)
	joinAll(t, s, "j", "read", 5)
	var incomplete *IncompleteError
	if _, err := s.Complete(ctx, "j", 3); !errors.As(err, &incomplete) {
		t.Fatalf("Complete(3) with the old parallelism's states = %v, want an IncompleteError", err)
	}
	putAll(t, s, "j", "read", 5, 3)
	if got, err := s.Complete(ctx, "j", 3); err != nil || got.Operators["read"] != 5 {
		t.Fatalf("Complete(3) = %+v, %v", got, err)
	}
}

func TestBadArguments(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx := testContext(t)
	for _, name := range []string{"", "a/b", "tab\there", "nul\x00", "del\x7f", strings.Repeat("x", 250), "\xff\xfe"} {
		calls := map[string]error{
			"Join job":      s.Join(ctx, name, "o", 0, 1, "source", "s"),
			"Join operator": s.Join(ctx, "j", name, 0, 1, "source", "s"),
			"PutState job":  s.PutState(ctx, name, "o", 0, State{}, 1),
			"PutState op":   s.PutState(ctx, "j", name, 0, State{}, 1),
		}
		_, calls["Complete"] = s.Complete(ctx, name, 1)
		_, calls["WaitCompleted"] = s.WaitCompleted(ctx, name, 0)
		for call, err := range calls {
			wantInvalid(t, fmt.Sprintf("%s with name %q", call, name), err)
		}
	}
	if err := s.Join(ctx, "j", strings.Repeat("x", 249), 0, 1, "source", "s"); err != nil {
		t.Errorf("a 249-byte name is refused: %v", err)
	}
	for name, err := range map[string]error{
		"index at parallelism": s.Join(ctx, "j", "o", 2, 2, "", "s"),
		"negative index":       s.Join(ctx, "j", "o", -1, 2, "", "s"),
		"no parallelism":       s.Join(ctx, "j", "o", 0, 0, "", "s"),
		"negative index put":   s.PutState(ctx, "j", "o", -1, State{}, 1),
		"negative id":          s.PutState(ctx, "j", "o", 0, State{}, -1),
	} {
		wantInvalid(t, name, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openStore(t, config(fakeCluster(t)))
	ctx := testContext(t)
	const parallelism = 8
	joinAll(t, s, "j", "read", parallelism)
	var wg sync.WaitGroup
	for round := int64(1); round <= 5; round++ {
		for i := range parallelism {
			wg.Go(func() {
				st := State{Session: session("read", i)}
				if err := s.PutState(ctx, "j", "read", i, st, round); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() { s.Latest("j"); s.States("j", "read", round-1) })
		}
		wg.Wait()
		if _, err := s.Complete(ctx, "j", round); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSkipsForeignRecords(t *testing.T) {
	c := fakeCluster(t)
	cfg := config(c)
	openStore(t, cfg).Close() // creates the topic
	cl := client(t, c, kgo.DefaultProduceTopic(DefaultTopic))
	ctx := testContext(t)
	for _, r := range []*kgo.Record{
		{Key: []byte("something else"), Value: []byte("x")},
		{Key: []byte(completeKey("j", 1)), Value: []byte("not json")},
		{Key: []byte(memberKey("j", "o", 5)), Value: []byte(`{"parallelism":2}`)},
	} {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, cfg)
	if _, _, ok := s.Latest("j"); ok || keys(s) != 0 {
		t.Fatalf("foreign records made it into the index: %d keys", keys(s))
	}
}
