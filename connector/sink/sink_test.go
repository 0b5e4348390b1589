package sink

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferrykafka/ferry/connector"
)

func fakeCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func openOn(t *testing.T, c *kfake.Cluster, g Guarantee) Writer {
	t.Helper()
	w, err := Open(context.Background(), Config{
		Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Guarantee: g,
		DefaultTopic: "t", TransactionalIDPrefix: "unit",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// Consumed offsets commit inside a transaction: a writer without one refuses
// them as a bad argument (the server reports INVALID_ARGUMENT), and has no
// transactions to commit.
func TestKafkaWriterRefusesOffsetsAndCommit(t *testing.T) {
	c := fakeCluster(t)
	for _, g := range []Guarantee{None, AtLeastOnce} {
		w := openOn(t, c, g)
		if _, ok := w.(*KafkaWriter); !ok {
			t.Fatalf("guarantee %d: Open returned %T, want *KafkaWriter", g, w)
		}
		var invalid *connector.InvalidError
		if err := w.AddOffsets(context.Background(), "g", []ConsumedOffset{{Topic: "t"}}); !errors.As(err, &invalid) {
			t.Errorf("guarantee %d: AddOffsets = %v, want a *connector.InvalidError", g, err)
		}
		if _, err := Transactional(w); !errors.Is(err, ErrNoTransactions) {
			t.Errorf("guarantee %d: Transactional = %v, want ErrNoTransactions", g, err)
		}
		if err := w.Write(context.Background(), 1, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition}}); err != nil {
			t.Fatal(err)
		}
		prepared, err := w.Checkpoint(context.Background(), 1)
		if err != nil || prepared != nil {
			t.Errorf("guarantee %d: Checkpoint = %v, %v; want no prepared transactions", g, prepared, err)
		}
		if err := w.Finish(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := w.Written(); got != 1 {
			t.Errorf("guarantee %d: Written = %d after Finish, want 1", g, got)
		}
	}
}

// A Kafka refusal of the consumed offsets keeps its *kerr.Error in the
// chain, so that the server maps it by its code rather than to UNKNOWN.
func TestAddOffsetsKeepsKafkaErrors(t *testing.T) {
	c := fakeCluster(t)
	w := openOn(t, c, ExactlyOnce)
	if _, err := Transactional(w); err != nil {
		t.Fatalf("Transactional of an EXACTLY_ONCE writer: %v", err)
	}
	c.ControlKey(int16(kmsg.TxnOffsetCommit), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.TxnOffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewTxnOffsetCommitResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				p.Partition, p.ErrorCode = rp.Partition, kerr.GroupAuthorizationFailed.Code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})
	err := w.AddOffsets(context.Background(), "g", []ConsumedOffset{{Topic: "t", Partition: 0, Offset: 5}})
	if !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("AddOffsets = %v, want it to wrap GROUP_AUTHORIZATION_FAILED", err)
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		t.Fatalf("AddOffsets = %v: no *kerr.Error in the chain", err)
	}
}

func TestKafkaErrClassifies(t *testing.T) {
	var unavailable *connector.UnavailableError
	if err := kafkaErr("op", io.EOF); !errors.As(err, &unavailable) {
		t.Errorf("kafkaErr(io.EOF) = %v, want a *connector.UnavailableError", err)
	}
	for _, cause := range []error{kerr.ProducerFenced, context.Canceled, context.DeadlineExceeded} {
		err := kafkaErr("op", cause)
		if !errors.Is(err, cause) || errors.As(err, &unavailable) {
			t.Errorf("kafkaErr(%v) = %v, want it wrapped as it is", cause, err)
		}
	}
}

// The exactly-once mode prepares a transaction only when it holds records
// (FLINK-31363) and commits the prepared ones up to the completed checkpoint.
func TestExactlyOnceWriterPreparesAndCommits(t *testing.T) {
	ctx := context.Background()
	w := openOn(t, fakeCluster(t), ExactlyOnce)
	eo, err := Transactional(w)
	if err != nil {
		t.Fatal(err)
	}
	if prepared, err := w.Checkpoint(ctx, 1); err != nil || len(prepared) != 0 {
		t.Fatalf("Checkpoint of an empty transaction = %v, %v; want nothing prepared", prepared, err)
	}
	if err := w.Write(ctx, 1, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition}}); err != nil {
		t.Fatal(err)
	}
	prepared, err := w.Checkpoint(ctx, 2)
	if err != nil || len(prepared) != 1 || prepared[0].CheckpointID != 2 || prepared[0].TransactionalID != "unit-0-0" {
		t.Fatalf("Checkpoint = %+v, %v; want transaction unit-0-0 of checkpoint 2", prepared, err)
	}
	if err := eo.Commit(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := w.Written(); got != 1 {
		t.Errorf("Written = %d, want 1", got)
	}
	if prepared, err := w.Checkpoint(ctx, 3); err != nil || len(prepared) != 0 {
		t.Errorf("Checkpoint after the commit = %+v, %v; want nothing left prepared", prepared, err)
	}
	if err := w.Finish(ctx); err != nil {
		t.Errorf("Finish = %v, want nil", err)
	}
}
