package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
)

// ownBroker is a Kafka broker of one test's own, started by
// test/kafka/with-kafka.sh as a child process, so that the test can stop,
// kill and restart it without disturbing the broker the other tests share.
type ownBroker struct {
	t       *testing.T
	addr    string // PLAINTEXT listener
	pidFile string // the broker's pid; the restart script rewrites it
	restart string // the harness's restart script of this broker
}

// startOwnBroker starts the broker and stops it when the test ends.
func startOwnBroker(t *testing.T) *ownBroker {
	t.Helper()
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	// The command prints the broker's variables, then waits for its stdin
	// to close: the harness then stops the broker and exits 0.
	cmd := exec.Command("../kafka/with-kafka.sh", "sh", "-c",
		`env >"$FERRY_OWN_BROKER_ENV.tmp" && mv "$FERRY_OWN_BROKER_ENV.tmp" "$FERRY_OWN_BROKER_ENV" && exec cat >/dev/null`)
	cmd.Env = append(os.Environ(), "FERRY_OWN_BROKER_ENV="+envFile)
	logFile, err := os.Create(filepath.Join(dir, "harness.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	out := func() string { raw, _ := os.ReadFile(logFile.Name()); return string(raw) }
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b := &ownBroker{t: t}
	t.Cleanup(func() {
		b.signal(syscall.SIGCONT) // a stopped broker would not stop
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the test's broker harness ended with %v:\n%s", err, out())
			}
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGTERM)
			t.Errorf("the test's broker harness did not stop within 40 s:\n%s", out())
			<-exited
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if env, err := os.ReadFile(envFile); err == nil {
			vars := map[string]string{}
			for _, line := range strings.Split(string(env), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					vars[k] = v
				}
			}
			b.addr, b.restart = vars["FERRY_TEST_KAFKA"], vars["FERRY_TEST_KAFKA_RESTART"]
			if b.addr == "" || b.restart == "" {
				t.Fatalf("the harness exported no FERRY_TEST_KAFKA or FERRY_TEST_KAFKA_RESTART:\n%s", env)
			}
			b.pidFile = filepath.Join(filepath.Dir(b.restart), "broker.pid")
			return b
		}
		select {
		case err := <-exited:
			t.Fatalf("the test's broker harness ended (%v) before the broker was up:\n%s", err, out())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test's broker was not up within 90 s:\n%s", out())
		}
	}
}

// signal sends sig to the broker process (its pid as the harness wrote it).
func (b *ownBroker) signal(sig syscall.Signal) {
	raw, err := os.ReadFile(b.pidFile)
	if err != nil {
		b.t.Errorf("reading the broker's pid: %v", err)
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		b.t.Errorf("the broker's pid file holds %q", raw)
		return
	}
	if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
		b.t.Errorf("sending %v to the broker (pid %d): %v", sig, pid, err)
	}
}

// restartBroker starts the broker again on its ports and data (after
// SIGKILL) and waits until it listens.
func (b *ownBroker) restartBroker() {
	b.t.Helper()
	if out, err := exec.Command(b.restart).CombinedOutput(); err != nil {
		b.t.Fatalf("restarting the broker: %v\n%s", err, out)
	}
}

// sourceFeed collects what a source stream sends, on its own goroutine.
type sourceFeed struct {
	mu       sync.Mutex
	records  []*ferryv1.Record
	statuses []*ferryv1.KafkaStatus
	arrived  []time.Time // when each of statuses arrived
	err      error
	changed  chan struct{} // receives (without blocking) after each message
}

