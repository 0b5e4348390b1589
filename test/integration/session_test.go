package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// session is an open source stream driven step by step by a test.
type session struct {
	t      *testing.T
	stream ferryv1.SourceService_ReadClient
	opened *ferryv1.SourceOpened
	msgs   chan *ferryv1.ReadResponse
	errc   chan error
}

func (f *ferry) openSession(t *testing.T, open *ferryv1.OpenSource) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	t.Cleanup(cancel)
	stream, err := f.source.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSource(open)); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, stream: stream, msgs: make(chan *ferryv1.ReadResponse, 1024), errc: make(chan error, 1)}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				s.errc <- err
				close(s.msgs)
				return
			}
			s.msgs <- m
		}
	}()
	first := s.next(func(m *ferryv1.ReadResponse) bool { return m.GetOpened() != nil })
	s.opened = first.GetOpened()
	return s
}

func (s *session) send(r *ferryv1.ReadRequest) {
	s.t.Helper()
	if err := s.stream.Send(r); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) checkpoint(id int64) {
	s.send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}})
}

func (s *session) complete(id int64) {
	s.send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_CheckpointComplete{CheckpointComplete: &ferryv1.CheckpointComplete{CheckpointId: id}}})
}

// next returns the first message that match accepts, passing the others to
// seen (when not nil). It fails the test if the stream ends or 30 s pass.
func (s *session) next(match func(*ferryv1.ReadResponse) bool, seen ...func(*ferryv1.ReadResponse)) *ferryv1.ReadResponse {
	s.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatalf("stream ended: %v", <-s.errc)
			}
			if match(m) {
				return m
			}
			for _, f := range seen {
				f(m)
			}
		case <-timeout:
			s.t.Fatal("timed out waiting for a message")
		}
	}
}

// describeGroup runs Kafka's own kafka-consumer-groups tool and returns its
// output.
func describeGroup(t *testing.T, group string) string {
	t.Helper()
	cp := os.Getenv("FERRY_TEST_KAFKA_CLASSPATH")
	if cp == "" {
		t.Fatal("FERRY_TEST_KAFKA_CLASSPATH is not set: run through test/kafka/with-kafka.sh")
	}
	out, err := exec.Command("java", "-cp", cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
		"--bootstrap-server", broker(t), "--describe", "--group", group).CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-consumer-groups: %v\n%s", err, out)
	}
	return string(out)
}

// groupLine returns the fields of the tool's row for topic/partition.
func groupLine(out, topic string, partition int) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == topic && f[2] == fmt.Sprint(partition) {
			return f
		}
	}
	return nil
}

