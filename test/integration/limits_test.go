package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/server/policy"
)

// These tests hold ferry to what it promises a shared service: every
// session, pending stream and byte of buffer counts against a limit, and a
// client that vanishes loses its sessions within a bound (issue 11, points 1
// and 2).

// stallingProxy forwards TCP connections to a target until stall; then it
// stops forwarding both ways without closing anything, as a network that
// drops every packet does.
type stallingProxy struct {
	lis     net.Listener
	stalled chan struct{}
	once    sync.Once
	done    chan struct{}
	mu      sync.Mutex
	conns   []net.Conn
}

func startProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{lis: lis, stalled: make(chan struct{}), done: make(chan struct{})}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	t.Cleanup(func() {
		close(p.done)
		lis.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *stallingProxy) addr() string { return p.lis.Addr().String() }

// stall stops all forwarding; connections stay open until the test ends.
func (p *stallingProxy) stall() { p.once.Do(func() { close(p.stalled) }) }

func (p *stallingProxy) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		select {
		case <-p.stalled:
			<-p.done // drop what came and read nothing more
			return
		default:
		}
		if n > 0 {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// clientOf returns a ferry client on its own connection to addr, dialled
// with opts too.
func clientOf(t *testing.T, f *ferry, addr string, opts ...grpc.DialOption) *ferry {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := *f
	c.conn, c.source, c.sink = conn, ferryv1.NewSourceServiceClient(conn), ferryv1.NewSinkServiceClient(conn)
	return &c
}

// openOn opens an unbounded source on topic with props over client and
// reads nothing after opened, as a slow reader. It returns the stream, or
// the error that refused the open.
func openOn(ctx context.Context, client ferryv1.SourceServiceClient, topic string, props map[string]string) (ferryv1.SourceService_ReadClient, error) {
	stream, err := client.Read(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(openSource(&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{topic}}, Properties: props,
	}})); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	r, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if r.GetOpened() == nil {
		return nil, fmt.Errorf("first answer %v, want opened", r)
	}
	return stream, nil
}

// tryOpen is openOn with the test's context; it returns the stream and its
// cancel, or the status that refused the open.
func (f *ferry) tryOpen(t *testing.T, topic string, props map[string]string) (ferryv1.SourceService_ReadClient, context.CancelFunc, *status.Status) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	t.Cleanup(cancel)
	stream, err := openOn(ctx, f.source, topic, props)
	if err != nil {
		cancel()
		return nil, nil, status.Convert(err)
	}
	return stream, cancel, nil
}

// mustOpen is tryOpen failing the test when the open is refused.
func (f *ferry) mustOpen(t *testing.T, topic string, props map[string]string) (ferryv1.SourceService_ReadClient, context.CancelFunc) {
	t.Helper()
	stream, cancel, st := f.tryOpen(t, topic, props)
	if st != nil {
		t.Fatalf("open refused: %v", st)
	}
	return stream, cancel
}

func wantRefusal(t *testing.T, st *status.Status, code codes.Code, parts ...string) {
	t.Helper()
	if st == nil || st.Code() != code {
		t.Fatalf("open ended with %v, want %v", st, code)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Fatalf("%v does not say %q", st.Message(), p)
		}
	}
}