func (f *ferry) readFeed(t *testing.T, ctx context.Context, open *ferryv1.OpenSource) *sourceFeed {
	t.Helper()
	stream, err := f.source.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSource(open)); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetOpened() == nil {
		t.Fatalf("open: %v %v", resp, err)
	}
	feed := &sourceFeed{changed: make(chan struct{}, 1)}
	go func() {
		for {
			resp, err := stream.Recv()
			feed.mu.Lock()
			switch {
			case err != nil:
				feed.err = err
			case resp.GetRecords() != nil:
				feed.records = append(feed.records, resp.GetRecords().GetRecords()...)
			case resp.GetKafkaStatus() != nil:
				feed.statuses = append(feed.statuses, resp.GetKafkaStatus())
				feed.arrived = append(feed.arrived, time.Now())
			}
			feed.mu.Unlock()
			select {
			case feed.changed <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return feed
}

// await waits until ok holds for the feed, at most within, and fails the
// test (saying what) when it does not or the stream ended.
func (s *sourceFeed) await(t *testing.T, within time.Duration, what string, ok func(records []*ferryv1.Record, statuses []*ferryv1.KafkaStatus) bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		s.mu.Lock()
		done, err, n := ok(s.records, s.statuses), s.err, len(s.records)
		statuses := fmt.Sprint(s.statuses)
		s.mu.Unlock()
		if done {
			return
		}
		if err != nil {
			t.Fatalf("waiting for %s: the source ended: %v", what, err)
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s within %v (%d records, statuses %s)", what, within, n, statuses)
		}
	}
}

// status returns the i-th kafka_status received, and when it arrived.
func (s *sourceFeed) status(i int) (*ferryv1.KafkaStatus, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[i], s.arrived[i]
}

// lastStatus is ok for await when the last kafka_status says available.
func lastStatus(available bool, count int) func([]*ferryv1.Record, []*ferryv1.KafkaStatus) bool {
	return func(_ []*ferryv1.Record, st []*ferryv1.KafkaStatus) bool {
		return len(st) == count && st[count-1].GetAvailable() == available
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// flush takes checkpoint id of an AT_LEAST_ONCE sink and checks it was
// answered with flushed.
func (s *sinkSession) flush(id int64) {
	s.t.Helper()
	if fl := s.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}).GetFlushed(); fl.GetCheckpointId() != id {
		s.t.Fatalf("checkpoint %d answered %v", id, fl)
	}
}

// failsUnavailable writes values and a checkpoint while Kafka cannot take
// them, and checks that the session fails with UNAVAILABLE naming addr no
// earlier than the delivery timeout and not much later.
func (s *sinkSession) failsUnavailable(timeout time.Duration, addr string, vals []string) {
	s.t.Helper()
	start := time.Now()
	s.write(vals...)
	s.seq++
	if err := s.stream.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: s.seq}}}); err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.stream.Recv()
	elapsed := time.Since(start)
	st := status.Convert(err)
	if err == nil || st.Code() != codes.Unavailable || !strings.Contains(st.Message(), addr) {
		s.t.Fatalf("the sink answered %v, %v; want UNAVAILABLE naming the broker %s", resp, err, addr)
	}
	if elapsed < timeout-100*time.Millisecond || elapsed > timeout+3*time.Second {
		s.t.Errorf("the sink failed after %v; want by its delivery.timeout.ms of %v", elapsed, timeout)
	}
	s.t.Logf("sink after %v: %v", elapsed.Round(time.Millisecond), st.Message())
}

