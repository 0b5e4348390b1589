package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// bumpEpoch raises the producer epoch of a transactional id to at least
// target with repeated InitProducerId calls (KIP-360: each bumps the epoch
// by one).
func bumpEpoch(t *testing.T, txnID string, target int16) (int64, int16) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pid, epoch := int64(-1), int16(-1)
	for epoch < target {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &txnID
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = pid, epoch
		resp, err := req.RequestWith(testContext(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if err == kerr.ConcurrentTransactions {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			t.Fatalf("InitProducerId at epoch %d: %v", epoch, err)
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
	}
	return pid, epoch
}

// TestRestoreCommitsAcrossAnEpochRollover prepares transactions whose
// producer epoch is at the top of its range, where Kafka 4's transaction
// protocol version 2 moves the producer to a new producer id at the next
// commit, and checks that commits in the session and after a restore work
// (FLINK-40689, KAFKA-18660).
func TestRestoreCommitsAcrossAnEpochRollover(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	prefix := "roll-" + topic
	start := time.Now()
	pid0, e0 := bumpEpoch(t, prefix+"-0-0", 32765)
	pid1, e1 := bumpEpoch(t, prefix+"-0-1", 32765)
	t.Logf("raised the epochs of two transactional ids to %d and %d in %v", e0, e1, time.Since(start))

	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	var last *ferryv1.SinkState
	sawNewProducer := false
	for id := int64(1); id <= 6; id++ {
		s.write("r" + string(rune('0'+id)))
		last = s.checkpoint(id)
		tx := last.GetTransactions()[len(last.GetTransactions())-1]
		t.Logf("checkpoint %d: %s producer %d epoch %d", id, tx.GetTransactionalId(), tx.GetProducerId(), tx.GetProducerEpoch())
		if tx.GetProducerId() != pid0 && tx.GetProducerId() != pid1 {
			sawNewProducer = true
		}
		if id < 6 {
			s.commit(id)
		}
	}
	s.stream.CloseSend() // dies with checkpoint 6 prepared
	if !sawNewProducer {
		t.Errorf("no epoch rolled over to a new producer id in 6 checkpoints; the test did not reach the top of the epoch range")
	}
	r, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix), Restore: last})
	r.close()
	f.waitCommitted(t, topic, "r1,r2,r3,r4,r5,r6")
}
