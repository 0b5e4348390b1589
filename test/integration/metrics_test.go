package integration

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/server/telemetry"
	"github.com/ferrykafka/ferry/server/telemetry/promtest"
)

// startFerryMetrics starts a ferry whose metrics are served as Prometheus
// text, as ferry serve --metrics-listen does, and returns it with the URL
// of its /metrics.
func startFerryMetrics(t *testing.T) (*ferry, string) {
	t.Helper()
	p, err := telemetry.Setup(context.Background(), telemetry.Config{Prometheus: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	hs := httptest.NewServer(p.MetricsHandler())
	t.Cleanup(hs.Close)
	f := startFerryWith(t, func(cfg *server.Config) { cfg.Telemetry = p })
	return f, hs.URL + "/metrics"
}

// sessionLabels selects the series of one session.
func sessionLabels(id string, more ...string) map[string]string {
	l := map[string]string{"session_id": id}
	for i := 0; i+1 < len(more); i += 2 {
		l[more[i]] = more[i+1]
	}
	return l
}

// must returns the value of the one series of name with labels, failing
// the test when there is none.
func must(t *testing.T, s promtest.Scrape, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := s.Value(t, name, labels)
	if !ok {
		t.Fatalf("no series %s%v; ferry series: %v", name, labels, s.Names("ferry_"))
	}
	return v
}

// TestMetricsOfASource scrapes /metrics while a source reads and commits:
// records and bytes in, current and committed offsets per split (committed
// equal to what Kafka's kafka-consumer-groups shows), pending records,
// commits, the emit lag, an idle time that grows while nothing arrives, the
// Kafka client's own metrics; once the session closes, its series are gone.
func TestMetricsOfASource(t *testing.T) {
	f, url := startFerryMetrics(t)
	topic := f.createTopic(t, 2)
	produceNumbered(t, topic, 2, 10)
	group := "metrics-" + topic
	s := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group}})
	id := s.opened.GetSessionId()
	var bytes int
	for got := 0; got < 20; {
		for _, r := range s.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords() {
			bytes += len(r.GetKey()) + len(r.GetValue())
			got++
		}
	}

	m := promtest.Get(t, url)
	src := sessionLabels(id, "group", group, "cluster", "default")
	if got := must(t, m, "ferry_source_records_in_total", src); got != 20 {
		t.Errorf("records in %v, want 20", got)
	}
	if got := must(t, m, "ferry_source_bytes_in_total", src); got != float64(bytes) {
		t.Errorf("bytes in %v, want %d", got, bytes)
	}
	for p := 0; p < 2; p++ {
		split := sessionLabels(id, "topic", topic, "partition", strconv.Itoa(p))
		if cur, com := must(t, m, "ferry_source_current_offset", split), must(t, m, "ferry_source_committed_offset", split); cur != 10 || com != -1 {
			t.Errorf("partition %d before a commit: current %v, committed %v; want 10, -1", p, cur, com)
		}
	}
	if got := must(t, m, "ferry_source_pending_records", src); got != 0 {
		t.Errorf("pending records %v after reading everything, want 0", got)
	}
	// The records' timestamps are an hour old (produceNumbered).
	if lag := must(t, m, "ferry_source_current_emit_event_time_lag_seconds", src); lag < 3000 || lag > 4000 {
		t.Errorf("emit event time lag %vs, want about an hour", lag)
	}
	if got := must(t, m, "ferry_sessions_open", map[string]string{"kind": "source"}); got != 1 {
		t.Errorf("open sources %v, want 1", got)
	}
	if got := must(t, m, "ferry_memory_in_use_bytes", nil); got <= 0 {
		t.Errorf("memory in use %v with a source open", got)
	}
	// register.consumer.metrics is true by default: kotel's fetch counts.
	if got := eventually(t, url, "messaging_kafka_fetch_records_count_total", map[string]string{"topic": topic}, 20); got < 20 {
		t.Errorf("kotel's fetched records of %s: %v, want at least 20", topic, got)
	}

	// Idle: nothing arrives, the idle time grows.
	idle1 := must(t, m, "ferry_source_idle_time_seconds", src)
	time.Sleep(600 * time.Millisecond)
	idle2 := must(t, promtest.Get(t, url), "ferry_source_idle_time_seconds", src)
	if idle2-idle1 < 0.5 {
		t.Errorf("idle time went from %vs to %vs in 600 ms", idle1, idle2)
	}

	// A completed checkpoint commits: committedOffsets is what Kafka shows.
	s.checkpoint(1)
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	s.complete(1)
	if c := s.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted(); c.GetError() != "" {
		t.Fatalf("commit failed: %s", c.GetError())
	}
	m = promtest.Get(t, url)
	out := describeGroup(t, group)
	for p := 0; p < 2; p++ {
		row := groupLine(out, topic, p) // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
		com := must(t, m, "ferry_source_committed_offset", sessionLabels(id, "topic", topic, "partition", strconv.Itoa(p)))
		if row == nil || row[3] != strconv.Itoa(int(com)) || com != 10 {
			t.Errorf("partition %d: committed offset %v, kafka-consumer-groups %v\n%s", p, com, row, out)
		}
	}
	if ok, failed := must(t, m, "ferry_source_commits_succeeded_total", src), must(t, m, "ferry_source_commits_failed_total", src); ok != 1 || failed != 0 {
		t.Errorf("commits succeeded %v, failed %v; want 1, 0", ok, failed)
	}

	// The session closes: every series naming it is gone.
	s.send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Close{Close: &ferryv1.Close{}}})
	for range s.msgs {
	}
	if err := <-s.errc; err != io.EOF {
		t.Fatalf("close: %v", err)
	}
	waitGone(t, url, id)
	if got := must(t, promtest.Get(t, url), "ferry_sessions_open", map[string]string{"kind": "source"}); got != 0 {
		t.Errorf("open sources %v after close, want 0", got)
	}
}

