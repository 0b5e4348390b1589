package integration

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// TestCheckpointsKeptByFerry runs a job whose source and EXACTLY_ONCE sink
// keep no state on the client: barriers and prepared states are stored by
// ferry, one CompleteCheckpoint commits the group's offsets and the sink's
// transaction, and a second ferry with an empty memory restores the job's
// latest checkpoint (the source resumes after it, nothing lost or
// repeated). Misuse gets clear statuses.
func TestCheckpointsKeptByFerry(t *testing.T) {
	f := startFerry(t)
	in := f.createTopic(t, 2)
	out := f.createTopic(t, 1)
	produceNumbered(t, in, 2, 5) // 10 records
	job := "job-" + in
	group := "g-" + in
	jobOf := func(op string) *ferryv1.JobCheckpoints {
		return &ferryv1.JobCheckpoints{Job: job, Operator: op, RestoreLatest: true}
	}
	srcOpen := func() *ferryv1.OpenSource {
		return &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{in}}, GroupId: group}, Job: jobOf("read")}
	}
	sinkOpen := &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: out, DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE,
		TransactionalIdPrefix: "tx-" + in}, Job: jobOf("write")}
	complete := func(f *ferry, id int64) (*ferryv1.CompleteCheckpointResponse, error) {
		return ferryv1.NewCheckpointServiceClient(f.conn).CompleteCheckpoint(testContext(t), &ferryv1.CompleteCheckpointRequest{Job: job, CheckpointId: id})
	}

	src := f.openSession(t, srcOpen())
	if src.opened.GetRestoredCheckpointId() != 0 || !strings.Contains(src.opened.GetRestoreNote(), "started fresh") {
		t.Fatalf("a new job: opened %v", src.opened)
	}
	snk, opened := f.openSink(t, sinkOpen)
	if opened.GetRestoredCheckpointId() != 0 {
		t.Fatalf("sink opened %v", opened)
	}
	// Copy what the source sent before its barrier, checkpoint both
	// operators at id 1.
	var copied []string
	collect := func(m *ferryv1.ReadResponse) {
		for _, r := range m.GetRecords().GetRecords() {
			copied = append(copied, string(r.GetValue()))
		}
	}
	src.next(func(m *ferryv1.ReadResponse) bool { collect(m); return len(copied) >= 3 })
	src.checkpoint(1)
	barrier := src.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil }, collect).GetBarrier()
	snk.write(copied...)
	snk.checkpoint(1)

	// Completing a checkpoint some stream never answered is refused.
	if _, err := complete(f, 2); status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `operator "read" index 0`) {
		t.Fatalf("completing checkpoint 2: %v", err)
	}
	resp, err := complete(f, 1)
	if err != nil || resp.GetOperators()["read"] != 1 || resp.GetOperators()["write"] != 1 {
		t.Fatalf("completing checkpoint 1: %v %v", resp, err)
	}
	if again, err := complete(f, 1); err != nil || again.GetCheckpointId() != 1 {
		t.Fatalf("completing checkpoint 1 again: %v %v", again, err)
	}
	// The sink commits on the completion and says so.
	if c := snk.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: 2}}}); c.GetCommitted().GetCheckpointId() != 1 {
		t.Fatalf("after the completion the sink answered %v, want committed(1) first", c)
	}
	f.waitCommitted(t, out, strings.Join(copied, ","))
	// The source commits the checkpoint's offsets on the completion.
	if c := src.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted(); c.GetCheckpointId() != 1 || c.GetError() != "" {
		t.Fatalf("source committed %v", c)
	}
	fetched, err := f.admin.FetchOffsets(testContext(t), group)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range barrier.GetState().GetSplits() {
		if o, ok := fetched.Lookup(in, sp.GetPartition()); !ok || o.At != sp.GetNextOffset() {
			t.Errorf("group offset of partition %d: %v, want the barrier's %d", sp.GetPartition(), o, sp.GetNextOffset())
		}
	}
	// The client does not complete a job's checkpoint on a stream itself.
	src.complete(1)
	if err := <-src.errc; status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "CompleteCheckpoint") {
		t.Fatalf("checkpoint_complete on a job's source: %v", err)
	}

	// A second ferry with an empty memory restores the job's latest
	// checkpoint: the source resumes right after the barrier.
	g := startFerry(t)
	src2 := g.openSession(t, srcOpen())
	if src2.opened.GetRestoredCheckpointId() != 1 || !strings.Contains(src2.opened.GetRestoreNote(), "restored checkpoint 1") {
		t.Fatalf("restore on another ferry: opened %v", src2.opened)
	}
	next := map[int32]int64{}
	for _, sp := range barrier.GetState().GetSplits() {
		next[sp.GetPartition()] = sp.GetNextOffset()
	}
	for _, sp := range src2.opened.GetSplits() {
		if sp.GetNextOffset() != next[sp.GetPartition()] {
			t.Errorf("restored split %d starts at %d, want the barrier's %d", sp.GetPartition(), sp.GetNextOffset(), next[sp.GetPartition()])
		}
	}
	var rest []string
	if len(copied) < 10 {
		src2.next(func(m *ferryv1.ReadResponse) bool {
			for _, r := range m.GetRecords().GetRecords() {
				rest = append(rest, string(r.GetValue()))
			}
			return len(copied)+len(rest) >= 10
		})
	}
	seen := map[string]bool{}
	for _, v := range append(append([]string{}, copied...), rest...) {
		if seen[v] {
			t.Errorf("%s read twice across the restore", v)
		}
		seen[v] = true
	}
	if len(seen) != 10 {
		t.Errorf("read %d distinct records across the restore, want 10", len(seen))
	}

	// An unknown job starts fresh and says so; a client-held restore beside
	// a job is refused.
	fresh := g.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{in}}},
		Job: &ferryv1.JobCheckpoints{Job: "no-such-job-" + in, Operator: "read", RestoreLatest: true}})
	if fresh.opened.GetRestoredCheckpointId() != 0 || !strings.Contains(fresh.opened.GetRestoreNote(), "no completed checkpoint") {
		t.Errorf("unknown job: %v", fresh.opened)
	}
	bad := srcOpen()
	bad.Restore = &ferryv1.SourceState{Splits: []*ferryv1.SplitState{{Topic: in}}}
	if st := g.readStatus(t, openSource(bad)); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "open.restore") {
		t.Errorf("restore beside a job: %v %q", st.Code(), st.Message())
	}
	// The same operator at another parallelism while its readers are open.
	other := srcOpen()
	other.Parallelism, other.ReaderIndex = i32(3), 2
	if st := g.readStatus(t, openSource(other)); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "parallelism") {
		t.Errorf("a second parallelism: %v %q", st.Code(), st.Message())
	}
}
