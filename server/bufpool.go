package server

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// init makes gRPC's marshal and receive buffers come from a pool that does
// not zero a reused buffer. gRPC's default pool clears every reused buffer
// in full, which on the source path costs as much CPU as encoding the
// records: each buffer is then overwritten whole (the proto codec marshals
// exactly Size bytes into it; the transport reads exactly a message's length
// into it), so clearing it first protects nothing. gRPC allows this pool to
// be changed only while the program initialises.
func init() {
	experimental.SetDefaultBufferPool(newDirtyPool())
}

const (
	minPoolShift = 8  // 256 B: smaller buffers are not pooled by gRPC either
	maxPoolShift = 24 // 16 MiB: the largest client message ferry accepts
)

// dirtyPool is a mem.BufferPool of power-of-two tiers; Get returns a reused
// buffer as it was left. Buffers over 16 MiB are allocated and dropped.
type dirtyPool struct {
	tiers [maxPoolShift + 1]sync.Pool
}

var _ mem.BufferPool = (*dirtyPool)(nil)

func newDirtyPool() *dirtyPool { return &dirtyPool{} }

// Get returns a buffer of length size; its contents are unspecified.
func (p *dirtyPool) Get(size int) *[]byte {
	shift := max(bits.Len(uint(size-1)), minPoolShift)
	if size <= 0 || shift > maxPoolShift {
		b := make([]byte, size)
		return &b
	}
	if b, ok := p.tiers[shift].Get().(*[]byte); ok {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size, 1<<shift)
	return &b
}

// Put returns b to the tier of the largest power of two that its capacity
// holds, so that any Get from that tier fits.
func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minPoolShift {
		return
	}
	shift := bits.Len(uint(c)) - 1
	if shift > maxPoolShift {
		return
	}
	p.tiers[shift].Put(b)
}
