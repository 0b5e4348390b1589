package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// sinkSession is an open sink stream driven step by step.
type sinkSession struct {
	t      *testing.T
	stream ferryv1.SinkService_WriteClient
	seq    int64
}

func (f *ferry) openSink(t *testing.T, open *ferryv1.OpenSink) (*sinkSession, *ferryv1.SinkOpened) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	t.Cleanup(cancel)
	stream, err := f.sink.Write(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSink(open)); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return &sinkSession{t: t, stream: stream}, resp.GetOpened()
}

func (s *sinkSession) write(values ...string) {
	s.t.Helper()
	s.seq++
	b := &ferryv1.WriteBatch{Sequence: s.seq}
	for _, v := range values {
		b.Records = append(b.Records, &ferryv1.SinkRecord{Value: []byte(v)})
	}
	if err := s.stream.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: b}}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sinkSession) roundTrip(r *ferryv1.WriteRequest) *ferryv1.WriteResponse {
	s.t.Helper()
	if err := s.stream.Send(r); err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.stream.Recv()
	if err != nil {
		s.t.Fatalf("answer to %v: %v", r, err)
	}
	return resp
}

func (s *sinkSession) checkpoint(id int64) *ferryv1.SinkState {
	s.t.Helper()
	p := s.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}).GetPrepared()
	if p == nil || p.GetCheckpointId() != id {
		s.t.Fatalf("checkpoint %d answered %v", id, p)
	}
	return p.GetState()
}

func (s *sinkSession) commit(id int64) {
	s.t.Helper()
	c := s.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Commit{Commit: &ferryv1.CommitCheckpoint{CheckpointId: id}}}).GetCommitted()
	if c == nil || c.GetCheckpointId() != id {
		s.t.Fatalf("commit %d answered %v", id, c)
	}
}

func (s *sinkSession) close() {
	s.t.Helper()
	if c := s.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}).GetClosed(); c == nil {
		s.t.Fatal("no closed")
	}
}

// committedValues reads the topic bounded with read_committed.
func (f *ferry) committedValues(t *testing.T, topic string) string {
	t.Helper()
	open := bounded(topic)
	open.Spec.Properties = map[string]string{"isolation.level": "read_committed"}
	var got []string
	for _, r := range f.readBounded(t, open).records {
		got = append(got, string(r.GetValue()))
	}
	return strings.Join(got, ",")
}

// waitCommitted waits until read_committed sees want: an EndTxn returns
// when the commit is decided; the markers that move the last stable offset
// are written just after.
func (f *ferry) waitCommitted(t *testing.T, topic, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = f.committedValues(t, topic); got == want {
			return
		}
	}
	t.Fatalf("read_committed sees %q, want %q", got, want)
}

func eoSpec(topic, prefix string) *ferryv1.SinkSpec {
	return &ferryv1.SinkSpec{DefaultTopic: topic, DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE,
		TransactionalIdPrefix: prefix}
}

func TestExactlyOncePrepareCommitCloseRestore(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	prefix := "eo-" + topic
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})

	s.write("a", "b")
	st := s.checkpoint(1)
	if len(st.GetTransactions()) != 1 {
		t.Fatalf("state after checkpoint 1: %v", st)
	}
	tx := st.GetTransactions()[0]
	if tx.GetTransactionalId() != prefix+"-0-0" || tx.GetCheckpointId() != 1 || tx.GetProducerId() < 0 || tx.GetTransactionVersion() != 2 {
		t.Fatalf("prepared transaction %v: want id %s-0-0, checkpoint 1, a producer id, transaction version 2 (Kafka 4's default)", tx, prefix)
	}
	if got := f.committedValues(t, topic); got != "" {
		t.Fatalf("read_committed sees %q before the commit", got)
	}
	s.commit(1)
	f.waitCommitted(t, topic, "a,b")
	// An empty transaction is never prepared.
	if st := s.checkpoint(2); len(st.GetTransactions()) != 0 {
		t.Fatalf("checkpoint without records prepared %v", st)
	}
	s.write("c")
	st3 := s.checkpoint(3)
	s.write("aborted-at-close")
	s.close()
	// Checkpoint 3 is prepared but not committed: a restore commits it; the
	// open transaction was aborted at close.
	r, opened := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix), Restore: st3})
	if opened.GetRestoredTransactions() != 1 {
		t.Errorf("restored_transactions = %d, want 1", opened.GetRestoredTransactions())
	}
	r.close()
	f.waitCommitted(t, topic, "a,b,c")
	// Restoring the same checkpoint again is harmless (FLINK-8086).
	again, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix), Restore: st3})
	again.write("d")
	again.checkpoint(1)
	again.commit(1)
	again.close()
	f.waitCommitted(t, topic, "a,b,c,d")
}

// TestSupersededTransactionIsAbortedOnRestore: a writer prepares checkpoints
// 1 and 2 and dies before 2 completes; the restore from checkpoint 1 commits
// it and aborts the transaction of 2 instead of leaving it to block
// read_committed readers until it times out (FLINK-40626).
func TestSupersededTransactionIsAbortedOnRestore(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	prefix := "sup-" + topic
	spec := eoSpec(topic, prefix)
	spec.Properties = map[string]string{"transaction.timeout.ms": "600000"} // would block readers for 10 minutes
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: spec})
	s.write("one")
	st1 := s.checkpoint(1)
	s.write("two")
	s.checkpoint(2)
	s.stream.CloseSend() // the writer dies: no commit, no close
	r, _ := f.openSink(t, &ferryv1.OpenSink{Spec: spec, Restore: st1})
	defer r.close()
	// Without the abort, the transaction of checkpoint 2 would hold the
	// last stable offset back for ten minutes and this would time out.
	f.waitCommitted(t, topic, "one")
}