func (f *ferry) healthIs(t *testing.T, want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := healthpb.NewHealthClient(f.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v (%v), want %v within %v", resp.GetStatus(), err, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrokerHangsAndDies stops a broker (SIGSTOP), resumes it, kills it
// (SIGKILL) and restarts it under an open source and AT_LEAST_ONCE sinks:
// the source keeps its session, sends kafka_status unavailable within its
// bound and available when the broker answers again, and reads every record
// of the topic exactly once; each sink that cannot deliver fails with
// UNAVAILABLE naming the broker by its delivery.timeout.ms; health is
// NOT_SERVING meanwhile; every record a checkpoint acknowledged is there.
func TestBrokerHangsAndDies(t *testing.T) {
	b := startOwnBroker(t)
	f := startFerryWith(t, func(cfg *server.Config) {
		cfg.Clusters = map[string]connector.Cluster{"default": {BootstrapServers: []string{b.addr}}}
	})
	kc, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	f.admin = kadm.NewClient(kc)
	topic := f.createTopic(t, 2)
	f.healthIs(t, healthpb.HealthCheckResponse_SERVING, 10*time.Second)

	const (
		bound    = 2 * time.Second        // kafka.status.unavailable.after.ms
		fetchMax = 500 * time.Millisecond // fetch.max.wait.ms
		delivery = 3 * time.Second        // delivery.timeout.ms
	)
	// A fetch is overdue fetch.max.wait.ms plus a second after it was sent;
	// then the bound runs, and the session looks a fifth of it later.
	reportWithin := fetchMax + time.Second + bound + bound/5 + 2*time.Second
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	feed := f.readFeed(t, ctx, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{topic}},
		Properties: map[string]string{
			"fetch.max.wait.ms":                 strconv.Itoa(int(fetchMax.Milliseconds())),
			"kafka.status.unavailable.after.ms": strconv.Itoa(int(bound.Milliseconds())),
		},
	}})
	sinkSpec := &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{
		DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE, DefaultTopic: topic,
		Properties: map[string]string{"delivery.timeout.ms": strconv.Itoa(int(delivery.Milliseconds()))},
	}}
	var acknowledged []string
	// writeAcknowledged opens a sink, writes n records and checkpoints
	// them, and waits until the source has read them.
	writeAcknowledged := func(prefix string, n int) *sinkSession {
		k, _ := f.openSink(t, sinkSpec)
		k.write(numbered(prefix, n)...)
		k.flush(2)
		acknowledged = append(acknowledged, numbered(prefix, n)...)
		feed.await(t, 20*time.Second, "the records "+prefix+"-*", func(recs []*ferryv1.Record, _ []*ferryv1.KafkaStatus) bool {
			read := 0
			for _, r := range recs {
				if strings.HasPrefix(string(r.GetValue()), prefix+"-") {
					read++
				}
			}
			return read == n
		})
		return k
	}

	// breaks signals the broker under sink k and the source: k, writing
	// records of prefix, fails with UNAVAILABLE naming the broker by its
	// delivery timeout, and the source sends its n-th kafka_status,
	// unavailable, naming the broker, since about the signal, and keeps
	// its session.
	breaks := func(sig syscall.Signal, k *sinkSession, prefix string, n int) {
		b.signal(sig)
		at := time.Now()
		k.failsUnavailable(delivery, b.addr, numbered(prefix, 50))
		feed.await(t, reportWithin, fmt.Sprintf("kafka_status unavailable after %v", sig), lastStatus(false, n))
		st, arrived := feed.status(n - 1)
		t.Logf("source told %v after %v, failing since %+dms: %v", arrived.Sub(at).Round(time.Millisecond), sig, st.GetSinceMs()-at.UnixMilli(), st.GetError())
		if arrived.Sub(at) > reportWithin {
			t.Errorf("kafka_status unavailable arrived %v after %v; want within %v", arrived.Sub(at), sig, reportWithin)
		}
		if !strings.Contains(st.GetError(), b.addr) || st.GetSinceMs() < at.Add(-time.Second).UnixMilli() || st.GetSinceMs() > arrived.UnixMilli()-bound.Milliseconds() {
			t.Errorf("kafka_status %v: want the broker %s named, failing since the %v (%d) and for the bound at least", st, b.addr, sig, at.UnixMilli())
		}
		f.healthIs(t, healthpb.HealthCheckResponse_NOT_SERVING, 10*time.Second)
	}

	// 1. Healthy: a flushed checkpoint, read by the source.
	k1 := writeAcknowledged("a", 100)

	// 2. The broker hangs.
	breaks(syscall.SIGSTOP, k1, "b", 1)

	// 3. It resumes: the source says available and reads on.
	b.signal(syscall.SIGCONT)
	feed.await(t, 20*time.Second, "kafka_status available after SIGCONT", lastStatus(true, 2))
	f.healthIs(t, healthpb.HealthCheckResponse_SERVING, 20*time.Second)
	k2 := writeAcknowledged("c", 50)

	// 4. The broker dies: its connections are refused.
	breaks(syscall.SIGKILL, k2, "d", 3)

	// 5. It restarts on its data: the source says available and reads on.
	b.restartBroker()
	feed.await(t, 30*time.Second, "kafka_status available after the restart", lastStatus(true, 4))
	f.healthIs(t, healthpb.HealthCheckResponse_SERVING, 20*time.Second)
	writeAcknowledged("e", 20).close()

	// The source read the topic exactly: every record once, in offset order
	// per partition, as a plain consumer reads it now.
	feed.mu.Lock()
	got := append([]*ferryv1.Record(nil), feed.records...)
	feed.mu.Unlock()
	want := readTopic(t, b.addr, topic)
	if g, w := recordKeys(got), recordKeys(want); g != w {
		t.Fatalf("the source read\n%s\nthe topic holds\n%s", g, w)
	}
	have := map[string]bool{}
	for _, r := range want {
		have[string(r.GetValue())] = true
	}
	for _, v := range acknowledged {
		if !have[v] {
			t.Errorf("record %q was acknowledged by a checkpoint and is not in the topic", v)
		}
	}
	t.Logf("the topic holds %d records: %d acknowledged, the rest written by failed sinks before they failed", len(want), len(acknowledged))
}

// readTopic reads every record of topic up to its end with a plain client.
func readTopic(t *testing.T, addr, topic string) []*ferryv1.Record {
	t.Helper()
	ctx := testContext(t)
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	left := 0
	ends.Each(func(o kadm.ListedOffset) { left += int(o.Offset) })
	var out []*ferryv1.Record
	for len(out) < left {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, &ferryv1.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
		})
	}
	return out
}

// recordKeys lists partition, offset and value of recs, per partition in
// the order read.
func recordKeys(recs []*ferryv1.Record) string {
	byPartition := map[int32][]string{}
	for _, r := range recs {
		byPartition[r.GetPartition()] = append(byPartition[r.GetPartition()], fmt.Sprintf("%d:%s", r.GetOffset(), r.GetValue()))
	}
	var w strings.Builder
	bw := bufio.NewWriter(&w)
	for p := int32(0); p < int32(len(byPartition)+1); p++ {
		if l, ok := byPartition[p]; ok {
			fmt.Fprintf(bw, "partition %d: %s\n", p, strings.Join(l, " "))
		}
	}
	bw.Flush()
	return w.String()
}