// waitUsage polls the server until ok holds and returns how long it took,
// failing after limit.
func waitUsage(t *testing.T, srv *server.Server, limit time.Duration, what string, ok func(server.Usage) bool) time.Duration {
	t.Helper()
	began := time.Now()
	for !ok(srv.Usage()) {
		if time.Since(began) > limit {
			t.Fatalf("%s did not happen within %s: usage %+v", what, limit, srv.Usage())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(began)
}

// TestVanishedClientLosesItsSessionsWithinTheKeepaliveBound fills
// --max-sessions with sessions of a client behind a proxy, then makes the
// proxy drop everything without closing: keepalive (1 s + 1 s here) must
// end the connection, close the sessions and free their slots.
func TestVanishedClientLosesItsSessionsWithinTheKeepaliveBound(t *testing.T) {
	const keepalive, timeout = time.Second, time.Second
	f := startFerryWith(t, func(c *server.Config) {
		c.MaxSessions, c.KeepaliveTime, c.KeepaliveTimeout = 2, keepalive, timeout
	})
	topic := f.createTopic(t, 1)
	proxy := startProxy(t, f.addr)
	vanishing := clientOf(t, f, proxy.addr())
	vanishing.mustOpen(t, topic, nil)
	vanishing.mustOpen(t, topic, nil)
	_, _, st := f.tryOpen(t, topic, nil)
	wantRefusal(t, st, codes.ResourceExhausted, "limit of 2 open sessions")

	proxy.stall()
	// The bound: silence noticed after keepalive, the ping unanswered for
	// timeout; closing the sessions' Kafka clients takes the rest.
	took := waitUsage(t, f.srv, keepalive+timeout+3*time.Second, "releasing the vanished client's sessions",
		func(u server.Usage) bool { return u.Sessions == 0 && u.MemoryInUse == 0 })
	t.Logf("sessions released %s after the network went silent", took)
	f.mustOpen(t, topic, nil)
}

// TestStreamsThatNeverOpenAreBounded starts 2,000 streams that never send
// open, over 40 connections: at most the pending limit wait at once, the
// rest are refused at once, each waiting one ends at the open deadline, the
// heap stays bounded, and a session opened before keeps working.
func TestStreamsThatNeverOpenAreBounded(t *testing.T) {
	const (
		streams, conns = 2000, 40
		limit          = 100
		deadline       = time.Second
	)
	f := startFerryWith(t, func(c *server.Config) { c.MaxPendingStreams, c.OpenTimeout = limit, deadline })
	topic := f.createTopic(t, 1)
	working := f.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}}})
	// The connections first: what the streams add is measured.
	clients := make([]*ferry, conns)
	for i := range clients {
		clients[i] = clientOf(t, f, f.addr)
		if _, err := healthpb.NewHealthClient(clients[i].conn).Check(testContext(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	baseHeap, baseGoroutines := heapMiB(), runtime.NumGoroutine()
	type outcome struct {
		code codes.Code
		msg  string
		took time.Duration
	}
	outcomes := make(chan outcome, streams)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func(c *ferry) {
			defer wg.Done()
			began := time.Now()
			stream, err := c.source.Read(testContext(t))
			if err == nil {
				_, err = stream.Recv()
			}
			st := status.Convert(err)
			outcomes <- outcome{st.Code(), st.Message(), time.Since(began)}
		}(clients[i%conns])
	}
	// Meanwhile the pending streams never exceed the limit, and the open
	// session goes on: records written now reach it.
	stop := make(chan struct{})
	maxPending := make(chan int, 1)
	go func() {
		most := 0
		for {
			most = max(most, f.srv.Usage().PendingStreams)
			select {
			case <-stop:
				maxPending <- most
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	waitUsage(t, f.srv, 10*time.Second, "the pending limit reached", func(u server.Usage) bool { return u.PendingStreams == limit })
	peakHeap := heapMiB()
	produceSmallBatches(t, topic, 1, 10)
	for got := 0; got < 10; {
		got += len(working.next(func(m *ferryv1.ReadResponse) bool { return m.GetRecords() != nil }).GetRecords().GetRecords())
	}
	working.checkpoint(1)
	working.next(func(m *ferryv1.ReadResponse) bool { return m.GetBarrier() != nil })
	wg.Wait()
	close(stop)
	if most := <-maxPending; most > limit {
		t.Errorf("%d streams waited for open at once, the limit is %d", most, limit)
	}
	close(outcomes)
	counts := map[codes.Code]int{}
	for o := range outcomes {
		counts[o.code]++
		switch o.code {
		case codes.ResourceExhausted:
			if !strings.Contains(o.msg, fmt.Sprintf("limit of %d", limit)) {
				t.Fatalf("refusal %q does not name the limit", o.msg)
			}
		case codes.DeadlineExceeded:
			if !strings.Contains(o.msg, "open deadline of 1s") || o.took < deadline || o.took > deadline+5*time.Second {
				t.Fatalf("a stream ended after %s with %q, want the open deadline of %s", o.took, o.msg, deadline)
			}
		default:
			t.Fatalf("a stream that never opened ended with %v: %s", o.code, o.msg)
		}
	}
	t.Logf("outcomes %v; heap %.1f MiB before the streams, %.1f MiB at the peak", counts, baseHeap, peakHeap)
	if counts[codes.DeadlineExceeded] < limit || counts[codes.ResourceExhausted] == 0 {
		t.Errorf("outcomes %v: want at least %d waiting until the deadline and the rest refused", counts, limit)
	}
	// Client and server share this heap: the bound only catches a cost per
	// stream far above gRPC's own (a few KiB).
	if peakHeap-baseHeap > 128 {
		t.Errorf("the heap grew by %.1f MiB with 2,000 streams that never open", peakHeap-baseHeap)
	}
	waitUsage(t, f.srv, 5*time.Second, "no pending stream", func(u server.Usage) bool { return u.PendingStreams == 0 && u.Sessions == 1 })
	// Nothing of the streams stays behind (the receive waiting for open
	// ends with its stream).
	for began := time.Now(); runtime.NumGoroutine() > baseGoroutines+10; time.Sleep(10 * time.Millisecond) {
		if time.Since(began) > 5*time.Second {
			t.Fatalf("%d goroutines after the streams ended, %d before", runtime.NumGoroutine(), baseGoroutines)
		}
	}
	f.mustOpen(t, topic, nil)
}

// TestSlowReadersWithinTheMemoryBudget opens 20 sources that read nothing
// on a topic with data, each reserving its 1 MiB prefetch.max.bytes of a
// 20 MiB budget: all are admitted, the 21st is refused naming the budget,
// and closing one admits another.
func TestSlowReadersWithinTheMemoryBudget(t *testing.T) {
	const readers = 20
	f := startFerryWith(t, func(c *server.Config) { c.MemoryBudget = readers << 20 })
	topic := f.createTopic(t, 2)
	produceSmallBatches(t, topic, 2, 2000)
	props := map[string]string{"prefetch.max.bytes": "1048576"}
	var open []context.CancelFunc
	for i := 0; i < readers; i++ {
		_, cancel := f.mustOpen(t, topic, props)
		open = append(open, cancel)
	}
	if u := f.srv.Usage(); u.Sessions != readers || u.MemoryInUse != readers<<20 {
		t.Fatalf("usage %+v", u)
	}
	_, _, st := f.tryOpen(t, topic, props)
	wantRefusal(t, st, codes.ResourceExhausted, "memory budget 20 MiB: 20 MiB in use by 20 sessions, this session needs 1 MiB (its prefetch.max.bytes)")
	open[0]() // the client goes away
	waitUsage(t, f.srv, 10*time.Second, "the closed reader's memory returned", func(u server.Usage) bool { return u.MemoryInUse == (readers-1)<<20 })
	f.mustOpen(t, topic, props)
}

// TestSessionsPerPrincipalAreBounded: a principal's sessions count together
// over all its connections; another principal is not held back by them.
func TestSessionsPerPrincipalAreBounded(t *testing.T) {
	all := rights(t, []string{"default"}, []string{"*"}, nil, nil, nil, false)
	tn := startTenantsConfig(t, policy.New(map[string]policy.Rights{"alice": all, "bob": all}), nil,
		func(c *server.Config) { c.MaxSessionsPerPrincipal = 2 }, "alice", "bob")
	aliceA, aliceB, bob := tn.as(t, "alice"), tn.as(t, "alice"), tn.as(t, "bob")
	topic := aliceA.createTopic(t, 1)
	_, closeFirst := aliceA.mustOpen(t, topic, nil)
	aliceB.mustOpen(t, topic, nil)
	_, _, st := aliceB.tryOpen(t, topic, nil)
	wantRefusal(t, st, codes.ResourceExhausted, `principal "alice" has 2 open sessions`)
	bob.mustOpen(t, topic, nil)
	closeFirst()
	waitUsage(t, tn.srv, 10*time.Second, "alice's first session closed", func(u server.Usage) bool { return u.Sessions == 2 })
	aliceB.mustOpen(t, topic, nil)
}

// TestStreamsPerConnectionAreBounded: a connection carries at most
// --max-streams-per-connection streams; the next waits in the client until
// one ends, while another connection opens at once.
func TestStreamsPerConnectionAreBounded(t *testing.T) {
	const perConn = 4
	f := startFerryWith(t, func(c *server.Config) { c.MaxConcurrentStreams = perConn })
	topic := f.createTopic(t, 1)
	var cancels []context.CancelFunc
	for i := 0; i < perConn; i++ {
		_, cancel := f.mustOpen(t, topic, nil)
		cancels = append(cancels, cancel)
	}
	waiting := make(chan *status.Status, 1)
	go func() {
		_, err := openOn(testContext(t), f.source, topic, nil)
		waiting <- status.Convert(err)
	}()
	// Another connection is not held back.
	clientOf(t, f, f.addr).mustOpen(t, topic, nil)
	select {
	case st := <-waiting:
		t.Fatalf("a stream beyond the connection's %d ended: %v", perConn, st)
	case <-time.After(300 * time.Millisecond):
	}
	if n := f.srv.Usage().Sessions; n != perConn+1 {
		t.Fatalf("%d sessions, want %d", n, perConn+1)
	}
	cancels[0]()
	select {
	case st := <-waiting:
		if st != nil {
			t.Fatalf("the waiting stream, once a stream ended: %v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting stream did not start after a stream of its connection ended")
	}
}
