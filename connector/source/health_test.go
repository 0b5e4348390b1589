package source

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// openPolled opens a reader of topic t on c with fetch.max.wait.ms=100 and
// polls it on its own goroutine until the test ends, counting the records.
func openPolled(t *testing.T, c *kfake.Cluster) (*Reader, *atomic.Int64) {
	t.Helper()
	settings, err := kafkaconf.Parse(kafkaconf.Consumer, map[string]string{"fetch.max.wait.ms": "100"}, kafkaconf.Files{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), Config{
		Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Topics: []string{"t"}, Parallelism: 1, Settings: settings,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var records atomic.Int64
	go func() {
		for {
			b, err := r.Poll(ctx)
			if err != nil {
				done <- err
				return
			}
			records.Add(int64(len(b.Records)))
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Poll ended with %v, want only the test's cancel to end it", err)
		}
		r.Close()
	})
	return r, &records
}

func waitHealth(t *testing.T, r *Reader, failing bool, within time.Duration) connector.Health {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := r.Health(time.Now())
		if h.Failing == failing {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("Health = %+v, want Failing=%v within %v", h, failing, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Fetch answers of a cluster under a test's control.
const (
	answer int32 = iota // as the cluster would
	refuse              // close the connection
	hang                // read the fetch and never answer it
)

// fetchControlled returns a cluster with topic t whose fetches do what the
// returned mode says.
func fetchControlled(t *testing.T) (*kfake.Cluster, *atomic.Int32) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var mode atomic.Int32
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		switch mode.Load() {
		case refuse:
			c.KeepControl()
			return nil, errors.New("refused by the test"), true
		case hang:
			c.KeepControl()
			return nil, nil, true
		}
		return nil, nil, false
	})
	return c, &mode
}

// Fetches that fail (the broker closes the connection) do not end the
// reader: Health reports them, naming the broker, and reading resumes when
// the broker answers again.
func TestFailedFetchesAreReportedAndRetried(t *testing.T) {
	c, mode := fetchControlled(t)
	r, records := openPolled(t, c)
	time.Sleep(300 * time.Millisecond)
	waitHealth(t, r, false, time.Second)
	mode.Store(refuse)
	h := waitHealth(t, r, true, 5*time.Second)
	if !strings.Contains(h.Reason, c.ListenAddrs()[0]) || time.Since(h.Since) > 5*time.Second {
		t.Fatalf("Health = %+v, want the broker %s named and a recent since", h, c.ListenAddrs()[0])
	}
	mode.Store(answer)
	waitHealth(t, r, false, 10*time.Second)
	produce(t, c, "t", 3)
	deadline := time.Now().Add(5 * time.Second)
	for records.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of 3 records after the broker came back", records.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A broker that reads fetches and never answers counts as failing once the
// answer is overdue (fetch.max.wait.ms plus a second), well before
// franz-go's read timeout.
func TestHangingBrokerIsReported(t *testing.T) {
	c, mode := fetchControlled(t)
	r, _ := openPolled(t, c)
	time.Sleep(300 * time.Millisecond)
	mode.Store(hang)
	start := time.Now()
	h := waitHealth(t, r, true, 5*time.Second)
	if e := time.Since(start); e > 3*time.Second || !strings.Contains(h.Reason, "no answer for") {
		t.Fatalf("Health = %+v after %v, want a broker without answer within ~1.1 s", h, e)
	}
}

func produce(t *testing.T, c *kfake.Cluster, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}
