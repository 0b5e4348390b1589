package main

// CPU per GB, and Go profiles of ferry and of this process.
//
// Wall time on a shared machine moves with whatever else runs; the CPU each
// process spends per GB of record values moved does not, or much less. For
// every read and write path the report gives the CPU-seconds per GB (10^9
// value bytes) of ferry, of the client and of the broker, each from the
// process's own accounting: /proc/PID/stat (utime+stime) for ferry and for
// the broker (its pid from $FERRY_TEST_KAFKA_PID_FILE, which
// test/kafka/with-kafka.sh exports), getrusage for this process (the direct
// franz-go clients and the Go gRPC client), and an external client's own
// cpu= figure. From these, "one core per stage": if each process had a core
// of its own, the path would move 1 / (the largest stage's CPU per GB) GB
// per second; its ratio to the direct client's is the ratio the path would
// reach on a machine with a core per stage, the figure that shared cores
// do not blur.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPURow is one path's CPU per GB and its one-core-per-stage figure.
type CPURow struct {
	Name string `json:"name"`
	// CPU-seconds per 10^9 value bytes; the medians over the repetitions,
	// each taken on its own. Ferry is 0 on a direct path.
	Ferry  float64 `json:"ferry_cpu_s_per_gb"`
	Client float64 `json:"client_cpu_s_per_gb"`
	Broker float64 `json:"broker_cpu_s_per_gb,omitempty"`
	// StageGBPerS is 1 / the largest of the three, Largest names it.
	StageGBPerS float64 `json:"one_core_per_stage_gb_per_s"`
	Largest     string  `json:"largest_stage"`
	// Baseline is the direct path it is compared with ("" for a direct one);
	// StageRatio is StageGBPerS over the baseline's, WallRatio the measured
	// throughput ratio of the picked runs.
	Baseline   string  `json:"baseline,omitempty"`
	StageRatio float64 `json:"one_core_per_stage_ratio,omitempty"`
	WallRatio  float64 `json:"wall_ratio,omitempty"`
}

// cpuRow summarises the runs of one path; ferry says whether ferry is one
// of its stages.
func cpuRow(name string, runs []Run, ferry bool) CPURow {
	perGB := func(f func(Run) float64) float64 {
		v := make([]float64, 0, len(runs))
		for _, r := range runs {
			if r.Bytes > 0 {
				v = append(v, f(r)/(float64(r.Bytes)/1e9))
			}
		}
		if len(v) == 0 {
			return 0
		}
		sort.Float64s(v)
		return v[(len(v)-1)/2]
	}
	row := CPURow{Name: name,
		Client: perGB(func(r Run) float64 { return r.ClientCPU }),
		Broker: perGB(func(r Run) float64 { return r.BrokerCPU }),
	}
	if ferry {
		row.Ferry = perGB(func(r Run) float64 { return r.FerryCPU })
	}
	if m := max(row.Ferry, row.Client, row.Broker); m > 0 {
		row.StageGBPerS = 1 / m
		switch m {
		case row.Ferry:
			row.Largest = "ferry"
		case row.Client:
			row.Largest = "client"
		default:
			row.Largest = "broker"
		}
	}
	return row
}

// against sets row's ratios to base.
func (row *CPURow) against(base CPURow, wall float64) {
	row.Baseline, row.WallRatio = base.Name, wall
	if base.StageGBPerS > 0 {
		row.StageRatio = row.StageGBPerS / base.StageGBPerS
	}
}

func printCPU(w io.Writer, title string, rows []CPURow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s, CPU-seconds per GB (ferry, client, broker) and one core per stage (1 / the largest):\n", title)
	for _, r := range rows {
		ferry := "    -"
		if r.Ferry > 0 {
			ferry = fmt.Sprintf("%5.2f", r.Ferry)
		}
		broker := "    -"
		if r.Broker > 0 {
			broker = fmt.Sprintf("%5.2f", r.Broker)
		}
		s := fmt.Sprintf("%-30s: ferry %s  client %5.2f  broker %s  one core per stage %5.2f GB/s (%s)", r.Name, ferry, r.Client, broker, r.StageGBPerS, r.Largest)
		if r.Baseline != "" {
			s += fmt.Sprintf("  %.2fx %s (wall %.2fx)", r.StageRatio, r.Baseline, r.WallRatio)
		}
		fmt.Fprintln(w, s)
	}
}

// ---------------------------------------------------------------------------
// The broker's CPU

// brokerPidFile holds the broker's pid (-broker-pid-file); read at every
// measurement, as a test may restart the broker.
var brokerPidFile string

// brokerCPU returns the broker's user+system CPU seconds, false when not
// known.
func brokerCPU() (float64, bool) {
	if brokerPidFile == "" {
		return 0, false
	}
	b, err := os.ReadFile(brokerPidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	c, err := procCPU(pid)
	return c, err == nil
}

// ---------------------------------------------------------------------------
// Go profiles (-pprof-dir)

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// pprofPhase collects, for one phase, ferry's CPU profile from its
// --pprof-listen endpoint (in back-to-back one-second profiles, as the
// endpoint needs a duration up front: `go tool pprof` merges them) and this
// process's own (the client's). The returned func stops both, waiting for
// the running one-second profile to end.
func pprofPhase(cfg config, fp *ferryProc, name string) func() {
	if err := os.MkdirAll(cfg.pprofDir, 0o755); err != nil {
		logf("pprof: %v", err)
		return func() {}
	}
	own := filepath.Join(cfg.pprofDir, "client-"+name+".pb.gz")
	f, err := os.Create(own)
	if err != nil {
		logf("pprof: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logf("pprof: %v", err)
		f.Close()
		f = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var files []string
	if fp.pprofAddr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				out := filepath.Join(cfg.pprofDir, fmt.Sprintf("ferry-%s.%03d.pb.gz", name, i))
				if err := fetchProfile("http://"+fp.pprofAddr+"/debug/pprof/profile?seconds=1", out); err != nil {
					logf("pprof: %v", err)
					return
				}
				files = append(files, out)
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
			logf("pprof: this process (the client) during %s: go tool pprof -top %s", name, own)
		}
		if len(files) > 0 {
			logf("pprof: ferry during %s: go tool pprof -top %s %s", name, cfg.ferryBin, filepath.Join(cfg.pprofDir, "ferry-"+name+".*.pb.gz"))
		}
	}
}

func fetchProfile(url, out string) error {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
