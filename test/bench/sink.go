package main

// The write half of the benchmark. After the reads, each writer writes -n
// records of -value-size bytes (one value, random, built once) into a fresh
// topic of -partitions partitions, on the same broker and the same ferry:
//
//   - direct franz-go, with the options ferry's sink uses (connector/sink
//     and connector/kafkaconf defaults: acks=all, idempotence, linger,
//     batch size, compression none, the sticky partitioner for null keys);
//   - ferry's SinkService.Write from Go, AT_LEAST_ONCE, -write-batch records
//     per WriteRequest, closed (which flushes) at the end;
//   - external clients (-write-client NAME=COMMAND), AT_LEAST_ONCE;
//   - direct franz-go with transactions, committing every -barrier-interval
//     (or every -checkpoint-records records): the EXACTLY_ONCE baseline;
//   - ferry from Go, EXACTLY_ONCE, with a checkpoint (prepare, then commit
//     once prepared comes back) at the same cadence.
//
// Every write is verified: the writer's own count (franz-go acks, ferry's
// closed.records_written, an external client's records=) equals n, and the
// topic holds exactly n records: the end offsets add up to n, or, for the
// transactional writers, no transaction is left open and a read_committed
// count to the end offsets finds n records and n x value-size bytes.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// WriteReport is the write half of the report.
type WriteReport struct {
	BatchRecords int `json:"records_per_request"`
	// Checkpoint is the EXACTLY_ONCE cadence, e.g. "50ms" or "20000 records".
	Checkpoint string        `json:"exactly_once_checkpoint_every"`
	Writers    []WriteResult `json:"writers"`
	CPU        []CPURow      `json:"cpu_per_gb"`
}

