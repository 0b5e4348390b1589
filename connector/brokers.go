package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FailureTTL is how long Brokers remembers a failure that is not seen
// again: a client that stopped talking to a broker (it left the cluster, or
// leads nothing the client needs) must not keep it reported. franz-go
// retries a broker it needs far more often than this.
const FailureTTL = time.Minute

// Brokers follows the requests franz-go clients send to the brokers of a
// cluster, through the hooks of Hook: which brokers failed (a dial, a write
// or a read that failed, or a request left unanswered longer than it may
// take) and since when, so that a source can tell its client that Kafka is
// unavailable and a sink can name the brokers it could not reach. It is
// safe for concurrent use.
type Brokers struct {
	bootstrap []string

	mu       sync.Mutex
	answerIn time.Duration
	byAddr   map[string]*brokerState
	other    map[string]*failure // failures callers saw, by what failed
}

type brokerState struct {
	addr string
	node int32 // -1 until a request names it; seeds' ids are negative
	// waiting holds, per request key (franz-go sends produce and fetch
	// requests on connections of their own), when the first request
	// written after the last answer to that key was written; a key is
	// absent while nothing of it waits for an answer.
	waiting map[int16]time.Time
	failure *failure // nil while the broker answers
}

// oldestWait returns when the request that waits longest was written, or
// zero.
func (br *brokerState) oldestWait() time.Time {
	var oldest time.Time
	for _, at := range br.waiting {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest
}

type failure struct {
	since time.Time // when the failure began
	last  time.Time // when it was last seen
	err   error
}

// NewBrokers follows the brokers of a cluster with these bootstrap servers.
// A request unanswered for longer than answerIn counts as failed; a client
// whose requests wait in the broker (fetches wait up to fetch.max.wait.ms)
// must allow for that.
func NewBrokers(bootstrap []string, answerIn time.Duration) *Brokers {
	return &Brokers{
		bootstrap: bootstrap, answerIn: answerIn,
		byAddr: make(map[string]*brokerState), other: make(map[string]*failure),
	}
}

// SetAnswerIn sets how long a request may go unanswered before it counts
// as failed.
func (b *Brokers) SetAnswerIn(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answerIn = d
}

// Hook returns the franz-go hook that feeds b; pass it with kgo.WithHooks
// to every client b follows.
func (b *Brokers) Hook() kgo.Hook { return brokersHook{b} }

// Fail records a failure a caller saw, under what failed ("fetching t/0",
// "discovering partitions"), until Recover or FailureTTL after it was last
// recorded.
func (b *Brokers) Fail(what string, err error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.other[what]
	if f == nil {
		f = &failure{since: now}
		b.other[what] = f
	}
	f.last, f.err = now, err
}

// Recover forgets the failure recorded under what.
func (b *Brokers) Recover(what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.other, what)
}

// Health is what Brokers knows of a cluster at one moment.
type Health struct {
	// Failing is true while a broker or a request failed and did not
	// succeed since.
	Failing bool
	// Since is when the oldest of these failures began.
	Since time.Time
	// Reason names what failed: each broker by address (and node id) with
	// its last error, each failed request with its error, and the
	// bootstrap servers.
	Reason string
}

// Health reports the failures at now. inUse, when not nil, holds the node
// ids of the brokers the caller needs (the leaders of a source's
// partitions): other brokers' failures do not count then, since franz-go
// does not need them. Without inUse every broker counts.
func (b *Brokers) Health(now time.Time, inUse map[int32]bool) Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.health(now, inUse, b.answerIn)
}

// health is Health with requests unanswered for longer than patience
// counted as failures; b.mu is held.
func (b *Brokers) health(now time.Time, inUse map[int32]bool, patience time.Duration) Health {
	var (
		h       Health
		reasons []string
	)
	add := func(since time.Time, reason string) {
		if !h.Failing || since.Before(h.Since) {
			h.Since = since
		}
		h.Failing = true
		reasons = append(reasons, reason)
	}
	for _, br := range b.sorted() {
		if inUse != nil && !inUse[br.node] {
			continue
		}
		if f := br.failure; f != nil && now.Sub(f.last) < FailureTTL {
			add(f.since, fmt.Sprintf("%s: %v", br.name(), f.err))
		} else if w := br.oldestWait(); !w.IsZero() && now.Sub(w) > patience && now.Sub(w) < FailureTTL {
			add(w.Add(patience), fmt.Sprintf("%s: no answer for %s", br.name(), now.Sub(w).Round(100*time.Millisecond)))
		}
	}
	whats := make([]string, 0, len(b.other))
	for what, f := range b.other {
		if now.Sub(f.last) >= FailureTTL {
			delete(b.other, what)
			continue
		}
		whats = append(whats, what)
	}
	sort.Strings(whats)
	for _, what := range whats {
		f := b.other[what]
		add(f.since, fmt.Sprintf("%s: %v", what, f.err))
	}
	if h.Failing {
		h.Reason = strings.Join(reasons, "; ") + b.bootstrapText()
	}
	return h
}

