package sessions

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/source"
)

// TestSourceStatsRules: the figures follow Flink's source reader metrics,
// batch by batch: records and bytes delivered, idle from the end of a
// batch with none waiting, the emit lag from the last record's timestamp
// (to when idleness began), the watermark lag only after a watermark, and
// pending records up to each split's end or stop.
func TestSourceStatsRules(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := &Source{}
	s.stats.init(t0)
	a := source.TopicPartition{Topic: "t", Partition: 0}
	b := source.TopicPartition{Topic: "t", Partition: 1}
	s.stats.addSplits([]source.Split{{TopicPartition: a, Start: 0, Stop: source.NoStop}, {TopicPartition: b, Start: 10, Stop: 15}},
		[]source.TopicPartition{a, b})

	st := s.Stats(t0.Add(2 * time.Second))
	if st.IdleTime != 2*time.Second || st.EmitEventTimeLag != nil || st.WatermarkLag != nil || st.PendingRecords != nil {
		t.Fatalf("before any record: %+v", st)
	}
	if st.Splits[0].Current != 0 || st.Splits[1].Current != 10 || st.Splits[0].Committed != -1 || st.Splits[1].End != -1 {
		t.Fatalf("splits before any record: %+v", st.Splits)
	}

	// Records 0..2 of a are delivered; the fetch saw a's end at 8, b's at 20.
	s.stats.ends([]source.PartitionEnd{{TopicPartition: a, End: 8}, {TopicPartition: b, End: 20}})
	var recs []*kgo.Record
	for i := int64(0); i < 3; i++ {
		recs = append(recs, &kgo.Record{Topic: "t", Partition: 0, Offset: i, Key: []byte("k"), Value: []byte("value"),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}, Timestamp: t0.Add(-5 * time.Second)})
	}
	s.stats.delivered(recs)
	busy := s.Stats(t0.Add(3 * time.Second))
	if busy.RecordsIn != 3 || busy.BytesIn != 24 || busy.IdleTime != 0 || *busy.EmitEventTimeLag != 8*time.Second ||
		busy.Splits[0].Current != 3 || *busy.PendingRecords != 10 {
		t.Fatalf("while delivering: %+v", busy)
	}
	// The batch ends past a control record at 3.
	end := t0.Add(4 * time.Second)
	s.stats.endBatch(source.Batch{
		Moved: []source.SplitState{{Split: source.Split{TopicPartition: a, Stop: source.NoStop}, Next: 4}},
	}, false, end)
	s.stats.watermark.Store(t0.Add(-7 * time.Second).UnixMilli())

	idle := s.Stats(end.Add(time.Second))
	// Pending: a has 8-4, b 15-10 (its stop comes before its end).
	if idle.IdleTime != time.Second || *idle.PendingRecords != 9 {
		t.Fatalf("idle after the batch: %+v", idle)
	}
	// While idle, the lags count to when idleness began, as in Flink.
	if *idle.EmitEventTimeLag != 9*time.Second || *idle.WatermarkLag != 11*time.Second {
		t.Fatalf("lags while idle: emit %v, watermark %v", *idle.EmitEventTimeLag, *idle.WatermarkLag)
	}
	if idle.Splits[0].Current != 4 || idle.Splits[0].End != 8 || idle.Splits[1].End != 20 {
		t.Fatalf("splits after the batch: %+v", idle.Splits)
	}

	// A batch that ends with another waiting keeps the session busy.
	s.stats.delivered([]*kgo.Record{{Topic: "t", Partition: 1, Offset: 10, Timestamp: time.UnixMilli(-1)}})
	s.stats.endBatch(source.Batch{}, true, end)
	// No timestamp: the emit lag keeps the last one's.
	if st := s.Stats(end.Add(time.Minute)); st.IdleTime != 0 || st.RecordsIn != 4 || st.Splits[1].Current != 11 ||
		*st.EmitEventTimeLag != end.Add(time.Minute).Sub(t0.Add(-5*time.Second)) {
		t.Fatalf("with a batch waiting: %+v", st)
	}

	s.stats.committed([]source.SplitState{{Split: source.Split{TopicPartition: a}, Next: 4}})
	s.failed.Add(1)
	st = s.Stats(end)
	if st.CommitsSucceeded != 1 || st.CommitsFailed != 1 || st.Splits[0].Committed != 4 || st.Splits[1].Committed != -1 {
		t.Fatalf("after commits: %+v", st)
	}
}

// TestSourceStatsSession: a source session on an in-process broker counts
// what it delivers and commits, split by split.
func TestSourceStatsSession(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 6; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Value: []byte("abcd")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	settings, err := kafkaconf.Parse(kafkaconf.Consumer, map[string]string{"fetch.max.wait.ms": "50"}, kafkaconf.Files{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSource(ctx, NewRegistry(Limits{}), source.Config{Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()},
		Topics: []string{"t"}, Parallelism: 1, GroupID: "g", Settings: settings}, SourceOptions{CommitOnCheckpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for delivered := 0; delivered < 6; {
		select {
		case p := <-s.Polled():
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			s.BeginBatch(p.Batch)
			s.DeliveredRecords(p.Batch.Records)
			s.EndBatch(p.Batch)
			delivered += len(p.Batch.Records)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	st := s.Stats(time.Now())
	if st.RecordsIn != 6 || st.BytesIn != 24 || st.PendingRecords == nil || *st.PendingRecords != 0 {
		t.Fatalf("after reading everything: %+v", st)
	}
	for _, sp := range st.Splits {
		if sp.Current != 3 || sp.End != 3 || sp.Committed != -1 {
			t.Fatalf("split after reading everything: %+v", sp)
		}
	}
	if _, err := s.Checkpoint(1); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckpointComplete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if r := <-s.Commits(); r.Err != nil {
		t.Fatal(r.Err)
	}
	st = s.Stats(time.Now())
	if st.CommitsSucceeded != 1 || st.CommitsFailed != 0 || st.Splits[0].Committed != 3 || st.Splits[1].Committed != 3 {
		t.Fatalf("after the commit: %+v", st)
	}
}

// TestDeliveredRecordsMoveEachSplitToItsLastRecord: records of several
// partitions, interleaved within one delivery, move each split's position
// (what a checkpoint saves) past its own last record, not another's.
func TestDeliveredRecordsMoveEachSplitToItsLastRecord(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	settings, err := kafkaconf.Parse(kafkaconf.Consumer, nil, kafkaconf.Files{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSource(ctx, NewRegistry(Limits{}), source.Config{Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()},
		Topics: []string{"t"}, Parallelism: 1, Settings: settings}, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The session has its three splits from the start (parallelism 1),
	// each at offset 0.
	rec := func(p int32, off int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: off} }
	s.DeliveredRecords([]*kgo.Record{rec(0, 0), rec(0, 1), rec(1, 5), rec(0, 2), rec(1, 6), rec(1, 7), rec(0, 3)})
	s.DeliveredRecords([]*kgo.Record{rec(1, 8)})
	states, err := s.Checkpoint(1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{0: 4, 1: 9, 2: 0}
	if len(states) != len(want) {
		t.Fatalf("checkpoint states %+v, want 3", states)
	}
	for _, st := range states {
		if st.Next != want[st.Partition] {
			t.Errorf("partition %d: next offset %d, want %d (states %+v)", st.Partition, st.Next, want[st.Partition], states)
		}
	}
}