// WriteResult is one writer's picked run and its ratio to its baseline.
type WriteResult struct {
	Name     string  `json:"name"`
	Label    string  `json:"label"`
	Run      Run     `json:"run"`
	Baseline string  `json:"baseline,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
}

// writer is one way of writing the records.
type writer struct {
	name, label string
	baseline    string // the name of the direct writer it is compared with
	txn         bool   // the topic is verified with read_committed
	profile     bool   // a ferry writer: -perf-dir profiles it
	// run writes n records into topic; cpu is the child's CPU time for an
	// external client, else < 0.
	run func(ctx context.Context, topic string) (r Run, cpu float64, err error)
}

type writeBench struct {
	cfg      config
	adm      *kadm.Client
	addr     string
	fp       *ferryProc
	value    []byte
	recs     []*ferryv1.SinkRecord // one request's records, built once
	settings *kafkaconf.Settings   // ferry's producer defaults
}

func benchWrite(ctx context.Context, cfg config, rep *Report, fp *ferryProc, adm *kadm.Client) error {
	settings, err := kafkaconf.Parse(kafkaconf.Producer, nil, kafkaconf.Files{})
	if err != nil {
		return err
	}
	w := &writeBench{cfg: cfg, adm: adm, addr: fp.addr, fp: fp, value: make([]byte, cfg.valueSize), settings: settings}
	if _, err := rand.Read(w.value); err != nil {
		return err
	}
	w.recs = make([]*ferryv1.SinkRecord, cfg.writeBatch)
	for i := range w.recs {
		w.recs[i] = &ferryv1.SinkRecord{Value: w.value}
	}
	cadence := cfg.barrierInterval.String()
	if cfg.checkpointRecords > 0 {
		cadence = commas(int64(cfg.checkpointRecords)) + " records"
	}
	rep.Write = &WriteReport{BatchRecords: cfg.writeBatch, Checkpoint: cadence}

	writers := []writer{
		{name: "write_direct", label: "direct franz-go",
			run: func(ctx context.Context, topic string) (Run, float64, error) {
				r, err := w.direct(ctx, topic, false)
				return r, -1, err
			}},
		{name: "write_ferry", label: "ferry AT_LEAST_ONCE", baseline: "write_direct", profile: true,
			run: func(ctx context.Context, topic string) (Run, float64, error) {
				r, err := w.ferry(ctx, topic, false)
				return r, -1, err
			}},
	}
	for _, c := range cfg.writeClients {
		writers = append(writers, writer{name: "write_client_" + c.name, label: c.name + ", AT_LEAST_ONCE", baseline: "write_direct",
			run: func(ctx context.Context, topic string) (Run, float64, error) {
				r, err := w.client(ctx, c, topic)
				return r, -1, err
			}})
	}
	writers = append(writers,
		writer{name: "write_direct_txn", label: "direct franz-go txn", txn: true,
			run: func(ctx context.Context, topic string) (Run, float64, error) {
				r, err := w.direct(ctx, topic, true)
				return r, -1, err
			}},
		writer{name: "write_ferry_eo", label: "ferry EXACTLY_ONCE", baseline: "write_direct_txn", txn: true, profile: true,
			run: func(ctx context.Context, topic string) (Run, float64, error) {
				r, err := w.ferry(ctx, topic, true)
				return r, -1, err
			}},
	)

	logf("write: %s records of %d B per writer, %d per request, each writer into a fresh topic; EXACTLY_ONCE checkpoints every %s",
		commas(int64(cfg.n)), cfg.valueSize, cfg.writeBatch, cadence)
	for i := 0; i < cfg.repeat; i++ {
		for _, wr := range writers {
			topic, err := createTopic(ctx, adm, fmt.Sprintf("%s-%s-%d", rep.Topic, wr.name, i+1), cfg.partitions)
			if err != nil {
				return err
			}
			cpu := -1.0
			r, err := measure(fp, func() (Run, error) {
				if wr.profile {
					defer profile(cfg, i, fp, wr.name)()
				}
				r, c, err := wr.run(ctx, topic)
				cpu = c
				return r, err
			})
			if err == nil {
				err = w.verify(ctx, topic, wr.txn)
			}
			if err != nil {
				return fmt.Errorf("write, %s (topic %s): %w", wr.label, topic, err)
			}
			if cpu >= 0 {
				r.ClientCPU = cpu // the client is the child process, not this one
			}
			rep.Runs[wr.name] = append(rep.Runs[wr.name], r)
			extra := ""
			if r.Checkpoints > 0 {
				extra = fmt.Sprintf(" (%d transactions)", r.Checkpoints)
			}
			logf("run %d: %-21s %.2f s%s", i+1, wr.label, r.Seconds, extra)
			deleteTopic(ctx, adm, topic)
		}
	}
	rows := map[string]CPURow{}
	for _, wr := range writers {
		res := WriteResult{Name: wr.name, Label: wr.label, Run: pick(rep.Runs[wr.name], cfg.pick), Baseline: wr.baseline}
		row := cpuRow(wr.label, rep.Runs[wr.name], wr.baseline != "")
		if wr.baseline != "" {
			res.Ratio = res.Run.RecPerS / pick(rep.Runs[wr.baseline], cfg.pick).RecPerS
			row.against(rows[wr.baseline], res.Ratio)
		}
		rows[wr.name] = row
		rep.Write.Writers = append(rep.Write.Writers, res)
		rep.Write.CPU = append(rep.Write.CPU, row)
	}
	return nil
}

// producerOpts are the franz-go options of ferry's sink producer with no
// properties set (connector/sink.Open plus kafkaconf's producer defaults):
// the direct writers use them so that both sides batch alike. The sticky
// key partitioner is what ferry's default partitioner does with null keys.
func (w *writeBench) producerOpts() []kgo.Opt {
	return append(w.settings.ClientOpts(connector.Cluster{BootstrapServers: []string{w.cfg.kafka}}, ""),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
}

// cadence decides when an EXACTLY_ONCE writer checkpoints (or, direct,
// commits): every -checkpoint-records records, or every -barrier-interval.
// Both kinds of writer ask it after each batch of -write-batch records.
type cadence struct {
	every    int
	interval time.Duration
	records  int
	last     time.Time
}

func (w *writeBench) newCadence() *cadence {
	return &cadence{every: w.cfg.checkpointRecords, interval: w.cfg.barrierInterval, last: time.Now()}
}

func (c *cadence) due(records int) bool {
	c.records += records
	if c.every > 0 {
		if c.records >= c.every {
			c.records = 0
			return true
		}
		return false
	}
	if now := time.Now(); now.Sub(c.last) >= c.interval {
		c.last = now
		return true
	}
	return false
}

// direct writes with a franz-go producer of ferry's settings; with txn, in
// transactions committed at the cadence (flush, EndTransaction, begin).
func (w *writeBench) direct(ctx context.Context, topic string, txn bool) (Run, error) {
	n := w.cfg.n
	opts := w.producerOpts()
	if txn {
		opts = append(opts, kgo.TransactionalID(topic+"-direct"), kgo.TransactionTimeout(w.settings.TransactionTimeout))
	}
	start := time.Now()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Run{}, err
	}
	defer cl.Close()
	var (
		acked    atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		acked.Add(1)
	}
	commits := 0
	commit := func() error {
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		if err := failed(); err != nil {
			return err
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("committing transaction %d: %w", commits+1, err)
		}
		commits++
		return nil
	}
	if txn {
		if err := cl.BeginTransaction(); err != nil {
			return Run{}, err
		}
	}
	cad := w.newCadence()
	for sent := 0; sent < n; {
		k := min(w.cfg.writeBatch, n-sent)
		for range k {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: w.value}, promise)
		}
		sent += k
		if err := failed(); err != nil {
			return Run{}, err
		}
		if txn && sent < n && cad.due(k) {
			if err := commit(); err != nil {
				return Run{}, err
			}
			if err := cl.BeginTransaction(); err != nil {
				return Run{}, err
			}
		}
	}
	if txn {
		if err := commit(); err != nil {
			return Run{}, err
		}
	} else if err := cl.Flush(ctx); err != nil {
		return Run{}, err
	}
	d := time.Since(start)
	if err := failed(); err != nil {
		return Run{}, err
	}
	if a := acked.Load(); a != int64(n) {
		return Run{}, fmt.Errorf("kafka acknowledged %d records of %d", a, n)
	}
	name := "write_direct"
	if txn {
		name += "_txn"
	}
	r := newRun(name, int64(n), int64(n)*int64(w.cfg.valueSize), d)
	r.Checkpoints = commits
	return r, nil
}

// ferry writes through SinkService.Write from this process: open, batches
// of -write-batch records, under EXACTLY_ONCE a checkpoint at the cadence
// and a commit as soon as its prepared comes back (the last checkpoint after
// the last record), then close. The time runs from opening the stream to
// closed.
func (w *writeBench) ferry(ctx context.Context, topic string, eo bool) (Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := grpc.NewClient(w.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return Run{}, err
	}
	defer conn.Close()
	spec := &ferryv1.SinkSpec{DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE, DefaultTopic: topic}
	if eo {
		spec.DeliveryGuarantee = ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE
		spec.TransactionalIdPrefix = topic
	}
	n := w.cfg.n

	start := time.Now()
	stream, err := ferryv1.NewSinkServiceClient(conn).Write(ctx)
	if err != nil {
		return Run{}, err
	}
	// Responses, from their own goroutine; this one is the only sender.
	type event struct {
		resp *ferryv1.WriteResponse
		err  error // io.EOF: the stream ended OK
	}
	events := make(chan event, 1024)
	go func() {
		for {
			r, err := stream.Recv()
			select {
			case events <- event{r, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var (
		opened                      bool
		lastPrepared, lastCommitted int64
		written                     int64 = -1
		ended                       bool
	)
	// streamErr waits for the reason a stream refused a Send (io.EOF).
	streamErr := func() error {
		for {
			select {
			case ev := <-events:
				if ev.err == io.EOF {
					return errors.New("the stream ended OK before closed")
				}
				if ev.err != nil {
					return ev.err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	send := func(req *ferryv1.WriteRequest) error {
		if err := stream.Send(req); err != nil {
			if err == io.EOF {
				return streamErr()
			}
			return err
		}
		return nil
	}
	handle := func(ev event) error {
		if ev.err == io.EOF {
			if written < 0 {
				return errors.New("the stream ended OK before closed")
			}
			ended = true
			return nil
		}
		if ev.err != nil {
			return ev.err
		}
		if !opened {
			if ev.resp.GetOpened() == nil {
				return fmt.Errorf("first response is %T, want opened", ev.resp.GetKind())
			}
			opened = true
			return nil
		}
		switch k := ev.resp.GetKind().(type) {
		case *ferryv1.WriteResponse_Prepared:
			id := k.Prepared.GetCheckpointId()
			if !eo || id != lastPrepared+1 {
				return fmt.Errorf("prepared %d, want %d", id, lastPrepared+1)
			}
			for _, t := range k.Prepared.GetState().GetTransactions() {
				if c := t.GetCheckpointId(); c <= lastCommitted || c > id {
					return fmt.Errorf("prepared %d: a transaction of checkpoint %d (committed up to %d)", id, c, lastCommitted)
				}
			}
			lastPrepared = id
			// The state would be stored here; then the checkpoint completes.
			return send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Commit{Commit: &ferryv1.CommitCheckpoint{CheckpointId: id}}})
		case *ferryv1.WriteResponse_Committed:
			id := k.Committed.GetCheckpointId()
			if id != lastCommitted+1 || id > lastPrepared {
				return fmt.Errorf("committed %d after committed %d, prepared %d", id, lastCommitted, lastPrepared)
			}
			lastCommitted = id
		case *ferryv1.WriteResponse_Closed:
			written = k.Closed.GetRecordsWritten()
		default:
			return fmt.Errorf("unexpected response %T", k)
		}
		return nil
	}
	poll := func() error { // handles what has arrived, without waiting
		for {
			select {
			case ev := <-events:
				if err := handle(ev); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	waitFor := func(what string, done func() bool) error {
		for !done() {
			select {
			case ev := <-events:
				if err := handle(ev); err != nil {
					return err
				}
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			}
		}
		return nil
	}
	checkpoint := int64(0)
	sendCheckpoint := func() error {
		checkpoint++
		return send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: checkpoint}}})
	}

	if err := send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Open{Open: &ferryv1.OpenSink{Spec: spec}}}); err != nil {
		return Run{}, fmt.Errorf("sending open: %w", err)
	}
	cad := w.newCadence()
	seq := int64(1) // batch sequences start at 1 and increase
	for sent := 0; sent < n; {
		k := min(len(w.recs), n-sent)
		req := &ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: seq, Records: w.recs[:k]}}}
		if err := send(req); err != nil {
			return Run{}, fmt.Errorf("sending batch %d: %w", seq, err)
		}
		seq++
		sent += k
		if err := poll(); err != nil {
			return Run{}, err
		}
		if eo && sent < n && cad.due(k) {
			if err := sendCheckpoint(); err != nil {
				return Run{}, err
			}
		}
	}
	if eo {
		if err := sendCheckpoint(); err != nil {
			return Run{}, err
		}
		if err := waitFor("the last commit", func() bool { return lastCommitted == checkpoint }); err != nil {
			return Run{}, err
		}
	}
	if err := send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}); err != nil {
		return Run{}, fmt.Errorf("sending close: %w", err)
	}
	if err := waitFor("closed", func() bool { return written >= 0 }); err != nil {
		return Run{}, err
	}
	d := time.Since(start)
	_ = stream.CloseSend()
	if err := waitFor("the end of the stream", func() bool { return ended }); err != nil {
		return Run{}, err
	}
	if written != int64(n) {
		return Run{}, fmt.Errorf("closed: records_written %d, want %d", written, n)
	}
	name := "write_ferry"
	if eo {
		name += "_eo"
	}
	r := newRun(name, int64(n), int64(n)*int64(w.cfg.valueSize), d)
	r.Checkpoints = int(checkpoint)
	return r, nil
}

// client runs an external writer; it gets FERRY_ADDR, FERRY_BENCH_TOPIC,
// FERRY_BENCH_N, FERRY_BENCH_VALUE_SIZE and FERRY_BENCH_BATCH and prints, as
// runClient describes, `records=N bytes=B seconds=S ...` last: N is what
// ferry's closed answer counted, B the value bytes it sent, S from opening
// the stream to closed.
//
// Its warm-up runs (FERRY_BENCH_WARMUPS) write FERRY_BENCH_WARMUP_N records
// each into FERRY_BENCH_WARMUP_TOPIC, a topic of their own, deleted after.
func (w *writeBench) client(ctx context.Context, c clientCmd, topic string) (Run, error) {
	warmN := min(w.cfg.n, 200_000)
	warmTopic, err := createTopic(ctx, w.adm, topic+"-warmup", w.cfg.partitions)
	if err != nil {
		return Run{}, err
	}
	defer deleteTopic(ctx, w.adm, warmTopic)
	cr, err := runClient(ctx, c, w.fp,
		"FERRY_ADDR="+w.addr, "FERRY_BENCH_TOPIC="+topic, "FERRY_BENCH_N="+strconv.Itoa(w.cfg.n),
		"FERRY_BENCH_VALUE_SIZE="+strconv.Itoa(w.cfg.valueSize), "FERRY_BENCH_BATCH="+strconv.Itoa(w.cfg.writeBatch),
		"FERRY_BENCH_WARMUPS="+strconv.Itoa(w.cfg.clientWarmups), "FERRY_BENCH_WARMUP_TOPIC="+warmTopic,
		"FERRY_BENCH_WARMUP_N="+strconv.Itoa(warmN))
	if err != nil {
		return Run{}, err
	}
	if want := int64(w.cfg.n); cr.records != want || cr.bytes != want*int64(w.cfg.valueSize) {
		return Run{}, fmt.Errorf("wrote %d records / %d bytes, want %d / %d", cr.records, cr.bytes, want, want*int64(w.cfg.valueSize))
	}
	return cr.run("write_client_" + c.name), nil
}

// verify checks that topic holds exactly n records. Without transactions the
// end offsets add up to n. With them, every partition's last stable offset
// is its end offset (no transaction left open) and reading with
// read_committed up to the end offsets (control records included, to know
// where the end is) finds n records of -value-size bytes.
func (w *writeBench) verify(ctx context.Context, topic string, txn bool) error {
	n := int64(w.cfg.n)
	ends, err := endOffsets(ctx, w.adm, topic, w.cfg.partitions)
	if err != nil {
		return err
	}
	var total int64
	for _, e := range ends {
		total += e
	}
	if !txn {
		if total != n {
			return fmt.Errorf("the topic holds %d records, want %d", total, n)
		}
		return nil
	}
	// A commit returns before its markers are in the partitions; until they
	// are, the last stable offsets lag: wait for them (and the end offsets)
	// to settle, equal, for up to -txn-settle.
	deadline := time.Now().Add(w.cfg.txnSettle)
	for {
		lagging, err := w.lagging(ctx, topic, ends)
		if err != nil {
			return err
		}
		if lagging == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %v after the write: a transaction is still open", lagging, w.cfg.txnSettle)
		}
		time.Sleep(50 * time.Millisecond)
		if ends, err = endOffsets(ctx, w.adm, topic, w.cfg.partitions); err != nil {
			return err
		}
	}
	total = 0
	offs := map[int32]kgo.Offset{}
	for p, e := range ends {
		total += e
		if e > 0 {
			offs[int32(p)] = kgo.NewOffset().AtStart()
		}
	}
	if total < n {
		return fmt.Errorf("the topic's end offsets add up to %d, below %d records", total, n)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.cfg.kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()
	var records, bytes int64
	left := len(offs)
	for left > 0 {
		fs := cl.PollRecords(ctx, 10000)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read_committed count: %w (%d records so far, %d partitions not at their end)", err, records, left)
		}
		for _, fe := range fs.Errors() {
			return fmt.Errorf("read_committed count: fetching %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				records++
				bytes += int64(len(r.Value))
			}
			if r.Offset == ends[r.Partition]-1 {
				left--
			}
		})
	}
	if records != n || bytes != n*int64(w.cfg.valueSize) {
		return fmt.Errorf("read_committed: %d records, %d value bytes; want %d, %d", records, bytes, n, n*int64(w.cfg.valueSize))
	}
	return nil
}

// lagging names a partition whose last stable offset is not its end offset
// (listed before it), or one whose end offset moved since; "" when none.
func (w *writeBench) lagging(ctx context.Context, topic string, ends []int64) (string, error) {
	stable, err := w.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return "", fmt.Errorf("listing last stable offsets: %w", err)
	}
	again, err := endOffsets(ctx, w.adm, topic, w.cfg.partitions)
	if err != nil {
		return "", err
	}
	for p, e := range ends {
		if s, ok := stable.Lookup(topic, int32(p)); !ok || s.Offset != e || again[p] != e {
			return fmt.Sprintf("partition %d: last stable offset %d, end offset %d then %d", p, s.Offset, e, again[p]), nil
		}
	}
	return "", nil
}

// createTopic creates a topic and waits until the metadata lists every
// partition with a leader.
func createTopic(ctx context.Context, adm *kadm.Client, name string, partitions int) (string, error) {
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return "", fmt.Errorf("creating topic %s: %w", name, err)
	}
	for {
		md, err := adm.Metadata(ctx, name)
		if td, ok := md.Topics[name]; err == nil && ok && td.Err == nil && len(td.Partitions) == partitions {
			ready := true
			for _, p := range td.Partitions {
				ready = ready && p.Leader >= 0 && p.Err == nil
			}
			if ready {
				return name, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("topic %s never showed up in the metadata: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// deleteTopic drops a verified topic (its records are no longer needed and
// take disk); a failure is only logged.
func deleteTopic(ctx context.Context, adm *kadm.Client, name string) {
	resp, err := adm.DeleteTopics(ctx, name)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		logf("deleting topic %s: %v", name, err)
	}
}

func printWriteReport(w io.Writer, r *Report) {
	if r.Write == nil {
		return
	}
	fmt.Fprintf(w, "\nwrite: %s x %d B per writer, each into a fresh topic of %d partitions; %s records per request (ferry); EXACTLY_ONCE checkpoint every %s\n",
		commas(int64(r.Records)), r.ValueSize, r.Partitions, commas(int64(r.Write.BatchRecords)), r.Write.Checkpoint)
	var txns []string
	for _, x := range r.Write.Writers {
		reportLine(w, x.Label, x.Run, x.Ratio)
		if x.Run.Checkpoints > 0 {
			txns = append(txns, fmt.Sprintf("%s %d", x.Label, x.Run.Checkpoints))
		}
	}
	if len(txns) > 0 {
		fmt.Fprintf(w, "%-30s: %s\n", "transactions", strings.Join(txns, ", "))
	}
	fmt.Fprintf(w, "(ratios: AT_LEAST_ONCE writers to direct franz-go, EXACTLY_ONCE to direct franz-go txn)\n")
	printCPU(w, "write", r.Write.CPU)
}
