package source

// javaStringHashCode is java.lang.String.hashCode: s[0]*31^(n-1) + ... +
// s[n-1] over UTF-16 code units, in 32-bit two's complement arithmetic.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// Owner returns the index of the reader, among parallelism readers, that owns
// a partition of topic. It is Flink's KafkaSourceEnumerator.getSplitOwner:
// start = ((hash(topic) * 31) & 0x7FFFFFFF) % N; owner = (start + partition) % N,
// in Java's int arithmetic, so a partition maps to the same reader index as
// in a Flink job.
func Owner(topic string, partition int32, parallelism int) int {
	n := int32(parallelism)
	start := ((javaStringHashCode(topic) * 31) & 0x7FFFFFFF) % n
	return int((start + partition) % n)
}
