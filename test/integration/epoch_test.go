package integration

import (
	"fmt"
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

	// Checkpoint 1 commits in the session: its commit at epoch 32766 moves
	// that id to a new producer id. Checkpoint 2 is prepared at epoch 32766
	// and the writer dies: the restore's EndTxn is the one that rolls over.
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	s.write("r1")
	s.checkpoint(1)
	s.commit(1)
	s.write("r2")
	st := s.checkpoint(2)
	tx := st.GetTransactions()[0]
	t.Logf("checkpoint 2 prepared %s at producer %d epoch %d", tx.GetTransactionalId(), tx.GetProducerId(), tx.GetProducerEpoch())
	if tx.GetProducerId() != pid1 || tx.GetProducerEpoch() < 32766 {
		t.Fatalf("checkpoint 2 is not at the top of the epoch range: %v", tx)
	}
	s.stream.CloseSend()

	r, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix), Restore: st})
	for id := int64(1); id <= 4; id++ {
		r.write(fmt.Sprintf("r%d", id+2))
		st := r.checkpoint(id)
		tx := st.GetTransactions()[0]
		if tx.GetProducerId() == pid0 || tx.GetProducerId() == pid1 {
			t.Errorf("after the rollover checkpoint %d still runs on an old producer id: %v", id, tx)
		}
		r.commit(id)
	}
	r.close()
	f.waitCommitted(t, topic, "r1,r2,r3,r4,r5,r6")
	d, err := f.admin.DescribeTransactions(testContext(t), tx0(prefix), tx1(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{tx0(prefix), tx1(prefix)} {
		if d[id].ProducerID == pid0 || d[id].ProducerID == pid1 {
			t.Errorf("%s still has producer id %d after the rollover", id, d[id].ProducerID)
		}
	}
}

func tx0(prefix string) string { return prefix + "-0-0" }
func tx1(prefix string) string { return prefix + "-0-1" }
