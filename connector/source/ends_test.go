package source

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// TestBatchEnds: a batch names the end of each partition it has records
// of, as the fetch saw it: the high watermark, or under read_committed the
// last stable offset, which an open transaction holds back.
func TestBatchEnds(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	plain, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for i := 0; i < 5; i++ {
		if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Three records in a transaction left open: offsets 5..7.
	txn, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"), kgo.TransactionalID("open"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := txn.ProduceSync(ctx, &kgo.Record{Value: []byte("t")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		isolation string
		want      int64
	}{{"read_uncommitted", 8}, {"read_committed", 5}} {
		settings, err := kafkaconf.Parse(kafkaconf.Consumer, map[string]string{"isolation.level": tc.isolation, "fetch.max.wait.ms": "100"}, kafkaconf.Files{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, Config{Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Topics: []string{"t"}, Parallelism: 1, Settings: settings})
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Poll(ctx)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := []PartitionEnd{{TopicPartition{"t", 0}, tc.want}}
		if len(b.Ends) != 1 || b.Ends[0] != want[0] {
			t.Errorf("%s: Ends %v, want %v", tc.isolation, b.Ends, want)
		}
	}
}
