// Command bench measures ferry's source read path against a direct franz-go
// consumer on the same real Kafka broker, in one run:
//
//  1. creates a topic and fills it with -n records of -value-size bytes
//     (direct franz-go producer);
//  2. reads it whole with a direct franz-go consumer (warm-up, then measured);
//  3. starts -ferry serve as a child process and reads the topic whole
//     through SourceService.Read (bounded) with one reader, then with three
//     readers in parallel (each its own connection and stream);
//  4. during the one-reader read, sends a checkpoint every -barrier-interval
//     and measures the time until its barrier comes back (in band, behind
//     every record sent before it);
//  5. reports ferry's peak and current RSS (VmHWM, VmRSS) and CPU time, and
//     for every path the CPU-seconds per GB of ferry, the client and the
//     broker, and the "one core per stage" figure (cpu.go);
//  6. measures the write path (sink.go): -n records into fresh topics by a
//     direct franz-go producer with ferry's producer settings, through
//     SinkService.Write from Go under AT_LEAST_ONCE, by external writers
//     (-write-client), and under EXACTLY_ONCE (checkpoints at a cadence)
//     next to a direct franz-go transactional producer committing at the
//     same cadence.
//
// Every read is verified: each partition's offsets arrive in order without
// gaps from the start to the end listed before reading, records and value
// bytes add up to what was produced, and each barrier's state matches the
// records received before it. Every write is verified too (sink.go). Any
// mismatch or error exits non-zero.
//
// Run it through the Kafka harness, after building ferry:
//
//	go build -o bin/ferry ./cmd/ferry
//	test/kafka/with-kafka.sh go run ./test/bench [-n 1000000] [-value-size 1024] [-repeat 3] [-json FILE] \
//		[-client NAME=COMMAND]... [-write-client NAME=COMMAND]...
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ferrykafka/ferry/connector/kafkaconf"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/internal/grpcbuf"
)

type config struct {
	kafka           string
	n               int
	valueSize       int
	partitions      int
	ferryBin        string
	repeat          int
	pick            string
	readers         int
	barrierInterval time.Duration
	jsonFile        string
	timeout         time.Duration
	maxRecvMsg      int
	perfDir         string
	pprofDir        string
	compression     string
	ferryEnv        string
	ferryArgs       string
	clients         clientFlags
	clientWarmups   int
	// The write half (sink.go).
	write             bool
	writeClients      clientFlags
	writeBatch        int
	checkpointRecords int
	txnSettle         time.Duration
}

// clientFlags collects -client NAME=COMMAND flags: external readers (the
// Python and Java clients) run against the same ferry in the same run.
type clientFlags []clientCmd

type clientCmd struct {
	name string
	argv []string
}

func (c *clientFlags) String() string { return "" }

func (c *clientFlags) Set(v string) error {
	name, cmd, ok := strings.Cut(v, "=")
	if !ok || name == "" || strings.TrimSpace(cmd) == "" {
		return fmt.Errorf("want NAME=COMMAND, got %q", v)
	}
	*c = append(*c, clientCmd{name: name, argv: strings.Fields(cmd)})
	return nil
}

func main() {
	var cfg config
	flag.StringVar(&cfg.kafka, "kafka", os.Getenv("FERRY_TEST_KAFKA"), "bootstrap address of the broker (default $FERRY_TEST_KAFKA)")
	flag.IntVar(&cfg.n, "n", 1_000_000, "records to produce and read")
	flag.IntVar(&cfg.valueSize, "value-size", 1024, "bytes per record value")
	flag.IntVar(&cfg.partitions, "partitions", 6, "partitions of the topic")
	flag.StringVar(&cfg.ferryBin, "ferry", "bin/ferry", "ferry binary to start (build it first: go build -o bin/ferry ./cmd/ferry)")
	flag.IntVar(&cfg.repeat, "repeat", 1, "measure each read this many times (direct, ferry-1, ferry-N interleaved)")
	flag.StringVar(&cfg.pick, "pick", "median", "which of the repeated runs to report: median or best")
	flag.IntVar(&cfg.readers, "readers", 3, "parallel ferry readers in the parallel read")
	flag.DurationVar(&cfg.barrierInterval, "barrier-interval", 50*time.Millisecond, "checkpoint interval during the one-reader ferry read")
	flag.StringVar(&cfg.jsonFile, "json", "", "also write the report as JSON to this file")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.IntVar(&cfg.maxRecvMsg, "max-recv-msg", 64<<20, "gRPC client max receive message size")
	flag.StringVar(&cfg.perfDir, "perf-dir", "", "profile ferry with `perf record -g -p PID` during each ferry read and each Go ferry write of the first repetition, into DIR/ferry-N.perf.data, DIR/write_ferry.perf.data and DIR/write_ferry_eo.perf.data (slows ferry down; for diagnosis, not for numbers)")
	flag.StringVar(&cfg.pprofDir, "pprof-dir", "", "collect Go CPU profiles during each read and each Go ferry write of the first repetition: ferry's (started with --pprof-listen on loopback) into DIR/ferry-PHASE.NNN.pb.gz, one file a second (`go tool pprof -top bin/ferry DIR/ferry-ferry-1.*.pb.gz` merges them), and this process's, the client's, into DIR/client-PHASE.pb.gz")
	flag.StringVar(&brokerPidFile, "broker-pid-file", os.Getenv("FERRY_TEST_KAFKA_PID_FILE"), "file holding the broker's pid, to measure its CPU (default $FERRY_TEST_KAFKA_PID_FILE, set by test/kafka/with-kafka.sh)")
	flag.StringVar(&cfg.compression, "compression", "none", "producer batch compression: none, snappy, lz4, zstd or gzip (values are random, so compression only adds decoding work)")
	flag.Var(&cfg.clients, "client", "NAME=COMMAND: also read the topic through ferry with this external client, one bounded reader (it gets FERRY_ADDR, FERRY_BENCH_TOPIC and FERRY_BENCH_WARMUPS, prints `timed` when its measured read starts and `records=N bytes=B seconds=S [cpu=C] [cold_seconds=X]` last); repeatable")
	flag.IntVar(&cfg.clientWarmups, "client-warmups", 2, "runs an external client does in its process before the measured one (the JVM's JIT, like the direct read's warm-up); the first run's time is reported too")
	flag.BoolVar(&cfg.write, "write", true, "also measure the write path (direct franz-go vs ferry's sink, AT_LEAST_ONCE and EXACTLY_ONCE) after the reads")
	flag.Var(&cfg.writeClients, "write-client", "NAME=COMMAND: also write -n records through ferry with this external client, AT_LEAST_ONCE (it gets FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_N, FERRY_BENCH_VALUE_SIZE, FERRY_BENCH_BATCH, and for its warm-ups FERRY_BENCH_WARMUPS, FERRY_BENCH_WARMUP_TOPIC and FERRY_BENCH_WARMUP_N; prints `timed` when its measured write starts and `records=N bytes=B seconds=S [cpu=C] [cold_seconds=X]` last, N from ferry's closed answer); repeatable")
	flag.IntVar(&cfg.writeBatch, "write-batch", 1000, "records per WriteRequest sent to ferry (and per produce loop step of the direct writers)")
	flag.IntVar(&cfg.checkpointRecords, "checkpoint-records", 0, "EXACTLY_ONCE writers checkpoint (direct: commit) every this many records; 0: every -barrier-interval")
	flag.DurationVar(&cfg.txnSettle, "txn-settle", 30*time.Second, "after a transactional write, wait this long at most for the last stable offsets to reach the end offsets (commit markers land after the commit returns)")
	flag.StringVar(&cfg.ferryEnv, "ferry-env", "", "extra environment for ferry, KEY=VALUE[,KEY=VALUE...] (e.g. GODEBUG=gctrace=1 or GOGC=200)")
	flag.StringVar(&cfg.ferryArgs, "ferry-args", "", "extra arguments for ferry serve, separated by spaces (e.g. \"--metrics-listen 127.0.0.1:9464\" to measure with metrics on)")
	flag.Parse()
	if err := validate(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		os.Exit(1)
	}
}