func TestOffsetCommitsOnCheckpointComplete(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 10)
	group := "commits-" + topic
	open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group}}
	s := f.openSession(t, open)
	if !s.opened.GetCommitOffsets() {
		t.Fatalf("opened with a group id but committing is off: %q", s.opened.GetCommitDisabledReason())
	}
	got := 0
	for got < 20 {
		got += len(s.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords())
	}
	s.checkpoint(1)
	b := s.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil }).GetBarrier()
	for _, sp := range b.GetState().GetSplits() {
		if sp.GetNextOffset() != 10 {
			t.Fatalf("barrier state %v, want next offset 10 everywhere", b.GetState())
		}
	}
	// Nothing is committed before the checkpoint completes. (A fresh
	// broker may need a moment to elect the group coordinator.)
	for deadline := time.Now().Add(20 * time.Second); ; {
		offs, err := f.admin.FetchOffsets(testContext(t), group)
		if err == nil {
			if len(offs) != 0 {
				t.Fatalf("offsets committed before completion: %v", offs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.complete(1)
	c := s.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted()
	if c.GetCheckpointId() != 1 || c.GetError() != "" || c.GetFailedCommits() != 0 {
		t.Fatalf("committed = %v", c)
	}
	out := describeGroup(t, group)
	for p := 0; p < 2; p++ {
		row := groupLine(out, topic, p) // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
		if row == nil || row[3] != "10" || row[4] != "10" || row[5] != "0" {
			t.Fatalf("kafka-consumer-groups for %s/%d: %v\n%s", topic, p, row, out)
		}
	}

	// More records arrive; checkpoint 2 is taken but not completed: the lag
	// the tool shows is what the committed offsets leave.
	produceNumbered(t, topic, 2, 5)
	got = 0
	for got < 10 {
		got += len(s.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords())
	}
	s.checkpoint(2)
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	out = describeGroup(t, group)
	if row := groupLine(out, topic, 0); row == nil || row[3] != "10" || row[4] != "15" || row[5] != "5" {
		t.Fatalf("lag before completing checkpoint 2: %v\n%s", row, out)
	}

	// Completing an unknown checkpoint is out of order.
	s.complete(7)
	if _, ok := <-s.msgs; ok {
		for range s.msgs {
		}
	}
	if err := <-s.errc; !strings.Contains(err.Error(), "FailedPrecondition") || !strings.Contains(err.Error(), "checkpoint 7") {
		t.Fatalf("completing checkpoint 7: %v", err)
	}
}

func TestFailedCommitIsReportedNotFatalAndSuperseded(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	produceNumbered(t, topic, 1, 4)
	group := "busy-" + topic
	// A live member of a classic group makes commits from outside the
	// group fail (the broker wants its generation and member id).
	member, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, err := f.admin.DescribeGroups(testContext(t), group)
		if err == nil && g[group].State == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never became stable: %v %v", g, err)
		}
		ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
		member.PollFetches(ctx)
		member.AllowRebalance()
		cancel()
	}

	s := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group}})
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil })
	s.checkpoint(1)
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	s.complete(1)
	c := s.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted()
	if c.GetError() == "" || c.GetFailedCommits() != 1 {
		t.Fatalf("commit into a group with a live member: %v, want an error and failed_commits 1", c)
	}
	member.Close() // the member leaves; the group becomes empty
	for {
		g, err := f.admin.DescribeGroups(testContext(t), group)
		if err == nil && g[group].State == "Empty" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never became empty: %v %v", g, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.checkpoint(2)
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	s.complete(2)
	c = s.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted()
	if c.GetError() != "" || c.GetCheckpointId() != 2 || c.GetFailedCommits() != 1 {
		t.Fatalf("second commit: %v, want success that keeps the count of 1 failure", c)
	}
	offs, err := f.admin.FetchOffsets(testContext(t), group)
	if o, ok := offs.Lookup(topic, 0); err != nil || !ok || o.At != 4 {
		t.Fatalf("committed offsets after the later success: %v %v", offs, err)
	}
}