// eventually scrapes url until the series of name with labels add up to
// want, for at most 5 s, and returns the last sum.
func eventually(t *testing.T, url, name string, labels map[string]string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := promtest.Get(t, url).Sum(name, labels)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits until no series names session id; the handler unregisters
// the session as its stream ends, a moment after the client saw the end.
func waitGone(t *testing.T, url, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		names := promtest.Get(t, url).WithLabel("session_id", id)
		if len(names) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("series of closed session %s: %v", id, names)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsPendingRecords: while a slow client holds a source back,
// pendingRecords is the end offset minus the current offset, summed over
// the splits, and the current offsets are what the session delivered.
func TestMetricsPendingRecords(t *testing.T) {
	f, url := startFerryMetrics(t)
	topic := f.createTopic(t, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const perPartition = 150
	value := make([]byte, 16<<10)
	var recs []*kgo.Record
	for p := int32(0); p < 2; p++ {
		for i := 0; i < perPartition; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: value})
		}
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A client with gRPC's smallest windows that reads nothing after
	// opened: ferry's sends block after a few messages.
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSource(&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}}})); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetOpened().GetSessionId()

	// Wait until the session is stuck: the same figures twice in a row.
	var m promtest.Scrape
	var pending float64
	current := map[int]float64{}
	for stable, deadline := 0, time.Now().Add(20*time.Second); stable < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the source never settled: pending %v, current %v", pending, current)
		}
		time.Sleep(200 * time.Millisecond)
		m = promtest.Get(t, url)
		p, ok := m.Value(t, "ferry_source_pending_records", sessionLabels(id))
		cur := map[int]float64{}
		for part := 0; part < 2; part++ {
			cur[part] = must(t, m, "ferry_source_current_offset", sessionLabels(id, "topic", topic, "partition", strconv.Itoa(part)))
		}
		if ok && p == pending && fmt.Sprint(cur) == fmt.Sprint(current) {
			stable++
		} else {
			stable = 0
		}
		pending, current = p, cur
	}
	ends, err := f.admin.ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	ends.Each(func(o kadm.ListedOffset) { want += float64(o.Offset) - current[int(o.Partition)] })
	if pending != want || pending <= 0 || pending >= 2*perPartition {
		t.Fatalf("pending records %v with current offsets %v; end minus current: %v", pending, current, want)
	}

	// The client reads everything: nothing is pending, current is the end.
	for got := 0; got < 2*perPartition; {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got += len(resp.GetRecords().GetRecords())
	}
	m = promtest.Get(t, url)
	if got := must(t, m, "ferry_source_pending_records", sessionLabels(id)); got != 0 {
		t.Errorf("pending records %v after reading everything", got)
	}
	for part := 0; part < 2; part++ {
		if got := must(t, m, "ferry_source_current_offset", sessionLabels(id, "topic", topic, "partition", strconv.Itoa(part))); got != perPartition {
			t.Errorf("partition %d: current offset %v, want %d", part, got, perPartition)
		}
	}
}

