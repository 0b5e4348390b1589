// Package chaos proves exactly-once end to end the way Flink, Kafka and
// franz-go prove it: a numbered sequence goes source -> transform ->
// EXACTLY_ONCE sink through a ferry process that a supervisor SIGKILLs at
// random moments; a driver takes a checkpoint every 200 ms, keeps the states
// of both sides as Flink would, and restores from the last completed
// checkpoint after every crash. The output, read with read_committed, must
// hold every input number exactly once, and no transaction of the prefix may
// be left open.
//
// `make test` runs it short (100,000 records, 5 kills); `make chaos` long:
//
//	go test ./test/chaos -run TestChaos -args -records 1000000 -kills 20 -broker-restarts 2
package chaos

import (
	"context"
	"errors"
	"flag"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

var (
	records    = flag.Int("records", 100_000, "numbered records to send through")
	kills      = flag.Int("kills", 5, "SIGKILLs of the ferry process during the run")
	interval   = flag.Duration("checkpoint-interval", 200*time.Millisecond, "time between checkpoints")
	partitions = flag.Int("partitions", 4, "partitions of the input topic")
	restarts   = flag.Int("broker-restarts", 0, "restarts of the Kafka broker during the run (needs FERRY_TEST_KAFKA_RESTART)")
	rate       = flag.Int("rate", 40_000, "records per second the driver processes at most, so that kills fall mid-stream")
)

func broker(t *testing.T) string {
	addr := os.Getenv("FERRY_TEST_KAFKA")
	if addr == "" {
		t.Fatal("FERRY_TEST_KAFKA is not set: run through `make test` (test/kafka/with-kafka.sh starts a real broker)")
	}
	return addr
}

// ferryProcess is the ferry server under test: a child process on a fixed
// loopback port, restarted after every kill.
type ferryProcess struct {
	t    *testing.T
	bin  string
	addr string
	kafk string
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *os.File
}

func (p *ferryProcess) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, "serve", "--listen", p.addr, "--kafka", p.kafk, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	// Wait until it listens.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", p.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("ferry did not listen on %s", p.addr)
		}
	}
}

func (p *ferryProcess) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func (p *ferryProcess) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// restartBroker runs the harness's broker restart script.
func restartBroker(t *testing.T) {
	script := os.Getenv("FERRY_TEST_KAFKA_RESTART")
	if script == "" {
		t.Error("-broker-restarts needs FERRY_TEST_KAFKA_RESTART (run through test/kafka/with-kafka.sh)")
		return
	}
	if out, err := exec.Command(script).CombinedOutput(); err != nil {
		t.Errorf("restarting the broker: %v\n%s", err, out)
	}
}

// checkpoint is what the driver keeps durable: the states of both sides of
// the last completed checkpoint.
type checkpoint struct {
	id     int64
	source *ferryv1.SourceState
	sink   *ferryv1.SinkState
}

func TestChaos(t *testing.T) {
	kafka := broker(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "ferry")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ferrykafka/ferry/cmd/ferry").CombinedOutput(); err != nil {
		t.Fatalf("building ferry: %v\n%s", err, out)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	logf, err := os.Create(filepath.Join(dir, "ferry.log"))
	if err != nil {
		t.Fatal(err)
	}
	proc := &ferryProcess{t: t, bin: bin, addr: addr, kafk: kafka, log: logf}

	// The input: records numbered 0..N-1 over several partitions.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	in, out, prefix := "chaos-in-"+suffix, "chaos-out-"+suffix, "chaos-"+suffix
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, int32(*partitions), 1, nil, in); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, out); err != nil {
		t.Fatal(err)
	}
	var produceErr atomic.Value
	for i := 0; i < *records; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: in, Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				produceErr.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil || produceErr.Load() != nil {
		t.Fatalf("writing the input: %v %v", err, produceErr.Load())
	}

	proc.start()
	defer proc.stop()
	// Small flow-control windows: little data waits in gRPC's buffers, so a
	// barrier does not queue behind seconds of records for this paced job.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := &driver{
		t: t, source: ferryv1.NewSourceServiceClient(conn), sink: ferryv1.NewSinkServiceClient(conn),
		in: in, out: out, prefix: prefix,
	}

	// The supervisor kills ferry at random moments of the checkpoint
	// cycle, but only once a checkpoint completed since the last kill, so
	// that the run makes progress between crashes.
	done := make(chan struct{})
	killed, brokerRestarts := 0, 0
	go func() {
		defer close(done)
		rng := rand.New(rand.NewSource(time.Now().UnixNano()))
		for k := 1; k <= *kills; k++ {
			seen := d.checkpoints.Load()
			for d.checkpoints.Load() == seen {
				if d.finished.Load() {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(time.Duration(rng.Int63n(int64(2 * *interval))))
			if d.finished.Load() {
				return
			}
			proc.kill()
			killed++
			d.kills.Add(1)
			t.Logf("kill %d: %d records sent, %d committed, %d checkpoints", k, d.sent.Load(), d.committed.Load(), d.checkpoints.Load())
			if *restarts > 0 && k%(*kills/(*restarts+1)+1) == 0 && brokerRestarts < *restarts {
				// ferry is down: restart Kafka too, on the same ports and data.
				restartBroker(t)
				brokerRestarts++
				t.Logf("broker restart %d", brokerRestarts)
			}
			proc.start()
		}
	}()
	start := time.Now()
	d.run(ctx)
	<-done
	t.Logf("%d records through %d kills and %d restores in %v (%d checkpoints)", *records, killed, d.restores.Load(), time.Since(start), d.checkpoints.Load())
	if killed < *kills {
		t.Fatalf("only %d of %d kills happened before the run ended", killed, *kills)
	}
	if brokerRestarts < *restarts {
		t.Fatalf("only %d of %d broker restarts happened before the run ended", brokerRestarts, *restarts)
	}

	// Verify the output with a plain read_committed consumer.
	verify(t, ctx, kafka, out, *records)
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing", "PrepareCommit", "PrepareAbort"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range listed.Sorted() {
		if strings.HasPrefix(tx.TxnID, prefix+"-") {
			t.Errorf("transaction %s is left %s", tx.TxnID, tx.State)
		}
	}
}