func validate(cfg config) error {
	if _, err := kafkaconf.CompressionCodec(cfg.compression); err != nil {
		return fmt.Errorf("-compression %v", err)
	}
	switch {
	case cfg.kafka == "":
		return errors.New("no broker: set -kafka or run through test/kafka/with-kafka.sh (FERRY_TEST_KAFKA)")
	case cfg.n < 1, cfg.valueSize < 1, cfg.partitions < 1, cfg.repeat < 1, cfg.readers < 1:
		return errors.New("-n, -value-size, -partitions, -repeat and -readers must be >= 1")
	case cfg.clientWarmups < 0:
		return errors.New("-client-warmups must be >= 0")
	case cfg.pick != "median" && cfg.pick != "best":
		return errors.New("-pick must be median or best")
	case cfg.barrierInterval <= 0:
		return errors.New("-barrier-interval must be > 0")
	case cfg.writeBatch < 1 || cfg.checkpointRecords < 0:
		return errors.New("-write-batch must be >= 1 and -checkpoint-records >= 0")
	case int64(cfg.writeBatch)*int64(cfg.valueSize+16) > 15<<20:
		return errors.New("-write-batch x -value-size must stay below ferry's 16 MiB message limit")
	}
	return nil
}

// ---------------------------------------------------------------------------
// Results

// Run is one measured read.
type Run struct {
	Name    string  `json:"name"`
	Records int64   `json:"records"`
	Bytes   int64   `json:"value_bytes"`
	Seconds float64 `json:"seconds"`
	RecPerS float64 `json:"records_per_second"`
	MiBPerS float64 `json:"mib_per_second"`
	// CPU seconds spent during the run by ferry (child) and by this process
	// (the client side: franz-go consumer or gRPC client).
	FerryCPU  float64 `json:"ferry_cpu_seconds,omitempty"`
	ClientCPU float64 `json:"client_cpu_seconds"`
	// BrokerCPU is the broker's CPU seconds during the run (0: not known).
	BrokerCPU float64 `json:"broker_cpu_seconds,omitempty"`
	// FerryFaults is ferry's minor page faults during the run (memory
	// taken fresh from the kernel, zeroed by it).
	FerryFaults int64 `json:"ferry_minor_faults,omitempty"`
	// FerryHWM is ferry's VmHWM after the run: the phase that raised it
	// set the peak.
	FerryHWM int64 `json:"ferry_vmhwm_bytes_after,omitempty"`
	// ColdSeconds is, for an external client, the time of its first run in
	// its process (the reported run comes after -client-warmups runs).
	ColdSeconds float64 `json:"cold_seconds,omitempty"`
	// Checkpoints is, for a transactional writer, the transactions it
	// committed (ferry: checkpoints prepared and committed).
	Checkpoints int `json:"checkpoints,omitempty"`
}

func newRun(name string, records, bytes int64, d time.Duration) Run {
	s := d.Seconds()
	return Run{Name: name, Records: records, Bytes: bytes, Seconds: s,
		RecPerS: float64(records) / s, MiBPerS: float64(bytes) / s / (1 << 20)}
}

