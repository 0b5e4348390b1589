package integration

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// javaPartitions asks Kafka's own Java partitioner (BuiltInPartitioner,
// what KafkaProducer uses for keyed records) where each key goes among n
// partitions.
func javaPartitions(t *testing.T, n int, keys []string) []int32 {
	t.Helper()
	src := filepath.Join(t.TempDir(), "Partitions.java")
	prog := `public class Partitions {
  public static void main(String[] a) {
    int n = Integer.parseInt(a[0]);
    for (int i = 1; i < a.length; i++) {
      byte[] k = java.util.HexFormat.of().parseHex(a[i]); // hex: immune to the JVM's argv charset
      System.out.println(org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey(k, n));
    }
  }
}`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-cp", env(t, "FERRY_TEST_KAFKA_CLASSPATH"), src, strconv.Itoa(n)}
	for _, k := range keys {
		args = append(args, hex.EncodeToString([]byte(k)))
	}
	out, err := exec.Command("java", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("java: %v\n%s", err, out)
	}
	var ps []int32
	for _, l := range strings.Fields(string(out)) {
		p, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("java printed %q", l)
		}
		ps = append(ps, int32(p))
	}
	return ps
}

func TestPartitioners(t *testing.T) {
	f := startFerry(t)
	const partitions = 7
	var keys []string
	for i := 0; i < 200; i++ {
		keys = append(keys, fmt.Sprintf("key-%d-%x", i, i*7919))
	}
	keys = append(keys, "", "ü-ñicode", strings.Repeat("long", 100))
	want := javaPartitions(t, partitions, keys)

	t.Run("default: murmur2 of the key, as the Java client", func(t *testing.T) {
		topic := f.createTopic(t, partitions)
		var recs []*ferryv1.SinkRecord
		for _, k := range keys {
			recs = append(recs, &ferryv1.SinkRecord{Key: []byte(k), Value: []byte(k)})
		}
		f.writeAll(t, &ferryv1.SinkSpec{DefaultTopic: topic}, [][]*ferryv1.SinkRecord{recs})
		got := map[string]int32{}
		for _, r := range f.readBounded(t, bounded(topic)).records {
			got[string(r.GetValue())] = r.GetPartition()
		}
		for i, k := range keys {
			if got[k] != want[i] {
				t.Errorf("key %q went to partition %d; Kafka's Java partitioner puts it in %d", k, got[k], want[i])
			}
		}
	})
	t.Run("fixed: writer index mod partitions", func(t *testing.T) {
		topic := f.createTopic(t, partitions)
		var recs []*ferryv1.SinkRecord
		for i := 0; i < 50; i++ {
			recs = append(recs, &ferryv1.SinkRecord{Key: []byte(strconv.Itoa(i)), Value: []byte("v")})
		}
		s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic, Partitioner: ferryv1.Partitioner_PARTITIONER_FIXED},
			WriterIndex: 9, Parallelism: i32(10)})
		if err := s.stream.Send(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1, Records: recs}}}); err != nil {
			t.Fatal(err)
		}
		s.close()
		for _, r := range f.readBounded(t, bounded(topic)).records {
			if r.GetPartition() != 9%partitions {
				t.Fatalf("writer 9 wrote to partition %d, want %d", r.GetPartition(), 9%partitions)
			}
		}
	})
	t.Run("round robin and explicit", func(t *testing.T) {
		topic := f.createTopic(t, partitions)
		var recs []*ferryv1.SinkRecord
		for i := 0; i < 70; i++ {
			recs = append(recs, &ferryv1.SinkRecord{Key: []byte("same-key"), Value: []byte("rr")})
		}
		recs = append(recs, &ferryv1.SinkRecord{Key: []byte("same-key"), Value: []byte("explicit"), Partition: i32(5)})
		f.writeAll(t, &ferryv1.SinkSpec{DefaultTopic: topic, Partitioner: ferryv1.Partitioner_PARTITIONER_ROUND_ROBIN}, [][]*ferryv1.SinkRecord{recs})
		count := map[int32]int{}
		for _, r := range f.readBounded(t, bounded(topic)).records {
			if string(r.GetValue()) == "explicit" {
				if r.GetPartition() != 5 {
					t.Errorf("the explicit partition 5 record is in %d", r.GetPartition())
				}
				continue
			}
			count[r.GetPartition()]++
		}
		for p := int32(0); p < partitions; p++ {
			if count[p] != 10 {
				t.Errorf("round robin put %d of 70 records in partition %d, want 10 (%v)", count[p], p, count)
			}
		}
	})
}

func TestAtLeastOnceCheckpointWaitsForEveryAck(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 3)
	s, _ := f.openSink(t, &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic,
		DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE,
		Properties:        map[string]string{"linger.ms": "50"}}})
	const n = 5000
	for i := 0; i < n; i += 500 {
		var vs []string
		for j := i; j < i+500; j++ {
			vs = append(vs, strconv.Itoa(j))
		}
		s.write(vs...)
	}
	fl := s.roundTrip(&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Checkpoint{Checkpoint: &ferryv1.Checkpoint{CheckpointId: 1}}}).GetFlushed()
	if fl == nil || fl.GetCheckpointId() != 1 || fl.GetRecordsWritten() != n {
		t.Fatalf("checkpoint 1 answered %v, want flushed with all %d records acknowledged", fl, n)
	}
	// Acknowledged means readable now, without waiting.
	if got := len(f.readBounded(t, bounded(topic)).records); got != n {
		t.Fatalf("after the checkpoint %d records are in the topic, want %d", got, n)
	}
	s.close()
}