// errSourceEnded says the source stream ended before a checkpoint could be
// asked for: its end_of_input is still to be read.
var errSourceEnded = errors.New("source stream ended")

// driver is the Flink-like job: it restores both sides from its last
// completed checkpoint after every failure.
type driver struct {
	t                     *testing.T
	source                ferryv1.SourceServiceClient
	sink                  ferryv1.SinkServiceClient
	in, out, prefix       string
	last                  checkpoint
	committed             atomic.Int64 // records before the last completed checkpoint
	sent                  atomic.Int64 // records written to the sink, replays included
	finished              atomic.Bool
	restores, checkpoints atomic.Int64
	kills                 atomic.Int64 // SIGKILLs done so far
}

// held is true while the driver should wait for a kill: the input is cut
// into kills+1 equal parts, and past the end of part k+1 before the k-th
// kill the driver slows down 20 times (still checkpointing, which the
// supervisor waits for), so that the run does not end before every kill
// happened on a machine slower or faster than expected.
func (d *driver) held() bool {
	k := d.kills.Load()
	return k < int64(*kills) && d.sent.Load() >= int64(*records)*(k+1)/int64(*kills+1)
}

func (d *driver) run(ctx context.Context) {
	for attempt := 0; ; attempt++ {
		err := d.attempt(ctx)
		if err == nil {
			d.finished.Store(true)
			return
		}
		if ctx.Err() != nil {
			d.t.Fatalf("the run did not finish: %v", err)
		}
		d.t.Logf("attempt %d failed: %v; restoring checkpoint %d", attempt, err, d.last.id)
		d.restores.Add(1)
		time.Sleep(50 * time.Millisecond) // ferry restarts; the next attempt restores
	}
}

// attempt runs the job from the last completed checkpoint until the input
// ends (nil) or ferry fails (an error).
func (d *driver) attempt(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := d.source.Read(ctx)
	if err != nil {
		return err
	}
	open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{d.in}}, Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED,
	}, Restore: d.last.source}
	if err := src.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: open}}); err != nil {
		return err
	}
	snk, err := d.sink.Write(ctx)
	if err != nil {
		return err
	}
	if err := snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Open{Open: &ferryv1.OpenSink{
		Spec: &ferryv1.SinkSpec{DefaultTopic: d.out, DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE,
			TransactionalIdPrefix: d.prefix, Properties: map[string]string{"transaction.timeout.ms": "60000"}},
		Restore: d.last.sink,
	}}}); err != nil {
		return err
	}
	if _, err := snk.Recv(); err != nil { // opened
		return err
	}
	// Source messages arrive on a channel so that checkpoints can be
	// triggered between them.
	// The channel is closed when the stream ends; srcErr then says why.
	msgs := make(chan *ferryv1.ReadResponse, 1)
	var srcErr error
	go func() {
		defer close(msgs)
		for {
			m, err := src.Recv()
			if err != nil {
				srcErr = err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				srcErr = ctx.Err()
				return
			}
		}
	}()
	ended := func() error {
		if srcErr == nil || errors.Is(srcErr, io.EOF) {
			return errors.New("source ended without end_of_input")
		}
		return srcErr
	}
	id := d.last.id
	seq := int64(0)
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	takeCheckpoint := func() error {
		if err := src.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id + 1}}}); err != nil {
			if errors.Is(err, io.EOF) {
				return errSourceEnded // end_of_input is on its way
			}
			return err
		}
		id++
		// Records before the barrier were written to the sink already.
		var barrier *ferryv1.Barrier
		for barrier == nil {
			m, ok := <-msgs
			if !ok {
				return ended()
			}
			if r := m.GetRecords(); r != nil {
				if err := d.write(snk, &seq, r.GetRecords()); err != nil {
					return err
				}
			}
			barrier = m.GetBarrier()
		}
		if err := snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}); err != nil {
			return err
		}
		resp, err := snk.Recv()
		if err != nil {
			return err
		}
		// Durable: both states of checkpoint id. Then complete it.
		d.last = checkpoint{id: id, source: barrier.GetState(), sink: resp.GetPrepared().GetState()}
		d.checkpoints.Add(1)
		if err := snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Commit{Commit: &ferryv1.CommitCheckpoint{CheckpointId: id}}}); err != nil {
			return err
		}
		if _, err := snk.Recv(); err != nil {
			return err
		}
		var done int64
		for _, s := range barrier.GetState().GetSplits() {
			done += s.GetNextOffset()
		}
		d.committed.Store(done)
		return nil
	}
	for {
		select {
		case <-ticker.C:
			if ticker == nil {
				continue
			}
			switch err := takeCheckpoint(); {
			case errors.Is(err, errSourceEnded):
				ticker.Stop() // read on to end_of_input
			case err != nil:
				return err
			}
		case m, ok := <-msgs:
			if !ok {
				return ended()
			}
			switch {
			case m.GetRecords() != nil:
				if err := d.write(snk, &seq, m.GetRecords().GetRecords()); err != nil {
					return err
				}
			case m.GetEndOfInput() != nil:
				// The source stream ends after end_of_input; a final
				// checkpoint needs the sink side only.
				id++
				if err := snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}); err != nil {
					return err
				}
				resp, err := snk.Recv()
				if err != nil {
					return err
				}
				d.last = checkpoint{id: id, source: d.endState(), sink: resp.GetPrepared().GetState()}
				if err := snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Commit{Commit: &ferryv1.CommitCheckpoint{CheckpointId: id}}}); err != nil {
					return err
				}
				if _, err := snk.Recv(); err != nil {
					return err
				}
				if err := snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}); err != nil {
					return err
				}
				if _, err := snk.Recv(); err != nil {
					return err
				}
				d.committed.Store(int64(*records))
				return nil
			}
		}
	}
}

