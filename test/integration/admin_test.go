package integration

import (
	"testing"
	"time"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// TestAdminListSessionsShowsSplitsAndLag opens a source that read part of a
// topic and committed a checkpoint, and an EXACTLY_ONCE sink with a
// prepared transaction, then asks AdminService.ListSessions: the source's
// splits show the offsets it sent, the group's committed offsets (as Kafka
// has them) and the lag to the partition's end; the sink shows its open
// transactional ids; a closed session is gone from the list.
func TestAdminListSessionsShowsSplitsAndLag(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 10) // 10 records per partition
	group := "admin-" + topic
	sess := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group,
		Properties: map[string]string{"max.poll.records": "1"}}})
	got := 0
	sess.next(func(m *ferryv1.ReadResponse) bool {
		got += len(m.GetRecords().GetRecords())
		return got >= 5
	})
	sess.checkpoint(1)
	barrier := sess.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil }).GetBarrier()
	sess.complete(1)
	sess.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil })
	state := map[int32]int64{}
	for _, sp := range barrier.GetState().GetSplits() {
		state[sp.GetPartition()] = sp.GetNextOffset()
	}

	prefix := "admin-" + topic
	out := f.createTopic(t, 1)
	snk, _ := f.openSink(t, &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: out,
		DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: prefix}})
	snk.write("x")
	snk.checkpoint(1)

	admin := ferryv1.NewAdminServiceClient(f.conn)
	resp, err := admin.ListSessions(testContext(t), &ferryv1.ListSessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var src, sk *ferryv1.SessionInfo
	for _, s := range resp.GetSessions() {
		switch s.GetSessionId() {
		case sess.opened.GetSessionId():
			src = s
		default:
			if s.GetKind() == ferryv1.SessionKind_SESSION_KIND_SINK && s.GetSubscription() == "default topic "+out {
				sk = s
			}
		}
	}
	if src == nil || sk == nil {
		t.Fatalf("ListSessions lacks the source or the sink: %v", resp)
	}
	if src.GetKind() != ferryv1.SessionKind_SESSION_KIND_SOURCE || src.GetGroupId() != group || src.GetCluster() != "default" ||
		src.GetSubscription() != "topics "+topic || src.GetClientAddress() == "" || src.GetLastCheckpointId() != 1 || src.GetError() != "" {
		t.Errorf("source info: %v", src)
	}
	if len(src.GetSplits()) != 2 {
		t.Fatalf("source splits: %v", src.GetSplits())
	}
	for _, sp := range src.GetSplits() {
		if sp.GetEndOffset() != 10 || sp.GetLag() != sp.GetEndOffset()-sp.GetCurrentOffset() || sp.GetCurrentOffset() < state[sp.GetPartition()] {
			t.Errorf("split %d: %v (barrier state next offset %d)", sp.GetPartition(), sp, state[sp.GetPartition()])
		}
		if sp.CommittedOffset == nil || sp.GetCommittedOffset() != state[sp.GetPartition()] {
			t.Errorf("split %d committed %v, want the checkpoint's %d", sp.GetPartition(), sp.CommittedOffset, state[sp.GetPartition()])
		}
	}
	committed, err := f.admin.FetchOffsets(testContext(t), group)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range src.GetSplits() {
		if o, ok := committed.Lookup(topic, sp.GetPartition()); !ok || o.At != sp.GetCommittedOffset() {
			t.Errorf("Kafka has %v committed for partition %d, ListSessions %d", o, sp.GetPartition(), sp.GetCommittedOffset())
		}
	}
	if sk.GetDeliveryGuarantee() != ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE || sk.GetLastCheckpointId() != 1 ||
		len(sk.GetOpenTransactionalIds()) != 2 || sk.GetOpenTransactionalIds()[1] != prefix+"-0-0" {
		t.Errorf("sink info: %v (want the open transaction and the prepared %s-0-0)", sk, prefix)
	}

	snk.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := admin.ListSessions(testContext(t), &ferryv1.ListSessionsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		gone := true
		for _, s := range resp.GetSessions() {
			gone = gone && s.GetSessionId() != sk.GetSessionId()
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed sink %s is still listed", sk.GetSessionId())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
