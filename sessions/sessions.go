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

// ErrTooManySessions is returned by Registry.Acquire when the limit is
// reached.
var ErrTooManySessions = errors.New("too many sessions")

// OrderError is returned when a message arrives out of order: a checkpoint id
// that does not increase, or completing a checkpoint that was never taken.
type OrderError struct {
	Message string // the message kind, e.g. "checkpoint"
	Rule    string
}

func (e *OrderError) Error() string { return e.Message + ": " + e.Rule }

// Registry names sessions and bounds their number. It is safe for concurrent
// use.
type Registry struct {
	max int

	mu   sync.Mutex
	live map[string]string // id -> kind
}

// NewRegistry returns a registry admitting at most max sessions at once;
// max <= 0 means no limit.
func NewRegistry(max int) *Registry {
	return &Registry{max: max, live: make(map[string]string)}
}

// Acquire registers a new session of kind ("source" or "sink") and returns
// its id and the function that releases it. It returns ErrTooManySessions
// (wrapped with the limit) when the registry is full.
func (r *Registry) Acquire(kind string) (id string, release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.max > 0 && len(r.live) >= r.max {
		return "", nil, fmt.Errorf("%w: the limit of %d open sessions is reached", ErrTooManySessions, r.max)
	}
	for {
		id = kind + "-" + randomHex(8)
		if _, dup := r.live[id]; !dup {
			break
		}
	}
	r.live[id] = kind
	var once sync.Once
	return id, func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.live, id)
			r.mu.Unlock()
		})
	}, nil
}

// Len returns the number of live sessions.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
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