// endState is a source state at the end of the input: every split at its
// stop, so that a restore after the final checkpoint reads nothing.
func (d *driver) endState() *ferryv1.SourceState {
	st := &ferryv1.SourceState{}
	for _, s := range d.last.source.GetSplits() {
		st.Splits = append(st.Splits, &ferryv1.SplitState{Topic: s.GetTopic(), Partition: s.GetPartition(),
			NextOffset: s.GetStoppingOffset(), StoppingOffset: s.StoppingOffset})
	}
	return st
}

// write transforms records ("n" -> "out-n") and writes them to the sink.
func (d *driver) write(snk ferryv1.SinkService_WriteClient, seq *int64, recs []*ferryv1.Record) error {
	if len(recs) == 0 {
		return nil
	}
	// Pace the job so that the run lasts long enough for the kills.
	pace := *rate
	if d.held() {
		pace = max(pace/20, 1)
	}
	time.Sleep(time.Duration(len(recs)) * time.Second / time.Duration(pace))
	d.sent.Add(int64(len(recs)))
	*seq++
	b := &ferryv1.WriteBatch{Sequence: *seq, Records: make([]*ferryv1.SinkRecord, len(recs))}
	for i, r := range recs {
		b.Records[i] = &ferryv1.SinkRecord{Key: r.Key, Value: append([]byte("out-"), r.GetValue()...)}
	}
	return snk.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: b}})
}

// verify reads the output topic with read_committed and checks that every
// number 0..n-1 appears exactly once.
func verify(t *testing.T, ctx context.Context, kafka, topic string, n int) {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	var ends kadm.ListedOffsets
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// The last stable offset reaches the end once every transaction is
		// decided and its markers written.
		lso, err1 := kadm.NewClient(adm).ListCommittedOffsets(ctx, topic)
		hw, err2 := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
		if err1 == nil && err2 == nil {
			same := true
			hw.Each(func(o kadm.ListedOffset) {
				if l, ok := lso.Lookup(o.Topic, o.Partition); !ok || l.Offset != o.Offset {
					same = false
				}
			})
			if same {
				ends = lso
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("an open transaction holds the last stable offset of the output back")
		}
	}
	offs := map[string]map[int32]kgo.Offset{topic: {}}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) {
		offs[topic][o.Partition] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			remaining++
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumePartitions(offs), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := make([]int, n)
	done := map[int32]bool{}
	for len(done) < remaining {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, _ := ends.Lookup(r.Topic, r.Partition)
			if r.Offset+1 >= end.Offset {
				done[r.Partition] = true
			}
			if r.Attrs.IsControl() {
				return
			}
			v, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "out-"))
			if err != nil || v < 0 || v >= n {
				t.Fatalf("unexpected output %q", r.Value)
			}
			seen[v]++
		})
	}
	dups, gaps := 0, 0
	for i, c := range seen {
		switch {
		case c == 0:
			if gaps == 0 {
				t.Errorf("number %d is missing", i)
			}
			gaps++
		case c > 1:
			if dups == 0 {
				t.Errorf("number %d appears %d times", i, c)
			}
			dups++
		}
	}
	if dups+gaps > 0 {
		t.Fatalf("output read with read_committed: %d duplicates, %d gaps out of %d", dups, gaps, n)
	}
}
