package grpcbuf

import "testing"

func TestPoolGivesLengthAndReusesBuffers(t *testing.T) {
	p := New()
	for _, size := range []int{0, 1, 255, 256, 257, 4096, 300_000, 16 << 20, 16<<20 + 1} {
		b := p.Get(size)
		if len(*b) != size || cap(*b) < size {
			t.Fatalf("Get(%d): len %d cap %d", size, len(*b), cap(*b))
		}
		p.Put(b)
	}
	// A buffer put back is handed out again for any size of its tier, and
	// keeps its contents (the point of this pool).
	b := p.Get(5000) // tier 8 KiB
	(*b)[0] = 42
	p.Put(b)
	var reused bool
	for i := 0; i < 100 && !reused; i++ { // sync.Pool may drop an item; retry
		c := p.Get(8192)
		reused = &(*c)[:1][0] == &(*b)[:1][0]
		if reused && (*c)[0] != 42 {
			t.Fatalf("reused buffer was changed: %d", (*c)[0])
		}
		p.Put(c)
	}
	// A capacity that is not a power of two goes to the tier below it, so
	// every Get from that tier still fits.
	odd := make([]byte, 3000)
	p.Put(&odd)
	for i := 0; i < 10; i++ {
		if c := p.Get(2048); cap(*c) < 2048 {
			t.Fatalf("Get(2048) has cap %d", cap(*c))
		}
	}
}
