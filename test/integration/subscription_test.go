package integration

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// splitsOf returns the "topic/partition" of every split a session opened with.
func splitsOf(res readResult) []string {
	var out []string
	for _, s := range res.opened.GetSplits() {
		out = append(out, s.GetTopic()+"/"+strconv.Itoa(int(s.GetPartition())))
	}
	sort.Strings(out)
	return out
}

func TestSubscriptions(t *testing.T) {
	f := startFerry(t)
	a := f.createTopic(t, 2)
	b := f.createTopic(t, 1)
	// A topic whose name extends a's: a whole-name pattern for a must not match it.
	ab := a + "x"
	if resp, err := f.admin.CreateTopic(testContext(t), 1, 1, nil, ab); err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	produceNumbered(t, a, 2, 3)
	produceNumbered(t, b, 1, 4)
	produceNumbered(t, ab, 1, 5)

	t.Run("topic list", func(t *testing.T) {
		res := f.readBounded(t, bounded(a, b))
		if got := strings.Join(splitsOf(res), " "); got != a+"/0 "+a+"/1 "+b+"/0" || len(res.records) != 10 {
			t.Fatalf("splits %s, %d records", got, len(res.records))
		}
	})
	t.Run("pattern matches whole names", func(t *testing.T) {
		open := bounded()
		open.Spec.Topics = nil
		open.Spec.TopicPattern = strings.ReplaceAll(a, ".", `\.`) + "|" + strings.ReplaceAll(b, ".", `\.`)
		res := f.readBounded(t, open)
		if got := strings.Join(splitsOf(res), " "); got != a+"/0 "+a+"/1 "+b+"/0" || len(res.records) != 10 {
			t.Fatalf("splits %s, %d records", got, len(res.records))
		}
	})
	t.Run("pattern that matches nothing ends at once", func(t *testing.T) {
		open := bounded()
		open.Spec.Topics = nil
		open.Spec.TopicPattern = "no-topic-is-named-like-this-.*"
		if res := f.readBounded(t, open); len(res.opened.GetSplits()) != 0 || len(res.records) != 0 {
			t.Fatalf("read %v", res)
		}
	})
	t.Run("explicit partitions", func(t *testing.T) {
		open := bounded()
		open.Spec.Topics = nil
		open.Spec.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: a, Partition: 1}, {Topic: ab, Partition: 0}}}
		res := f.readBounded(t, open)
		if got := strings.Join(splitsOf(res), " "); got != a+"/1 "+ab+"/0" || len(res.records) != 8 {
			t.Fatalf("splits %s, %d records", got, len(res.records))
		}
	})
	for _, tc := range []struct {
		name string
		mod  func(*ferryv1.SourceSpec)
		code codes.Code
		says string
	}{
		{"missing partition", func(s *ferryv1.SourceSpec) {
			s.Topics = nil
			s.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: a, Partition: 2}}}
		}, codes.NotFound, `partition "` + a + `/2" does not exist`},
		{"partition of a missing topic", func(s *ferryv1.SourceSpec) {
			s.Topics = nil
			s.Partitions = &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: a + "-missing", Partition: 0}}}
		}, codes.NotFound, `topic "` + a + `-missing" does not exist`},
		{"bad pattern", func(s *ferryv1.SourceSpec) { s.Topics = nil; s.TopicPattern = "(" }, codes.InvalidArgument, "open.spec.topic_pattern: is not a valid RE2 expression"},
		{"java-only regex syntax", func(s *ferryv1.SourceSpec) { s.Topics = nil; s.TopicPattern = `a(?=b)` }, codes.InvalidArgument, "open.spec.topic_pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := bounded(a)
			tc.mod(open.Spec)
			st := f.readStatus(t, openSource(open))
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.says) {
				t.Fatalf("status %v %q, want %v saying %q", st.Code(), st.Message(), tc.code, tc.says)
			}
		})
	}
}

// TestParallelReadersOwnFlinksSplits runs the readers of one source on two
// ferry servers that know nothing of each other.
func TestParallelReadersOwnFlinksSplits(t *testing.T) {
	f := startFerry(t)
	other := startFerry(t)
	const partitions, readers = 7, 3
	topic := f.createTopic(t, partitions)
	produceNumbered(t, topic, partitions, 2)
	owned := map[int32]int{}
	total := 0
	for i := int32(0); i < readers; i++ {
		open := bounded(topic)
		open.ReaderIndex, open.Parallelism = i, i32(readers)
		server := f
		if i > 0 {
			server = other
		}
		res := server.readBounded(t, open)
		for _, sp := range res.opened.GetSplits() {
			if prev, dup := owned[sp.GetPartition()]; dup {
				t.Fatalf("partition %d owned by readers %d and %d", sp.GetPartition(), prev, i)
			}
			owned[sp.GetPartition()] = int(i)
			if want := source.Owner(topic, sp.GetPartition(), readers); want != int(i) {
				t.Errorf("reader %d owns partition %d; Flink's formula gives reader %d", i, sp.GetPartition(), want)
			}
		}
		for _, r := range res.records {
			if owned[r.GetPartition()] != int(i) {
				t.Errorf("reader %d read a record of partition %d it does not own", i, r.GetPartition())
			}
		}
		total += len(res.records)
	}
	if len(owned) != partitions || total != partitions*2 {
		t.Fatalf("readers own %d of %d partitions and read %d of %d records", len(owned), partitions, total, partitions*2)
	}
}
