package sink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// hangProduce makes c read produce requests and never answer them, as a
// broker that hangs does.
func hangProduce(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
}

func openWith(t *testing.T, c *kfake.Cluster, g Guarantee, props map[string]string) Writer {
	t.Helper()
	settings, err := kafkaconf.Parse(kafkaconf.Producer, props, kafkaconf.Files{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(context.Background(), Config{
		Cluster: connector.Cluster{BootstrapServers: c.ListenAddrs()}, Guarantee: g,
		DefaultTopic: "t", TransactionalIDPrefix: "unit", Settings: settings,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w
}

// A writer whose records Kafka does not acknowledge within
// delivery.timeout.ms fails on its own (Failed), with an UnavailableError
// naming the broker; a checkpoint waiting for them returns that error
// instead of waiting forever, and nothing counts as written.
func TestDeliveryTimeoutFailsTheWriter(t *testing.T) {
	for _, g := range []Guarantee{None, AtLeastOnce, ExactlyOnce} {
		c := fakeCluster(t)
		hangProduce(c)
		w := openWith(t, c, g, map[string]string{"delivery.timeout.ms": "300"})
		start := time.Now()
		if err := w.Write(context.Background(), 1, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition}}); err != nil {
			t.Fatalf("guarantee %d: Write: %v", g, err)
		}
		select {
		case <-w.Failed():
		case <-time.After(10 * time.Second):
			t.Fatalf("guarantee %d: the writer did not fail within 10 s of a 300 ms delivery timeout", g)
		}
		if e := time.Since(start); e < 300*time.Millisecond {
			t.Errorf("guarantee %d: failed after %v, before the delivery timeout", g, e)
		}
		var unavailable *connector.UnavailableError
		err := w.Err()
		if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), c.ListenAddrs()[0]) || !strings.Contains(err.Error(), "delivery.timeout.ms (300 ms)") {
			t.Fatalf("guarantee %d: Err = %v, want an UnavailableError naming the broker %s and the timeout", g, err, c.ListenAddrs()[0])
		}
		if _, err := w.Checkpoint(context.Background(), 1); !errors.As(err, &unavailable) {
			t.Errorf("guarantee %d: Checkpoint = %v, want the UnavailableError", g, err)
		}
		if n := w.Written(); n != 0 {
			t.Errorf("guarantee %d: Written = %d, want 0", g, n)
		}
	}
}

// A checkpoint that waits for Kafka returns an UnavailableError by the
// delivery timeout.
func TestCheckpointFlushEndsByTheDeliveryTimeout(t *testing.T) {
	c := fakeCluster(t)
	hangProduce(c)
	w := openWith(t, c, AtLeastOnce, map[string]string{"delivery.timeout.ms": "300"})
	if err := w.Write(context.Background(), 1, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := w.Checkpoint(context.Background(), 1)
	var unavailable *connector.UnavailableError
	if !errors.As(err, &unavailable) || time.Since(start) > 5*time.Second {
		t.Fatalf("Checkpoint = %v after %v, want an UnavailableError by the 300 ms delivery timeout", err, time.Since(start))
	}
}

// The delivery timeout counts from the hand-over, not from the record's
// timestamp (as kgo.RecordDeliveryTimeout does): a record with an old event
// time is written.
func TestOldTimestampsAreWritten(t *testing.T) {
	c := fakeCluster(t)
	w := openWith(t, c, AtLeastOnce, map[string]string{"delivery.timeout.ms": "1000"})
	old := time.UnixMilli(1000)
	if err := w.Write(context.Background(), 1, []*kgo.Record{{Value: []byte("v"), Partition: NoPartition, Timestamp: old}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(context.Background(), 1); err != nil {
		t.Fatalf("Checkpoint of a record stamped %v: %v", old, err)
	}
	if n := w.Written(); n != 1 {
		t.Fatalf("Written = %d, want 1", n)
	}
}

// A failed connection or an exhausted retry budget is UNAVAILABLE naming
// the brokers, not an unknown error.
func TestRecordErrorsOfConnections(t *testing.T) {
	w := &KafkaWriter{brokers: connector.NewBrokers([]string{"127.0.0.1:1"}, time.Second)}
	for _, err := range []error{kgo.ErrRecordTimeout, kgo.ErrRecordRetries} {
		var unavailable *connector.UnavailableError
		got := w.recordErr(&kgo.Record{Topic: "t"}, err)
		if !errors.As(got, &unavailable) || !errors.Is(got, err) || !strings.Contains(got.Error(), "127.0.0.1:1") {
			t.Errorf("recordErr(%v) = %v, want an UnavailableError naming the bootstrap server", err, got)
		}
	}
}
