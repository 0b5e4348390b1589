package source

import "testing"

func TestJavaStringHashCode(t *testing.T) {
	// Values computed with java.lang.String#hashCode.
	for _, tc := range []struct {
		s    string
		want int32
	}{
		{"", 0},
		{"a", 97},
		{"topic", 110546223},
		{"orders-v2", -390713756},
		{"a-much-longer-topic-name-that-overflows", -1943721313},
		{"é", 233},
		{"😀", 1772899},
	} {
		if got := javaStringHashCode(tc.s); got != tc.want {
			t.Errorf("javaStringHashCode(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestOwnerMatchesFlink(t *testing.T) {
	// Values computed in Java with Flink's KafkaSourceEnumerator.getSplitOwner.
	long := "a-much-longer-topic-name-that-overflows"
	for _, tc := range []struct {
		topic     string
		partition int32
		n         int
		want      int
	}{
		{"orders", 0, 4, 3}, {"orders", 1, 4, 0}, {"orders", 4, 7, 0}, {"orders", 3, 7, 6},
		{long, 0, 4, 1}, {long, 3, 4, 0}, {long, 0, 7, 3},
		{"😀", 0, 3, 1}, {"😀", 0, 7, 6}, {"😀", 1, 7, 0},
	} {
		if got := Owner(tc.topic, tc.partition, tc.n); got != tc.want {
			t.Errorf("Owner(%q, %d, %d) = %d, want %d", tc.topic, tc.partition, tc.n, got, tc.want)
		}
	}
}

func TestOwnerCoversEveryReaderOnce(t *testing.T) {
	// Consecutive partitions of one topic go to consecutive readers, so N
	// partitions over N readers give each reader exactly one.
	for _, n := range []int{1, 2, 3, 5, 7} {
		seen := make(map[int]bool)
		for p := int32(0); p < int32(n); p++ {
			o := Owner("orders", p, n)
			if o < 0 || o >= n {
				t.Fatalf("Owner(orders, %d, %d) = %d out of range", p, n, o)
			}
			seen[o] = true
		}
		if len(seen) != n {
			t.Errorf("parallelism %d: owners %v do not cover every reader", n, seen)
		}
	}
}
