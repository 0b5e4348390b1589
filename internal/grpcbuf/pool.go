// Package grpcbuf is a gRPC buffer pool that does not zero what it hands
// out again.
//
// gRPC's default pool clears every reused buffer in full, which on a read
// path of large messages costs as much CPU as encoding or decoding them:
// each buffer is then overwritten whole (a codec marshals exactly the
// message's size into it; the transport reads exactly a frame's or a
// message's length into it), so clearing it first protects nothing. ferry's
// server installs it as gRPC's default pool; a Go client can pass it to
// experimental.WithBufferPool.
package grpcbuf

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

const (
	minPoolShift = 8  // 256 B: smaller buffers are not pooled by gRPC either
	maxPoolShift = 24 // 16 MiB: the largest message ferry accepts
)

// Pool is a mem.BufferPool of power-of-two tiers; Get returns a reused
// buffer as it was left. Buffers over 16 MiB are allocated and dropped.
type Pool struct {
	tiers [maxPoolShift + 1]sync.Pool
}

var _ mem.BufferPool = (*Pool)(nil)

// New returns an empty pool.
func New() *Pool { return &Pool{} }

// Get returns a buffer of length size; its contents are unspecified.
func (p *Pool) Get(size int) *[]byte {
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
func (p *Pool) Put(b *[]byte) {
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