// Unreachable names the brokers that failed or have a request waiting for
// an answer (all of them count), or says that none did, followed by the
// bootstrap servers: the text of an error that ends a sink whose records or
// requests ran out of time.
func (b *Brokers) Unreachable(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.health(now, nil, 0); h.Failing {
		return "unreachable: " + h.Reason
	}
	return "no broker failed or left a request unanswered" + b.bootstrapText()
}

func (b *Brokers) bootstrapText() string {
	return " (bootstrap servers " + strings.Join(b.bootstrap, ", ") + ")"
}

// sorted returns the brokers by address; b.mu is held.
func (b *Brokers) sorted() []*brokerState {
	out := make([]*brokerState, 0, len(b.byAddr))
	for _, br := range b.byAddr {
		out = append(out, br)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

func (br *brokerState) name() string {
	if br.node >= 0 {
		return fmt.Sprintf("broker %d at %s", br.node, br.addr)
	}
	return "broker " + br.addr
}

// state returns the entry of the broker of meta, creating it; b.mu is held.
func (b *Brokers) state(meta kgo.BrokerMetadata) *brokerState {
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	br := b.byAddr[addr]
	if br == nil {
		br = &brokerState{addr: addr, node: -1, waiting: make(map[int16]time.Time)}
		b.byAddr[addr] = br
	}
	if meta.NodeID >= 0 {
		br.node = meta.NodeID
	}
	return br
}

// failed records a failed dial, write or read. A request that was left
// waiting failed when its answer was due, not when franz-go gave up on it
// (a read times out only after the request's timeout plus 10 s).
func (b *Brokers) failed(meta kgo.BrokerMetadata, err error) {
	if callersErr(err) {
		return
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	br := b.state(meta)
	if br.failure == nil {
		since := now
		if w := br.oldestWait(); !w.IsZero() && w.Add(b.answerIn).Before(now) {
			since = w.Add(b.answerIn)
		}
		br.failure = &failure{since: since}
	}
	br.failure.last, br.failure.err = now, err
	clear(br.waiting)
}

// IsConnectionError reports whether err is a failed connection to a broker
// (a dial, read or write that failed, a connection closed under a request):
// franz-go retries these, as Kafka's Java clients do.
func IsConnectionError(err error) bool {
	var (
		opErr  *net.OpError
		sysErr *os.SyscallError
	)
	return errors.As(err, &opErr) || errors.As(err, &sysErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// callersErr reports whether err ended a request for the client's own
// reasons (a canceled context, a closed client), which says nothing about
// the broker.
func callersErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed)
}

// brokersHook feeds Brokers from franz-go's hooks.
type brokersHook struct{ b *Brokers }

var (
	_ kgo.HookBrokerConnect    = brokersHook{}
	_ kgo.HookBrokerDisconnect = brokersHook{}
	_ kgo.HookBrokerWrite      = brokersHook{}
	_ kgo.HookBrokerRead       = brokersHook{}
)

// OnBrokerConnect records a failed dial; a connection made means the broker
// answered (ApiVersions, SASL).
func (h brokersHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.b.event(meta, err, func(br *brokerState) { br.failure = nil })
}

// OnBrokerDisconnect forgets what waited on the connection: franz-go sends
// it again on another one.
func (h brokersHook) OnBrokerDisconnect(meta kgo.BrokerMetadata, _ net.Conn) {
	h.b.event(meta, nil, func(br *brokerState) { clear(br.waiting) })
}

// OnBrokerWrite notes when a request began waiting for its answer, or
// records a failed write.
func (h brokersHook) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.b.event(meta, err, func(br *brokerState) {
		if br.waiting[key].IsZero() {
			br.waiting[key] = time.Now()
		}
	})
}

// OnBrokerRead records an answer, or a failed read.
func (h brokersHook) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.b.event(meta, err, func(br *brokerState) {
		delete(br.waiting, key)
		br.failure = nil
	})
}

// event records a failure when err is not nil, else applies ok to the
// broker's entry.
func (b *Brokers) event(meta kgo.BrokerMetadata, err error, ok func(*brokerState)) {
	if err != nil {
		b.failed(meta, err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ok(b.state(meta))
}