func TestExactlyOnceTransactionalIDsAreReused(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	prefix := "pool-" + topic
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	ids := map[string]bool{}
	const checkpoints = 1000
	for id := int64(1); id <= checkpoints; id++ {
		s.write(fmt.Sprint(id))
		for _, tx := range s.checkpoint(id).GetTransactions() {
			ids[tx.GetTransactionalId()] = true
		}
		s.commit(id)
	}
	s.close()
	if len(ids) > 2 {
		t.Fatalf("%d checkpoints used %d transactional ids: %v", checkpoints, len(ids), ids)
	}
	listed, err := f.admin.ListTransactions(testContext(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tx := range listed.Sorted() {
		if strings.HasPrefix(tx.TxnID, prefix+"-") {
			n++
		}
	}
	if n > 2 {
		t.Fatalf("the broker knows %d transactional ids of the prefix after %d checkpoints", n, checkpoints)
	}
	if got := strings.Count(f.committedValues(t, topic), ",") + 1; got != checkpoints {
		t.Fatalf("read_committed sees %d records, want %d", got, checkpoints)
	}
}

func TestExpiredTransactionIsDataLoss(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	prefix := "exp-" + topic
	spec := eoSpec(topic, prefix)
	spec.Properties = map[string]string{"transaction.timeout.ms": "1000"}
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: spec})
	s.write("lost")
	st := s.checkpoint(7)
	s.stream.CloseSend()
	// Wait until the broker aborted the transaction for its timeout.
	txid := st.GetTransactions()[0].GetTransactionalId()
	for deadline := time.Now().Add(30 * time.Second); ; {
		d, err := f.admin.DescribeTransactions(testContext(t), txid)
		if err == nil && d[txid].State == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction did not expire: %v %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stt := f.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: spec, Restore: st}))
	if stt.Code() != codes.DataLoss || !strings.Contains(stt.Message(), "checkpoint 7") || !strings.Contains(stt.Message(), txid) {
		t.Fatalf("restoring an expired transaction: %v %q, want DATA_LOSS naming checkpoint 7 and %s", stt.Code(), stt.Message(), txid)
	}
}

func TestTransactionTimeoutAboveBrokerMaximumIsRefused(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	spec := eoSpec(topic, "max-"+topic)
	spec.Properties = map[string]string{"transaction.timeout.ms": "3600000"} // the broker allows 15 minutes
	st := f.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: spec}))
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), `transaction.timeout.ms`) || !strings.Contains(st.Message(), "transaction.max.timeout.ms") {
		t.Fatalf("status %v %q", st.Code(), st.Message())
	}
}

// TestOldProducerEpochNeverCommitsALaterTransaction restores a checkpoint
// whose transaction committed long ago while its transactional id already
// holds a later, uncommitted transaction: the restore must count the old one
// as committed and must not commit the later one (FLINK-8132).
func TestOldProducerEpochNeverCommitsALaterTransaction(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	prefix := "reuse-" + topic
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	s.write("first")
	old := s.checkpoint(1) // on {prefix}-0-0
	s.commit(1)
	s.write("second")
	s.checkpoint(2) // on {prefix}-0-1
	s.commit(2)
	s.write("never")
	later := s.checkpoint(3) // {prefix}-0-0 again, a later producer epoch
	if len(later.GetTransactions()) != 1 || later.GetTransactions()[0].GetTransactionalId() != old.GetTransactions()[0].GetTransactionalId() {
		t.Fatalf("checkpoint 3 did not reuse the transactional id of checkpoint 1: %v then %v", old, later)
	}
	if later.GetTransactions()[0].GetProducerEpoch() == old.GetTransactions()[0].GetProducerEpoch() &&
		later.GetTransactions()[0].GetProducerId() == old.GetTransactions()[0].GetProducerId() {
		t.Fatalf("a reused transactional id kept its producer id and epoch: %v", later)
	}
	s.stream.CloseSend() // dies with checkpoint 3 prepared, never committed

	r, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix), Restore: old})
	r.close()
	f.waitCommitted(t, topic, "first,second")
}

// TestRefusedRecordAbortsTheTransaction: a record Kafka refuses fails an
// EXACTLY_ONCE session with a status naming the batch and the record, and
// the open transaction is aborted: nothing of it becomes visible.
func TestRefusedRecordAbortsTheTransaction(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	prefix := "refused-" + topic
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	s.write("kept")
	s.checkpoint(1)
	s.commit(1)
	if err := s.stream.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 42, Records: []*ferryv1.SinkRecord{
		{Value: []byte("in-the-aborted-transaction")}, {Value: []byte("refused"), Partition: i32(9)},
	}}}}); err != nil {
		t.Fatal(err)
	}
	_ = s.stream.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: 2}}})
	var err error
	for err == nil {
		_, err = s.stream.Recv()
	}
	if st := status.Convert(err); st.Code() == codes.OK || !strings.Contains(st.Message(), "record 1 of batch 42") {
		t.Fatalf("status %v %q, want an error naming record 1 of batch 42", st.Code(), st.Message())
	}
	f.waitCommitted(t, topic, "kept")
	listed, lerr := f.admin.ListTransactions(testContext(t), nil, []string{"Ongoing"})
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, tx := range listed.Sorted() {
		if strings.HasPrefix(tx.TxnID, prefix+"-") {
			t.Errorf("transaction %s is still open after the failure", tx.TxnID)
		}
	}
}