// Barriers summarises checkpoint-to-barrier round trips.
type Barriers struct {
	N          int     `json:"n"`
	Unanswered int     `json:"unanswered"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	MeanMs     float64 `json:"mean_ms"`
}

// Report is what the benchmark prints and writes as JSON.
type Report struct {
	Kafka        string           `json:"kafka"`
	Topic        string           `json:"topic"`
	Records      int              `json:"records"`
	ValueSize    int              `json:"value_size"`
	Partitions   int              `json:"partitions"`
	Compression  string           `json:"compression"`
	Readers      int              `json:"parallel_readers"`
	Repeat       int              `json:"repeat"`
	Pick         string           `json:"pick"`
	Produce      Run              `json:"produce"`
	Direct       Run              `json:"direct"`
	Ferry1       Run              `json:"ferry_1_reader"`
	FerryN       Run              `json:"ferry_n_readers"`
	Ratio1       float64          `json:"ratio_1_reader"`
	RatioN       float64          `json:"ratio_n_readers"`
	Barrier      Barriers         `json:"barrier_round_trip"`
	FerryPeakRSS int64            `json:"ferry_peak_rss_bytes"`
	FerryRSS     int64            `json:"ferry_rss_bytes"`
	Runs         map[string][]Run `json:"runs"`
	Clients      []ClientResult   `json:"clients,omitempty"`
	CPU          []CPURow         `json:"read_cpu_per_gb"`
	Write        *WriteReport     `json:"write,omitempty"`
}

// ClientResult is an external client's read through ferry.
type ClientResult struct {
	Name  string  `json:"name"`
	Run   Run     `json:"run"`
	Ratio float64 `json:"ratio"`
}

// ---------------------------------------------------------------------------

func run(cfg config) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, cfg.timeout)
	defer cancelTimeout()

	rep := &Report{Kafka: cfg.kafka, Records: cfg.n, ValueSize: cfg.valueSize, Partitions: cfg.partitions, Compression: cfg.compression,
		Readers: cfg.readers, Repeat: cfg.repeat, Pick: cfg.pick, Runs: map[string][]Run{}}
	rep.Topic = fmt.Sprintf("ferry-bench-%d", time.Now().UnixNano())

	// 1. Topic and data.
	admCl, err := kgo.NewClient(kgo.SeedBrokers(cfg.kafka))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	resp, err := adm.CreateTopic(ctx, int32(cfg.partitions), 1, nil, rep.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", rep.Topic, err)
	}
	logf("topic %s: %d partitions; producing %s records of %d B", rep.Topic, cfg.partitions, commas(int64(cfg.n)), cfg.valueSize)
	if rep.Produce, err = produce(ctx, cfg, rep.Topic); err != nil {
		return err
	}
	logf("produced in %.2f s (%s rec/s, %.0f MiB/s)", rep.Produce.Seconds, commas(int64(rep.Produce.RecPerS)), rep.Produce.MiBPerS)

	ends, err := endOffsets(ctx, adm, rep.Topic, cfg.partitions)
	if err != nil {
		return err
	}
	var total int64
	for _, e := range ends {
		total += e
	}
	if total != int64(cfg.n) {
		return fmt.Errorf("topic holds %d records after producing %d", total, cfg.n)
	}
	want := expect{records: int64(cfg.n), bytes: int64(cfg.n) * int64(cfg.valueSize), ends: ends}

	// 2. Warm-up read (broker page cache, client code paths); not reported.
	if _, err := readDirect(ctx, cfg, rep.Topic, want); err != nil {
		return fmt.Errorf("warm-up direct read: %w", err)
	}

	// 3. ferry.
	fp, err := startFerry(ctx, cfg)
	if err != nil {
		return err
	}
	defer fp.stop()
	logf("ferry (pid %d) serving on %s", fp.cmd.Process.Pid, fp.addr)

	var rtts []time.Duration
	unanswered := 0
	for i := 0; i < cfg.repeat; i++ {
		d, err := measure(fp, func() (Run, error) {
			defer profile(cfg, i, fp, "direct")()
			return readDirect(ctx, cfg, rep.Topic, want)
		})
		if err != nil {
			return fmt.Errorf("direct read: %w", err)
		}
		rep.Runs["direct"] = append(rep.Runs["direct"], d)
		logf("run %d: direct   %.2f s", i+1, d.Seconds)

		var bs barrierStats
		f1, err := measure(fp, func() (Run, error) {
			defer profile(cfg, i, fp, "ferry-1")()
			r, b, err := readFerry(ctx, cfg, fp.addr, rep.Topic, 1, want, cfg.barrierInterval)
			bs = b
			return r, err
		})
		if err != nil {
			return fmt.Errorf("ferry read, 1 reader: %w", err)
		}
		rtts = append(rtts, bs.rtts...)
		unanswered += bs.unanswered
		rep.Runs["ferry_1"] = append(rep.Runs["ferry_1"], f1)
		logf("run %d: ferry-1  %.2f s (%d barriers, %d watermark/idle/committed messages)", i+1, f1.Seconds, len(bs.rtts), bs.other)

		fn, err := measure(fp, func() (Run, error) {
			defer profile(cfg, i, fp, fmt.Sprintf("ferry-%d", cfg.readers))()
			r, _, err := readFerry(ctx, cfg, fp.addr, rep.Topic, cfg.readers, want, 0)
			return r, err
		})
		if err != nil {
			return fmt.Errorf("ferry read, %d readers: %w", cfg.readers, err)
		}
		rep.Runs["ferry_n"] = append(rep.Runs["ferry_n"], fn)
		logf("run %d: ferry-%d  %.2f s", i+1, cfg.readers, fn.Seconds)

		for _, c := range cfg.clients {
			cr, err := measure(fp, func() (Run, error) { return readClient(ctx, cfg, c, fp, rep.Topic, want) })
			if err != nil {
				return fmt.Errorf("%s client read: %w", c.name, err)
			}
			rep.Runs["client_"+c.name] = append(rep.Runs["client_"+c.name], cr)
			logf("run %d: %s client  %.2f s", i+1, c.name, cr.Seconds)
		}
	}
	for _, c := range cfg.clients {
		cr := pick(rep.Runs["client_"+c.name], cfg.pick)
		rep.Clients = append(rep.Clients, ClientResult{Name: c.name, Run: cr, Ratio: cr.RecPerS / pick(rep.Runs["direct"], cfg.pick).RecPerS})
	}
	rep.Direct = pick(rep.Runs["direct"], cfg.pick)
	rep.Ferry1 = pick(rep.Runs["ferry_1"], cfg.pick)
	rep.FerryN = pick(rep.Runs["ferry_n"], cfg.pick)
	rep.Ratio1 = rep.Ferry1.RecPerS / rep.Direct.RecPerS
	rep.RatioN = rep.FerryN.RecPerS / rep.Direct.RecPerS
	direct := cpuRow("direct franz-go", rep.Runs["direct"], false)
	rep.CPU = append(rep.CPU, direct)
	readRow := func(name, runs string, wall float64) {
		row := cpuRow(name, rep.Runs[runs], true)
		row.against(direct, wall)
		rep.CPU = append(rep.CPU, row)
	}
	readRow("ferry, 1 reader", "ferry_1", rep.Ratio1)
	readRow(fmt.Sprintf("ferry, %d readers", cfg.readers), "ferry_n", rep.RatioN)
	for _, c := range rep.Clients {
		readRow(c.Name+" client, 1 reader", "client_"+c.Name, c.Ratio)
	}
	rep.Barrier = summarise(rtts, unanswered)

	// 5. Memory.
	st, err := procStatus(fp.cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("reading ferry's /proc status: %w", err)
	}
	rep.FerryPeakRSS, rep.FerryRSS = st["VmHWM"], st["VmRSS"]

	// 6. Writes.
	if cfg.write {
		if err := benchWrite(ctx, cfg, rep, fp, adm); err != nil {
			return err
		}
	}

	if err := fp.stop(); err != nil {
		printReport(os.Stdout, rep)
		return fmt.Errorf("ferry did not stop cleanly: %w", err)
	}

	// 7. Report.
	printReport(os.Stdout, rep)
	if cfg.jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if rep.Barrier.N == 0 {
		return errors.New("no barrier came back during the one-reader ferry read")
	}
	return nil
}

// measure runs f and adds the CPU time ferry and this process spent.
func measure(fp *ferryProc, f func() (Run, error)) (Run, error) {
	fc0, _ := procCPU(fp.cmd.Process.Pid)
	ff0, _ := procFaults(fp.cmd.Process.Pid)
	bc0, bok := brokerCPU()
	cc0 := selfCPU()
	r, err := f()
	fc1, _ := procCPU(fp.cmd.Process.Pid)
	if ff1, err := procFaults(fp.cmd.Process.Pid); err == nil {
		r.FerryFaults = ff1 - ff0
	}
	if bc1, ok := brokerCPU(); ok && bok && r.BrokerCPU == 0 {
		r.BrokerCPU = bc1 - bc0
	}
	// An external client reports its own CPU and ferry's during its timed
	// run; the rest is measured here.
	if r.FerryCPU == 0 {
		r.FerryCPU = fc1 - fc0
	}
	if r.ClientCPU == 0 {
		r.ClientCPU = selfCPU() - cc0
	}
	if st, err := procStatus(fp.cmd.Process.Pid); err == nil {
		r.FerryHWM = st["VmHWM"]
	}
	return r, err
}

// profile attaches perf to ferry for one phase of the first repetition when
// -perf-dir is set, and collects Go profiles when -pprof-dir is; the
// returned func stops them. Failures are only logged.
func profile(cfg config, rep int, fp *ferryProc, name string) func() {
	if rep > 0 {
		return func() {}
	}
	if cfg.pprofDir != "" {
		stopPprof := pprofPhase(cfg, fp, name)
		stopPerf := perfPhase(cfg, fp, name)
		return func() { stopPerf(); stopPprof() }
	}
	return perfPhase(cfg, fp, name)
}

func perfPhase(cfg config, fp *ferryProc, name string) func() {
	if cfg.perfDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(cfg.perfDir, 0o755); err != nil {
		logf("perf: %v", err)
		return func() {}
	}
	out := filepath.Join(cfg.perfDir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(fp.cmd.Process.Pid), "-o", out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		logf("perf: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // let perf attach
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logf("perf: wrote %s (perf report -i %s --no-children)", out, out)
	}
}

func pick(runs []Run, how string) Run {
	s := append([]Run(nil), runs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Seconds < s[j].Seconds })
	if how == "best" {
		return s[0]
	}
	return s[(len(s)-1)/2]
}

func summarise(rtts []time.Duration, unanswered int) Barriers {
	b := Barriers{N: len(rtts), Unanswered: unanswered}
	if len(rtts) == 0 {
		return b
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(rtts)))) - 1
		return ms(rtts[max(0, min(i, len(rtts)-1))])
	}
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	b.P50Ms, b.P99Ms, b.MaxMs, b.MeanMs = q(0.50), q(0.99), ms(rtts[len(rtts)-1]), ms(sum)/float64(len(rtts))
	return b
}

// reportLine prints one run: time, rates, the ratio to its baseline (if
// any), and CPU.
func reportLine(w io.Writer, name string, x Run, ratio float64) {
	s := fmt.Sprintf("%-30s: %6.2f s  %9s rec/s  %6.0f MiB/s", name, x.Seconds, commas(int64(x.RecPerS)), x.MiBPerS)
	if ratio > 0 {
		s += fmt.Sprintf("  ratio %.2fx", ratio)
	}
	cpu := fmt.Sprintf("client cpu %.2f s", x.ClientCPU)
	if x.FerryCPU > 0 {
		cpu = fmt.Sprintf("ferry cpu %.2f s, ", x.FerryCPU) + cpu
	}
	if x.FerryHWM > 0 {
		cpu += fmt.Sprintf(", ferry VmHWM %.0f MiB after", float64(x.FerryHWM)/(1<<20))
	}
	if x.ColdSeconds > 0 {
		cpu += fmt.Sprintf(", first run in its process %.2f s", x.ColdSeconds)
	}
	fmt.Fprintf(w, "%-89s (%s)\n", s, cpu)
}

func printReport(w io.Writer, r *Report) {
	line := func(name string, x Run, ratio float64) { reportLine(w, name, x, ratio) }
	runs := ""
	if r.Repeat > 1 {
		runs = fmt.Sprintf(" (%s of %d runs each)", r.Pick, r.Repeat)
	}
	fmt.Fprintf(w, "\nrecords: %s x %d B in %d partitions, compression %s (topic %s)%s\n", commas(int64(r.Records)), r.ValueSize, r.Partitions, r.Compression, r.Topic, runs)
	fmt.Fprintf(w, "%-30s: %6.2f s  %9s rec/s  %6.0f MiB/s\n", "produce (franz-go)", r.Produce.Seconds, commas(int64(r.Produce.RecPerS)), r.Produce.MiBPerS)
	line("direct franz-go", r.Direct, 0)
	line("ferry, 1 reader", r.Ferry1, r.Ratio1)
	line(fmt.Sprintf("ferry, %d readers", r.Readers), r.FerryN, r.RatioN)
	for _, c := range r.Clients {
		line(c.Name+" client, 1 reader", c.Run, c.Ratio)
	}
	fmt.Fprintf(w, "%-30s: n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms mean=%.1f ms (unanswered at end of input: %d)\n",
		"barrier round trip", r.Barrier.N, r.Barrier.P50Ms, r.Barrier.P99Ms, r.Barrier.MaxMs, r.Barrier.MeanMs, r.Barrier.Unanswered)
	fmt.Fprintf(w, "%-30s: %.0f MiB (VmHWM); now %.0f MiB (VmRSS) after the reads\n", "ferry peak RSS", float64(r.FerryPeakRSS)/(1<<20), float64(r.FerryRSS)/(1<<20))
	printCPU(w, "read", r.CPU)
	printWriteReport(w, r)
}

// ---------------------------------------------------------------------------
// Producing and reading directly

func produce(ctx context.Context, cfg config, topic string) (Run, error) {
	codec, _ := kafkaconf.CompressionCodec(cfg.compression) // checked by validate
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.kafka),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1_000_000), // below the broker's default message.max.bytes
		kgo.MaxBufferedBytes(256<<20),
		kgo.MaxBufferedRecords(1<<20),
		kgo.ProducerBatchCompression(codec),
	)
	if err != nil {
		return Run{}, err
	}
	defer cl.Close()
	value := make([]byte, cfg.valueSize) // shared read-only by every record
	if _, err := rand.Read(value); err != nil {
		return Run{}, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	cpu0, start := selfCPU(), time.Now()
	for i := 0; i < cfg.n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % cfg.partitions), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	d := time.Since(start)
	if firstErr != nil {
		return Run{}, fmt.Errorf("producing: %w", firstErr)
	}
	r := newRun("produce", int64(cfg.n), int64(cfg.n)*int64(cfg.valueSize), d)
	r.ClientCPU = selfCPU() - cpu0
	return r, nil
}

// expect is what a whole read of the topic must deliver.
type expect struct {
	records, bytes int64
	ends           []int64 // end offset per partition (the topic starts at 0)
}

func endOffsets(ctx context.Context, adm *kadm.Client, topic string, partitions int) ([]int64, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	ends := make([]int64, partitions)
	for p := range ends {
		s, ok1 := starts.Lookup(topic, int32(p))
		e, ok2 := listed.Lookup(topic, int32(p))
		if !ok1 || !ok2 || s.Offset != 0 {
			return nil, fmt.Errorf("partition %d: no offsets or start %d != 0", p, s.Offset)
		}
		ends[p] = e.Offset
	}
	return ends, nil
}

// tracker checks that every partition is read in order, without gaps, from
// 0 to its end, and counts records and value bytes.
type tracker struct {
	topic    string
	next     []int64 // next offset expected per partition; -1: not owned
	stop     []int64
	owned    int
	finished int
	records  int64
	bytes    int64
}

func newTracker(topic string, ends []int64) *tracker {
	t := &tracker{topic: topic, next: make([]int64, len(ends)), stop: append([]int64(nil), ends...)}
	for p := range t.next {
		t.next[p] = -1
	}
	return t
}

func (t *tracker) own(p int32, start int64) error {
	if p < 0 || int(p) >= len(t.next) {
		return fmt.Errorf("unknown partition %d", p)
	}
	if t.next[p] >= 0 {
		return fmt.Errorf("partition %d owned twice", p)
	}
	if start != 0 {
		return fmt.Errorf("partition %d starts at %d, want 0", p, start)
	}
	t.next[p] = start
	t.owned++
	if t.stop[p] == 0 {
		t.finished++
	}
	return nil
}

func (t *tracker) record(topic string, p int32, off int64, value []byte, hasValue bool) error {
	if topic != t.topic {
		return fmt.Errorf("record of topic %q", topic)
	}
	return t.recordOf(p, off, value, hasValue)
}

// recordOf checks and counts a record of the tracker's topic.
func (t *tracker) recordOf(p int32, off int64, value []byte, hasValue bool) error {
	if p < 0 || int(p) >= len(t.next) || t.next[p] < 0 {
		return fmt.Errorf("record of partition %d, which this reader does not own", p)
	}
	if off != t.next[p] {
		return fmt.Errorf("partition %d: offset %d, want %d", p, off, t.next[p])
	}
	if off >= t.stop[p] {
		return fmt.Errorf("partition %d: offset %d at or past its end %d", p, off, t.stop[p])
	}
	if !hasValue {
		return fmt.Errorf("partition %d offset %d: no value", p, off)
	}
	t.next[p] = off + 1
	if t.next[p] == t.stop[p] {
		t.finished++
	}
	t.records++
	t.bytes += int64(len(value))
	return nil
}

func (t *tracker) done() bool { return t.finished == t.owned }

func readDirect(ctx context.Context, cfg config, topic string, want expect) (Run, error) {
	start := time.Now()
	tr := newTracker(topic, want.ends)
	offs := map[int32]kgo.Offset{}
	for p := range want.ends {
		if err := tr.own(int32(p), 0); err != nil {
			return Run{}, err
		}
		offs[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	if err != nil {
		return Run{}, err
	}
	defer cl.Close()
	for !tr.done() {
		fs := cl.PollRecords(ctx, 10000)
		if err := ctx.Err(); err != nil {
			return Run{}, err
		}
		for _, fe := range fs.Errors() {
			return Run{}, fmt.Errorf("fetching %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var rerr error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if rerr == nil {
					rerr = tr.record(r.Topic, r.Partition, r.Offset, r.Value, r.Value != nil)
				}
			}
		})
		if rerr != nil {
			return Run{}, rerr
		}
	}
	d := time.Since(start)
	if err := check(tr, want); err != nil {
		return Run{}, err
	}
	return newRun("direct", tr.records, tr.bytes, d), nil
}

func check(tr *tracker, want expect) error {
	if tr.records != want.records || tr.bytes != want.bytes {
		return fmt.Errorf("count mismatch: read %d records, %d value bytes; want %d, %d", tr.records, tr.bytes, want.records, want.bytes)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Reading through ferry

type barrierStats struct {
	rtts       []time.Duration
	unanswered int
	other      int // watermark, idle and committed messages
}

// recvPool is the Go reader's gRPC buffer pool, shared by its connections.
var recvPool = grpcbuf.New()

// readFerry reads the whole topic with parallelism readers, each on its own
// connection and stream, concurrently; the time is until the last one got
// end_of_input. With interval > 0 (parallelism 1 only) it sends checkpoints.
func readFerry(ctx context.Context, cfg config, addr, topic string, parallelism int, want expect, interval time.Duration) (Run, barrierStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*grpc.ClientConn, parallelism)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.maxRecvMsg), grpc.ForceCodecV2(newRawCodec())),
			// Received frames go into buffers that are not zeroed before
			// reuse. (Windows as large as the server's measured the same
			// as gRPC's default, which grows them by BDP estimation.)
			experimental.WithBufferPool(recvPool))
		if err != nil {
			return Run{}, barrierStats{}, err
		}
		defer c.Close()
		conns[i] = c
	}
	type result struct {
		tr  *tracker
		bs  barrierStats
		err error
	}
	results := make([]result, parallelism)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < parallelism; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, bs, err := readStream(ctx, ferryv1.NewSourceServiceClient(conns[i]), topic, i, parallelism, want.ends, interval)
			if err != nil {
				err = fmt.Errorf("reader %d of %d: %w", i, parallelism, err)
				cancel()
			}
			results[i] = result{tr, bs, err}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	var (
		errs []error
		bs   barrierStats
		all  = newTracker(topic, want.ends)
	)
	var canceled []error // readers canceled because another one failed
	for _, r := range results {
		if r.err != nil {
			if errors.Is(r.err, context.Canceled) || status.Code(r.err) == codes.Canceled {
				canceled = append(canceled, r.err)
			} else {
				errs = append(errs, r.err)
			}
			continue
		}
		for p, n := range r.tr.next {
			if n >= 0 {
				if err := all.own(int32(p), 0); err != nil {
					errs = append(errs, err)
				}
			}
		}
		all.records += r.tr.records
		all.bytes += r.tr.bytes
		bs.rtts = append(bs.rtts, r.bs.rtts...)
		bs.unanswered += r.bs.unanswered
		bs.other += r.bs.other
	}
	if len(errs) == 0 {
		errs = canceled
	}
	if err := errors.Join(errs...); err != nil {
		return Run{}, bs, err
	}
	if all.owned != len(want.ends) {
		return Run{}, bs, fmt.Errorf("the readers owned %d of %d partitions", all.owned, len(want.ends))
	}
	if err := check(all, want); err != nil {
		return Run{}, bs, err
	}
	return newRun(fmt.Sprintf("ferry_%d", parallelism), all.records, all.bytes, d), bs, nil
}

func readStream(ctx context.Context, client ferryv1.SourceServiceClient, topic string, index, parallelism int, ends []int64, interval time.Duration) (*tracker, barrierStats, error) {
	var bs barrierStats
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Read(ctx)
	if err != nil {
		return nil, bs, err
	}
	open := &ferryv1.OpenSource{
		Spec: &ferryv1.SourceSpec{
			Topics:      &ferryv1.TopicList{Topics: []string{topic}},
			Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED,
		},
		ReaderIndex: int32(index),
		Parallelism: proto.Int32(int32(parallelism)),
	}
	if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: open}}); err != nil {
		return nil, bs, fmt.Errorf("sending open: %w", err)
	}
	first, err := stream.Recv()
	if err != nil {
		return nil, bs, fmt.Errorf("waiting for opened: %w", err)
	}
	opened := first.GetOpened()
	if opened == nil {
		return nil, bs, fmt.Errorf("first response is %T, want opened", first.GetKind())
	}
	tr := newTracker(topic, ends)
	for _, sp := range opened.GetSplits() {
		if sp.GetTopic() != topic {
			return nil, bs, fmt.Errorf("opened: split of topic %q", sp.GetTopic())
		}
		if err := tr.own(sp.GetPartition(), sp.GetNextOffset()); err != nil {
			return nil, bs, fmt.Errorf("opened: %w", err)
		}
		if sp.StoppingOffset == nil || sp.GetStoppingOffset() != ends[sp.GetPartition()] {
			return nil, bs, fmt.Errorf("opened: partition %d stops at %v, want %d", sp.GetPartition(), sp.StoppingOffset, ends[sp.GetPartition()])
		}
	}
	splitFinished := make([]bool, len(ends))

	// Checkpoints, from their own goroutine: the only sender after open.
	var (
		mu      sync.Mutex
		pending = map[int64]time.Time{}
	)
	stopCP, cpDone := make(chan struct{}), make(chan struct{})
	if interval > 0 {
		go func() {
			defer close(cpDone)
			t := time.NewTicker(interval)
			defer t.Stop()
			for id := int64(1); ; id++ {
				select {
				case <-stopCP:
					return
				case <-t.C:
				}
				mu.Lock()
				pending[id] = time.Now()
				mu.Unlock()
				if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: id}}}); err != nil {
					mu.Lock()
					delete(pending, id)
					mu.Unlock()
					return // the stream ended; Recv reports why
				}
			}
		}()
	} else {
		close(cpDone)
	}
	stopCheckpoints := func() {
		select {
		case <-stopCP:
		default:
			close(stopCP)
		}
		<-cpDone
	}
	defer stopCheckpoints()

	// Record batches are read in place (decode.go), the rest decoded.
	var raw rawResponse
	defer raw.release()
	checkRecord := func(r *recordView) error {
		if string(r.topic) != tr.topic {
			return fmt.Errorf("record of topic %q", r.topic)
		}
		return tr.recordOf(r.partition, r.offset, r.value, r.hasValue)
	}
	for {
		if err := stream.RecvMsg(&raw); err != nil {
			if err == io.EOF {
				err = errors.New("the stream ended OK before end_of_input")
			}
			return tr, bs, err
		}
		batch, isRecords, err := raw.records()
		if err == nil && isRecords {
			err = eachRecord(batch, checkRecord)
		}
		if err != nil {
			return tr, bs, fmt.Errorf("a record batch: %w", err)
		}
		if isRecords {
			continue
		}
		resp, err := raw.decode()
		if err != nil {
			return tr, bs, fmt.Errorf("decoding a response: %w", err)
		}
		switch k := resp.GetKind().(type) {
		case *ferryv1.ReadResponse_Records:
			return tr, bs, errors.New("a record batch not read in place")
		case *ferryv1.ReadResponse_Barrier:
			now := time.Now()
			id := k.Barrier.GetCheckpointId()
			mu.Lock()
			sent, ok := pending[id]
			delete(pending, id)
			mu.Unlock()
			if !ok {
				return tr, bs, fmt.Errorf("barrier %d for a checkpoint not sent (or answered twice)", id)
			}
			bs.rtts = append(bs.rtts, now.Sub(sent))
			// In band: the state is exactly what was received before it.
			var inState int64
			for _, st := range k.Barrier.GetState().GetSplits() {
				p := st.GetPartition()
				if st.GetTopic() != topic || p < 0 || int(p) >= len(tr.next) || tr.next[p] < 0 {
					return tr, bs, fmt.Errorf("barrier %d: state of unowned split %s/%d", id, st.GetTopic(), p)
				}
				if st.GetNextOffset() != tr.next[p] {
					return tr, bs, fmt.Errorf("barrier %d: partition %d at next offset %d, but the records received before it end at %d",
						id, p, st.GetNextOffset(), tr.next[p])
				}
				inState += st.GetNextOffset()
			}
			if inState != tr.records {
				return tr, bs, fmt.Errorf("barrier %d: state covers %d records, %d were received", id, inState, tr.records)
			}
		case *ferryv1.ReadResponse_SplitFinished:
			p := k.SplitFinished.GetPartition()
			if k.SplitFinished.GetTopic() != topic || p < 0 || int(p) >= len(tr.next) || tr.next[p] < 0 || splitFinished[p] {
				return tr, bs, fmt.Errorf("split_finished for %s/%d: not owned or finished twice", k.SplitFinished.GetTopic(), p)
			}
			if tr.next[p] != ends[p] || k.SplitFinished.GetStoppingOffset() != ends[p] {
				return tr, bs, fmt.Errorf("split_finished %d at stop %d after reading to %d, want %d", p, k.SplitFinished.GetStoppingOffset(), tr.next[p], ends[p])
			}
			splitFinished[p] = true
		case *ferryv1.ReadResponse_EndOfInput:
			if !tr.done() {
				return tr, bs, errors.New("end_of_input before every split reached its end")
			}
			for p, n := range tr.next {
				if n >= 0 && !splitFinished[p] {
					return tr, bs, fmt.Errorf("end_of_input without split_finished for partition %d", p)
				}
			}
			stopCheckpoints()
			mu.Lock()
			bs.unanswered = len(pending)
			mu.Unlock()
			_ = stream.CloseSend()
			if _, err := stream.Recv(); err != io.EOF {
				return tr, bs, fmt.Errorf("after end_of_input: want the stream to end OK, got %v", err)
			}
			return tr, bs, nil
		case *ferryv1.ReadResponse_Watermark, *ferryv1.ReadResponse_Idle, *ferryv1.ReadResponse_Committed:
			bs.other++ // not asked for by this spec, but allowed by the protocol
		default:
			return tr, bs, fmt.Errorf("unexpected response %T", k)
		}
	}
}

// ---------------------------------------------------------------------------
// The ferry child process

type ferryProc struct {
	cmd       *exec.Cmd
	addr      string
	pprofAddr string // --pprof-listen, with -pprof-dir
	dir       string
	exited    chan struct{}
	waitErr   error
	once      sync.Once
	stopErr   error
}

func startFerry(ctx context.Context, cfg config) (*ferryProc, error) {
	bin, err := filepath.Abs(cfg.ferryBin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("ferry binary: %w (build it: go build -o bin/ferry ./cmd/ferry)", err)
	}
	dir, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return nil, err
	}
	addrFile := filepath.Join(dir, "addr")
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--kafka", cfg.kafka, "--addr-file", addrFile, "--log-level", "warn"},
		strings.Fields(cfg.ferryArgs)...)
	var pprofAddr string
	if cfg.pprofDir != "" {
		if pprofAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-listen", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.Env = os.Environ()
	for _, kv := range strings.Split(cfg.ferryEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting ferry: %w", err)
	}
	fp := &ferryProc{cmd: cmd, dir: dir, exited: make(chan struct{}), pprofAddr: pprofAddr}
	go func() { fp.waitErr = cmd.Wait(); close(fp.exited) }()
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && strings.HasSuffix(string(b), "\n") {
			fp.addr = strings.TrimSpace(string(b))
			return fp, nil
		}
		select {
		case <-fp.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("ferry exited before serving: %v", fp.waitErr)
		case <-deadline:
			fp.stop()
			return nil, errors.New("ferry did not write its address within 30 s")
		case <-ctx.Done():
			fp.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for ferry to exit (SIGKILL after 20 s). It
// returns an error when ferry did not exit 0.
func (fp *ferryProc) stop() error {
	fp.once.Do(func() {
		defer os.RemoveAll(fp.dir)
		select {
		case <-fp.exited:
			fp.stopErr = fmt.Errorf("ferry had already exited: %v", fp.waitErr)
			return
		default:
		}
		_ = fp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-fp.exited:
			if fp.waitErr != nil {
				fp.stopErr = fmt.Errorf("ferry exited after SIGTERM: %w", fp.waitErr)
			}
		case <-time.After(20 * time.Second):
			_ = fp.cmd.Process.Kill()
			<-fp.exited
			fp.stopErr = errors.New("ferry did not exit within 20 s of SIGTERM; killed")
		}
	})
	return fp.stopErr
}

// procStatus returns the kB fields of /proc/pid/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		f := strings.Fields(v)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	if _, ok := out["VmHWM"]; !ok {
		return nil, errors.New("no VmHWM in /proc status")
	}
	return out, nil
}

// procCPU returns the user+system CPU seconds of pid (USER_HZ is 100 on Linux).
func procCPU(pid int) (float64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	// utime is field 14 and stime 15 (1-based).
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(ut+st) / 100, nil
}

// procFaults returns the minor page faults of pid (field 10).
func procFaults(pid int) (int64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(f[7], 10, 64)
}

// procStat returns the fields of /proc/pid/stat after the command, the
// first being the state (field 3).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return nil, errors.New("short /proc stat")
	}
	return f, nil
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// ---------------------------------------------------------------------------

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// readClient runs an external client's bounded read and checks what it
// counted. Its own timing (from open to end of input) is reported, not the
// process start-up.
func readClient(ctx context.Context, cfg config, c clientCmd, fp *ferryProc, topic string, want expect) (Run, error) {
	cr, err := runClient(ctx, c, fp, "FERRY_ADDR="+fp.addr, "FERRY_BENCH_TOPIC="+topic, "FERRY_BENCH_WARMUPS="+strconv.Itoa(cfg.clientWarmups))
	if err != nil {
		return Run{}, err
	}
	if cr.records != want.records || cr.bytes != want.bytes {
		return Run{}, fmt.Errorf("read %d records / %d bytes, want %d / %d", cr.records, cr.bytes, want.records, want.bytes)
	}
	return cr.run(c.name), nil
}

// clientRun is what an external client reported about its timed run.
type clientRun struct {
	records, bytes       int64
	seconds, coldSeconds float64
	cpu                  float64 // the client's CPU during the timed run
	ferryCPU             float64 // ferry's during it; < 0 when not known
	brokerCPU            float64 // the broker's during it; < 0 when not known
}

func (cr clientRun) run(name string) Run {
	r := newRun(name, cr.records, cr.bytes, time.Duration(cr.seconds*float64(time.Second)))
	r.ClientCPU, r.ColdSeconds = cr.cpu, cr.coldSeconds
	if cr.ferryCPU >= 0 {
		r.FerryCPU = cr.ferryCPU
	}
	if cr.brokerCPU >= 0 {
		r.BrokerCPU = cr.brokerCPU
	}
	return r
}

// runClient runs an external client with env added to this process's
// environment. The client may do warm-up runs first (FERRY_BENCH_WARMUPS);
// it prints the line `timed` when its measured run starts, and last
// `records=N bytes=B seconds=S [cpu=C] [cold_seconds=X]`: S and C are the
// measured run's time and CPU, X the time of its first run in the process
// (before the JIT and caches warmed up). Without cpu=, the child's whole
// user+system time counts; ferry's CPU is taken between `timed` and the
// last line.
func runClient(ctx context.Context, c clientCmd, fp *ferryProc, env ...string) (clientRun, error) {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return clientRun{}, err
	}
	if err := cmd.Start(); err != nil {
		return clientRun{}, err
	}
	cr := clientRun{ferryCPU: -1, brokerCPU: -1}
	fc0, bc0, last := -1.0, -1.0, ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line == "timed" {
			fc0, _ = procCPU(fp.cmd.Process.Pid)
			if c, ok := brokerCPU(); ok {
				bc0 = c
			}
		} else if line != "" {
			last = line
		}
	}
	if fc0 >= 0 {
		if fc1, err := procCPU(fp.cmd.Process.Pid); err == nil {
			cr.ferryCPU = fc1 - fc0
		}
	}
	if bc1, ok := brokerCPU(); ok && bc0 >= 0 {
		cr.brokerCPU = bc1 - bc0
	}
	if err := cmd.Wait(); err != nil {
		return clientRun{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(last) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	var errs []error
	num := func(k string, into *float64, required bool) {
		v, ok := kv[k]
		if !ok {
			if required {
				errs = append(errs, fmt.Errorf("no %s=", k))
			}
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", k, v, err))
		}
		*into = f
	}
	var records, bytes float64
	cr.cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	num("records", &records, true)
	num("bytes", &bytes, true)
	num("seconds", &cr.seconds, true)
	num("cpu", &cr.cpu, false)
	num("cold_seconds", &cr.coldSeconds, false)
	if err := errors.Join(errs...); err != nil {
		return clientRun{}, fmt.Errorf("unexpected output %q: %v", last, err)
	}
	cr.records, cr.bytes = int64(records), int64(bytes)
	return cr, nil
}
