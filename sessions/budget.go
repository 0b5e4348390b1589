package sessions

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// This file holds the server-wide memory budget that every open session
// reserves its buffers against, and the owner of a session that the
// per-owner session limit counts.

// ErrMemoryBudget is matched (errors.Is) by a *BudgetError: an open that
// would take the reserved memory of all sessions past the budget.
var ErrMemoryBudget = errors.New("memory budget exhausted")

// BudgetError refuses a session whose memory does not fit the budget. Its
// message names the budget, what is in use by how many sessions, and what the
// session needs.
type BudgetError struct {
	Budget   int64  // the server's memory budget, bytes
	InUse    int64  // reserved by open sessions, bytes
	Sessions int    // open sessions holding InUse
	Need     int64  // what the refused session asked for, bytes
	Property string // the property that sized Need
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("memory budget %s: %s in use by %d sessions, this session needs %s (its %s); lower %s or retry when sessions close",
		FormatBytes(e.Budget), FormatBytes(e.InUse), e.Sessions, FormatBytes(e.Need), e.Property, e.Property)
}

// Is makes errors.Is(err, ErrMemoryBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrMemoryBudget }

// budget counts the memory reserved by open sessions against a total. The
// registry holds it under its lock.
type budget struct {
	total   int64 // <= 0: no budget
	inUse   int64
	holders int // sessions holding a reservation
}

// reserve takes n bytes, or returns a *BudgetError when they do not fit.
func (b *budget) reserve(n int64, property string) error {
	if b.total > 0 && b.inUse+n > b.total {
		return &BudgetError{Budget: b.total, InUse: b.inUse, Sessions: b.holders, Need: n, Property: property}
	}
	b.inUse += n
	b.holders++
	return nil
}

func (b *budget) release(n int64) {
	b.inUse -= n
	b.holders--
}

// memoryProperty names the property that sizes the memory of a session
// kind.
func memoryProperty(kind string) string {
	if kind == "sink" {
		return "buffer.memory"
	}
	return "prefetch.max.bytes"
}

// SourceMemory is what a source session reserves: its prefetch.max.bytes,
// the records it may fetch ahead of its client.
func SourceMemory(st *kafkaconf.Settings) int64 {
	if st == nil || st.PrefetchMaxBytes == 0 {
		return kafkaconf.DefaultPrefetchMaxBytes
	}
	return int64(st.PrefetchMaxBytes)
}

// SinkMemory is what a sink session reserves: its buffer.memory, the
// records it holds until Kafka acknowledges them.
func SinkMemory(st *kafkaconf.Settings) int64 {
	if st == nil || st.BufferMemory == 0 {
		return kafkaconf.DefaultBufferMemory
	}
	return int64(st.BufferMemory)
}

// Owner is who opens a session, as errors name it: `principal "alice"`, or
// `connection 127.0.0.1:53122` on a server without authentication. The
// per-owner session limit counts sessions by owner.
type Owner string

type ownerKey struct{}

// WithOwner returns ctx carrying the owner of the sessions opened with it.
func WithOwner(ctx context.Context, o Owner) context.Context {
	return context.WithValue(ctx, ownerKey{}, o)
}

// OwnerOf returns the owner WithOwner put in ctx, or "" (counted against no
// per-owner limit).
func OwnerOf(ctx context.Context) Owner {
	o, _ := ctx.Value(ownerKey{}).(Owner)
	return o
}

// FormatBytes writes n in the largest binary unit that keeps it readable:
// "512 MiB", "1.5 GiB", "64 KiB", "100 B".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for u < len(units)-1 && (v >= 1024 || v <= -1024) {
		v /= 1024
		u++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