// TestMetricsCommitsFailed: a commit Kafka refuses (the user may read the
// topic but not use the group, by Kafka's ACLs) counts in commitsFailed,
// and the committed offsets stay unset.
func TestMetricsCommitsFailed(t *testing.T) {
	f, url := startFerryMetrics(t)
	topic := f.createTopic(t, 1)
	produceNumbered(t, topic, 1, 5)
	user := env(t, "FERRY_TEST_KAFKA_ACL_USER")
	acl := kadm.NewACLs().Allow("User:"+user).AllowHosts().Topics(topic).
		Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	res, err := f.admin.CreateACLs(testContext(t), acl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("creating the ACL: %v", r.Err)
		}
	}
	t.Cleanup(func() { _, _ = f.admin.DeleteACLs(context.Background(), acl) })
	group := "denied-" + topic
	s := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Cluster: &ferryv1.Cluster{BootstrapServers: []string{env(t, "FERRY_TEST_KAFKA_SASL")}},
		Topics:  &ferryv1.TopicList{Topics: []string{topic}}, GroupId: group,
		Properties: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.jaas.config": fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`,
				user, env(t, "FERRY_TEST_KAFKA_ACL_PASSWORD"))},
	}})
	for got := 0; got < 5; {
		got += len(s.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords())
	}
	s.checkpoint(1)
	s.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	s.complete(1)
	c := s.next(func(m *ferryv1.ReadResponse) bool { return m.GetCommitted() != nil }).GetCommitted()
	if !strings.Contains(c.GetError(), "GROUP_AUTHORIZATION_FAILED") {
		t.Fatalf("commit to a denied group: %q, want GROUP_AUTHORIZATION_FAILED", c.GetError())
	}
	m := promtest.Get(t, url)
	src := sessionLabels(s.opened.GetSessionId())
	if ok, failed := must(t, m, "ferry_source_commits_succeeded_total", src), must(t, m, "ferry_source_commits_failed_total", src); ok != 0 || failed != 1 {
		t.Errorf("commits succeeded %v, failed %v; want 0, 1", ok, failed)
	}
	if got := must(t, m, "ferry_source_committed_offset", sessionLabels(s.opened.GetSessionId(), "topic", topic, "partition", "0")); got != -1 {
		t.Errorf("committed offset %v after a failed commit, want -1", got)
	}
}

