// Package sessions keeps ferry's sessions: the registry that names and counts
// them, the checkpoint bookkeeping that enforces message order, and the source
// and sink sessions that put a connector reader or writer behind that
// bookkeeping.
//
// It knows nothing of gRPC: the server maps its errors to status codes.
package sessions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// Timeouts and bounds of sessions, each with its reason.
const (
	// commitTimeout bounds one offset commit. Java's consumer waits
	// default.api.timeout.ms (60 s) in commitSync; half of it keeps a
	// source's close (which waits for the commit in flight) short, and a
	// commit that fails only counts: the next checkpoint commits again.
	commitTimeout = 30 * time.Second
	// closeTimeout bounds closing a session's Kafka clients when its stream
	// ends without close: aborting the open transaction and leaving the
	// group must not hold the handler (and the session's slot) forever.
	closeTimeout = 10 * time.Second
	// commitQueueLen is how many completed checkpoints (and auto-commits) a
	// source queues for its committer. Commits run one at a time, in order;
	// past 64 queued, completing a checkpoint waits, which slows a client
	// that completes checkpoints faster than Kafka commits them instead of
	// buffering without bound.
	commitQueueLen = 64
)

// ErrTooManySessions is returned by Registry.Acquire when the limit of open
// sessions, of the server or of the session's owner, is reached.
var ErrTooManySessions = errors.New("too many sessions")

// OrderError is returned when a message arrives out of order: a checkpoint id
// that does not increase, or completing a checkpoint that was never taken.
type OrderError struct {
	Message string // the message kind, e.g. "checkpoint"
	Rule    string
}

func (e *OrderError) Error() string { return e.Message + ": " + e.Rule }

// Limits bound what open sessions may hold together. A value <= 0 means no
// limit.
type Limits struct {
	// MaxSessions bounds the open sessions of the server.
	MaxSessions int
	// MaxPerOwner bounds the open sessions of one owner (see Owner).
	MaxPerOwner int
	// MemoryBudget bounds, in bytes, the memory open sessions reserve (see
	// SourceMemory and SinkMemory).
	MemoryBudget int64
}

// Claim is what a session asks the registry for when it opens.
type Claim struct {
	Kind  string // "source" or "sink"
	Owner Owner  // who opens it; "" counts against no per-owner limit
	Bytes int64  // memory reserved against the budget while it is open
}

// Usage is what open sessions hold.
type Usage struct {
	Sessions     int   // open sessions
	MemoryInUse  int64 // bytes reserved against MemoryBudget
	MemoryBudget int64 // the budget; <= 0 means none
}

// Registry names sessions and bounds their number, their number per owner
// and the memory they reserve. It is safe for concurrent use.
type Registry struct {
	limits Limits

	mu      sync.Mutex
	live    map[string]string // id -> kind
	byOwner map[Owner]int
	memory  budget
}

// NewRegistry returns a registry that admits sessions within limits.
func NewRegistry(limits Limits) *Registry {
	return &Registry{limits: limits, live: make(map[string]string), byOwner: make(map[Owner]int),
		memory: budget{total: limits.MemoryBudget}}
}

// Acquire registers a new session for c and returns its id and the function
// that releases it (and its memory). It returns ErrTooManySessions (wrapped
// with the limit) when the server or c.Owner has as many open sessions as
// allowed, and a *BudgetError when c.Bytes do not fit the memory budget;
// then nothing is taken.
func (r *Registry) Acquire(c Claim) (id string, release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if max := r.limits.MaxSessions; max > 0 && len(r.live) >= max {
		return "", nil, fmt.Errorf("%w: the limit of %d open sessions is reached", ErrTooManySessions, max)
	}
	if max := r.limits.MaxPerOwner; max > 0 && c.Owner != "" && r.byOwner[c.Owner] >= max {
		return "", nil, fmt.Errorf("%w: %s has %d open sessions, the most one principal (or, without authentication, one connection) may have",
			ErrTooManySessions, c.Owner, r.byOwner[c.Owner])
	}
	if err := r.memory.reserve(c.Bytes, memoryProperty(c.Kind)); err != nil {
		return "", nil, err
	}
	for {
		id = c.Kind + "-" + randomHex(8)
		if _, dup := r.live[id]; !dup {
			break
		}
	}
	r.live[id] = c.Kind
	if c.Owner != "" {
		r.byOwner[c.Owner]++
	}
	var once sync.Once
	return id, func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			delete(r.live, id)
			r.memory.release(c.Bytes)
			if c.Owner != "" {
				if r.byOwner[c.Owner]--; r.byOwner[c.Owner] == 0 {
					delete(r.byOwner, c.Owner)
				}
			}
		})
	}, nil
}

// Len returns the number of live sessions.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// Usage returns what open sessions hold now.
func (r *Registry) Usage() Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Usage{Sessions: len(r.live), MemoryInUse: r.memory.inUse, MemoryBudget: r.memory.total}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Checkpoints enforces that checkpoint ids increase strictly.
type Checkpoints struct {
	last    int64
	started bool
}

// Begin admits checkpoint id, or returns an *OrderError when it does not
// exceed the previous one.
func (c *Checkpoints) Begin(id int64) error {
	if c.started && id <= c.last {
		return &OrderError{Message: "checkpoint", Rule: fmt.Sprintf("checkpoint ids must increase: got %d after %d", id, c.last)}
	}
	c.last, c.started = id, true
	return nil
}

// Taken reports whether checkpoint id was begun and is not newer than the
// last one.
func (c *Checkpoints) Taken(id int64) bool { return c.started && id <= c.last }

// clientID is the Kafka client id of session id: client.id when set, else
// "{client.id.prefix}-{id}".
func clientID(s *kafkaconf.Settings, id string) string {
	switch {
	case s == nil:
		return "ferry-" + id
	case s.ClientID != "":
		return s.ClientID
	}
	return s.ClientIDPrefix + "-" + id
}