func TestNoGroupMeansNoCommitsAndAutoCommitWithoutCheckpoints(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	produceNumbered(t, topic, 1, 6)
	s := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}}})
	if s.opened.GetCommitOffsets() || !strings.Contains(s.opened.GetCommitDisabledReason(), "no group id") {
		t.Fatalf("without a group id: commit=%v reason=%q", s.opened.GetCommitOffsets(), s.opened.GetCommitDisabledReason())
	}
	off := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: "x",
		Properties: map[string]string{"commit.offsets.on.checkpoint": "false"}}}
	if s := f.openSession(t, off); s.opened.GetCommitOffsets() || !strings.Contains(s.opened.GetCommitDisabledReason(), "commit.offsets.on.checkpoint") {
		t.Fatalf("with commit.offsets.on.checkpoint=false: %v", s.opened)
	}

	group := "auto-" + topic
	auto := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group,
		Properties: map[string]string{"enable.auto.commit": "true", "auto.commit.interval.ms": "100", "commit.offsets.on.checkpoint": "false"}}}
	as := f.openSession(t, auto)
	got := 0
	for got < 6 {
		got += len(as.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		offs, err := f.admin.FetchOffsets(testContext(t), group)
		if o, ok := offs.Lookup(topic, 0); err == nil && ok && o.At == 6 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("auto-commit did not commit offset 6: %v %v", offs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPartitionDiscovery(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	produceNumbered(t, topic, 1, 2)
	prefix := topic + "-pat"
	open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{TopicPattern: strings.ReplaceAll(topic, ".", `\.`) + "(-pat.*)?",
		StartingOffsets: &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Latest_{Latest: &ferryv1.OffsetsInitializer_Latest{}}},
		Properties:      map[string]string{"partition.discovery.interval.ms": "100"}}}
	s := f.openSession(t, open)
	if len(s.opened.GetSplits()) != 1 {
		t.Fatalf("opened with %v", s.opened.GetSplits())
	}
	// A partition added to the topic and a new topic matching the pattern
	// are picked up from earliest, records written before discovery included.
	if _, err := f.admin.CreatePartitions(testContext(t), 2, topic); err != nil {
		t.Fatal(err)
	}
	if resp, err := f.admin.CreateTopic(testContext(t), 1, 1, nil, prefix); err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(testContext(t),
		&kgo.Record{Topic: topic, Partition: 1, Value: []byte("new-partition")},
		&kgo.Record{Topic: prefix, Partition: 0, Value: []byte("new-topic")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	added := map[string]bool{}
	values := map[string]bool{}
	for !(added[topic+"/1"] && added[prefix+"/0"] && values["new-partition"] && values["new-topic"]) {
		m := s.next(func(*ferryv1.ReadResponse) bool { return true })
		for _, sp := range m.GetSplitsAdded().GetSplits() {
			added[fmt.Sprintf("%s/%d", sp.GetTopic(), sp.GetPartition())] = true
			if sp.GetNextOffset() != 0 {
				t.Errorf("discovered split %v does not start at earliest", sp)
			}
		}
		for _, r := range m.GetRecords().GetRecords() {
			key := fmt.Sprintf("%s/%d", r.GetTopic(), r.GetPartition())
			if !added[key] {
				t.Fatalf("record of %s before its split was announced", key)
			}
			values[string(r.GetValue())] = true
		}
	}
	if values["0/0"] || values["0/1"] {
		t.Fatal("latest start read old records of the original partition")
	}
}

func TestBoundedModeForcesDiscoveryOff(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	open := bounded(topic)
	open.Spec.Properties = map[string]string{"partition.discovery.interval.ms": "10"}
	res := f.readBounded(t, open) // ends although discovery was asked for
	if len(res.opened.GetSplits()) != 1 {
		t.Fatalf("splits %v", res.opened.GetSplits())
	}
}

func TestWatermarksAndIdleness(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(p int32, ts int64) {
		t.Helper()
		if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: topic, Partition: p, Timestamp: time.UnixMilli(ts)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	s := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}},
		WatermarkStrategy: &ferryv1.WatermarkStrategy{Kind: ferryv1.WatermarkKind_WATERMARK_KIND_BOUNDED_OUT_OF_ORDERNESS,
			MaxOutOfOrdernessMs: 500, IdleTimeoutMs: i64(1500)}}})
	wm := func() int64 {
		return s.next(func(m *ferryv1.ReadResponse) bool { return m.GetWatermark() != nil }).GetWatermark().GetTimestampMs()
	}
	base := baseTs
	// Both partitions must have records before there is a watermark: the
	// minimum of the two, less the delay and 1.
	produce(0, base+10_000)
	produce(1, base+20_000)
	if got := wm() - base; got != 9_499 {
		t.Fatalf("first watermark base+%d, want base+9499", got)
	}
	produce(0, base+30_000)
	if got := wm() - base; got != 19_499 {
		t.Fatalf("watermark base+%d, want base+19499 (partition 1 holds it back)", got)
	}
	// Partition 1 goes quiet while partition 0 keeps getting records: after
	// the idle timeout partition 1 stops holding the watermark back.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ts := base + 40_000; ; ts++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if err := cl.ProduceSync(testContext(t), &kgo.Record{Topic: topic, Partition: 0, Timestamp: time.UnixMilli(ts)}).FirstErr(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		got := wm() - base
		if got >= 39_499 {
			break
		}
		if got != 19_499 {
			t.Fatalf("watermark base+%d while partition 1 is active, want base+19499", got)
		}
	}
	close(stop)
	<-done
	// Once partition 0 is quiet too, the whole reader is idle.
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetIdle() != nil })
	// A record ends idleness and the watermark moves on from where it was.
	produce(1, base+50_000)
	produce(0, base+60_000)
	if got := wm() - base; got != 49_499 {
		t.Fatalf("watermark after idleness base+%d, want base+49499", got)
	}
}

func TestIsolationLevelHidesAbortedRecords(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	txn, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.TransactionalID("iso-"+topic))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	ctx := testContext(t)
	for _, commit := range []bool{false, true} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		v := "aborted"
		if commit {
			v = "committed"
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ level, want string }{
		{"read_uncommitted", "aborted,committed"},
		{"read_committed", "committed"},
	} {
		open := bounded(topic)
		open.Spec.Properties = map[string]string{"isolation.level": tc.level}
		res := f.readBounded(t, open)
		var got []string
		for _, r := range res.records {
			got = append(got, string(r.GetValue()))
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s read %v, want %s", tc.level, got, tc.want)
		}
	}
}