// TestMetricsOfSinks: numRecordsOut is what Kafka acknowledged (the
// checkpoint's and close's records_written), bytes and send time follow,
// EXACTLY_ONCE sinks count their transactions, register.producer.metrics
// turns the Kafka client's metrics off, refused opens count by reason, and
// a closed sink's series are gone.
func TestMetricsOfSinks(t *testing.T) {
	f, url := startFerryMetrics(t)
	topic := f.createTopic(t, 1)
	w, opened := f.openSink(t, &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic,
		DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE}})
	id := opened.GetSessionId()
	w.write("a", "bb", "ccc")
	w.write("dddd")
	flushed := w.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: 1}}}).GetFlushed()
	if flushed.GetRecordsWritten() != 4 {
		t.Fatalf("flushed %v", flushed)
	}
	m := promtest.Get(t, url)
	snk := sessionLabels(id, "delivery_guarantee", "at_least_once", "cluster", "default")
	if got := must(t, m, "ferry_sink_records_out_total", snk); got != float64(flushed.GetRecordsWritten()) {
		t.Errorf("records out %v, the checkpoint says %d written", got, flushed.GetRecordsWritten())
	}
	if got := must(t, m, "ferry_sink_bytes_out_total", snk); got != 10 {
		t.Errorf("bytes out %v, want 10", got)
	}
	if got := must(t, m, "ferry_sink_records_out_errors_total", snk); got != 0 {
		t.Errorf("records out errors %v", got)
	}
	if got := must(t, m, "ferry_sink_current_send_time_seconds", snk); got <= 0 || got > 10 {
		t.Errorf("send time %vs", got)
	}
	// kotel counts a batch when franz-go has handled its answer, which may
	// be a moment after the records' promises ran.
	if got := eventually(t, url, "messaging_kafka_produce_records_count_total", map[string]string{"topic": topic}, 4); got != 4 {
		t.Errorf("kotel's produced records of %s: %v, want 4", topic, got)
	}

	// EXACTLY_ONCE: a prepared and committed transaction.
	prefix := "metrics-" + topic
	eo, opened := f.openSink(t, &ferryv1.OpenSink{Spec: eoSpec(topic, prefix)})
	eo.write("x")
	eo.checkpoint(1)
	eo.commit(1)
	m = promtest.Get(t, url)
	eoLabels := sessionLabels(opened.GetSessionId(), "delivery_guarantee", "exactly_once", "transactional_id_prefix", prefix)
	for name, want := range map[string]float64{"ferry_sink_transactions_prepared_total": 1, "ferry_sink_transactions_committed_total": 1,
		"ferry_sink_transactions_aborted_total": 0, "ferry_sink_transactions_recovered_total": 0, "ferry_sink_records_out_total": 1} {
		if got := must(t, m, name, eoLabels); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := must(t, m, "ferry_sessions_open", map[string]string{"kind": "sink"}); got != 2 {
		t.Errorf("open sinks %v, want 2", got)
	}
	eo.close()

	// register.producer.metrics=false: no client metrics of this sink.
	quiet := f.createTopic(t, 1)
	q, _ := f.openSink(t, &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: quiet, Properties: map[string]string{"register.producer.metrics": "false"}}})
	q.write("q")
	q.close()
	if got := promtest.Get(t, url).Find("messaging_kafka_produce_records_count_total", map[string]string{"topic": quiet}); len(got) != 0 {
		t.Errorf("client metrics with register.producer.metrics=false: %v", got)
	}

	// Refused opens count by the status they fail with.
	st := f.readStatus(t, openSource(bounded("no-such-topic-"+topic)))
	if got := must(t, promtest.Get(t, url), "ferry_sessions_refused_total", map[string]string{"kind": "source", "reason": "not_found"}); got != 1 {
		t.Errorf("refused sources %v after %v, want 1", got, st)
	}

	// Closed: records_written is numRecordsOut, and the series are gone.
	closed := w.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}).GetClosed()
	if closed.GetRecordsWritten() != 4 {
		t.Errorf("closed %v", closed)
	}
	waitGone(t, url, id)
	if got := promtest.Get(t, url).Find("rpc_server_call_duration_seconds", map[string]string{"rpc_method": "ferry.v1.SinkService/Write"}); len(got) == 0 {
		t.Errorf("no gRPC server metrics (otelgrpc) of Write: %v", promtest.Get(t, url)["rpc_server_call_duration_seconds"])
	}
}
