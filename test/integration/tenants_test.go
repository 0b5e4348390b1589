package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/server/authn"
	"github.com/ferrykafka/ferry/server/policy"
)

// lockedBuffer collects a server's log for the secrets check.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bearer sends a token with every call; plaintext is fine on loopback in a
// test (ferry itself refuses tokens in clear on other addresses).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// tenants is a ferry server that authenticates by bearer token and checks
// a policy, with a client per principal.
type tenants struct {
	srv    *server.Server
	addr   string
	log    *lockedBuffer
	tokens map[string]string
	admin  *kadm.Client
}

func rights(t *testing.T, clusters, read, write, groups, txn []string, admin bool) policy.Rights {
	t.Helper()
	parse := func(ss []string) policy.Patterns {
		var out policy.Patterns
		for _, s := range ss {
			p, err := policy.ParsePattern(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	return policy.Rights{Clusters: parse(clusters), ReadTopics: parse(read), WriteTopics: parse(write), Groups: parse(groups),
		TransactionalIDPrefixes: parse(txn), Admin: admin}
}

// startTenants starts ferry with a tokens file for the given principals and
// pol. Tokens are random per run.
func startTenants(t *testing.T, pol *policy.Policy, principals ...string) *tenants {
	t.Helper()
	return startTenantsWith(t, pol, nil, principals...)
}

// startTenantsWith is startTenants with more clusters than "default" and
// "main".
func startTenantsWith(t *testing.T, pol *policy.Policy, clusters map[string]connector.Cluster, principals ...string) *tenants {
	t.Helper()
	return startTenantsConfig(t, pol, clusters, nil, principals...)
}

// startTenantsConfig is startTenantsWith with configure changing the
// server's Config first (limits, ...).
func startTenantsConfig(t *testing.T, pol *policy.Policy, clusters map[string]connector.Cluster, configure func(*server.Config), principals ...string) *tenants {
	t.Helper()
	addr := broker(t)
	dir := t.TempDir()
	tn := &tenants{log: &lockedBuffer{}, tokens: map[string]string{}}
	var lines strings.Builder
	for _, p := range principals {
		tok := fmt.Sprintf("tok-%s-%d", p, time.Now().UnixNano())
		tn.tokens[p] = tok
		fmt.Fprintf(&lines, "%s %s\n", p, authn.HashToken(tok))
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(tn.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth, err := authn.New(authn.Config{TokensFile: tokens, Skip: authn.SkipServices("grpc.health.v1.Health")}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	all := map[string]connector.Cluster{
		"default": {BootstrapServers: []string{addr}},
		"main":    {BootstrapServers: []string{addr}},
	}
	for name, cl := range clusters {
		all[name] = cl
	}
	cfg := server.Config{
		Clusters:       all,
		HealthInterval: 200 * time.Millisecond,
		Authenticator:  auth,
		Policy:         pol,
		Logger:         log,
	}
	if configure != nil {
		configure(&cfg)
	}
	tn.srv, err = server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tn.srv.Serve(lis)
	tn.addr = lis.Addr().String()
	kc, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	tn.admin = kadm.NewClient(kc)
	t.Cleanup(func() {
		kc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tn.srv.Shutdown(ctx)
		for p, tok := range tn.tokens {
			if strings.Contains(tn.log.String(), tok) {
				t.Errorf("the server log shows the token of %s", p)
			}
		}
	})
	return tn
}

// as returns a client of ferry that authenticates as principal ("" sends
// no token).
func (tn *tenants) as(t *testing.T, principal string) *ferry {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if principal != "" {
		tok, ok := tn.tokens[principal]
		if !ok {
			tok = "a-token-nobody-has"
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(tok)))
	}
	conn, err := grpc.NewClient(tn.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &ferry{addr: tn.addr, srv: tn.srv, conn: conn, source: ferryv1.NewSourceServiceClient(conn), sink: ferryv1.NewSinkServiceClient(conn), admin: tn.admin}
}

// createNamedTopic creates topic name with n partitions.
func (tn *tenants) createNamedTopic(t *testing.T, name string, n int32) string {
	t.Helper()
	f := &ferry{admin: tn.admin}
	ctx := testContext(t)
	if resp, err := f.admin.CreateTopic(ctx, n, 1, nil, name); err != nil || resp.Err != nil {
		t.Fatalf("creating topic %s: %v %v", name, err, resp.Err)
	}
	for {
		md, err := tn.admin.Metadata(ctx, name)
		if td, ok := md.Topics[name]; err == nil && ok && td.Err == nil && len(td.Partitions) == int(n) {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s never showed up", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func wantDenied(t *testing.T, what string, st *status.Status, says ...string) {
	t.Helper()
	if st.Code() != codes.PermissionDenied {
		t.Errorf("%s: %v %q, want PERMISSION_DENIED", what, st.Code(), st.Message())
		return
	}
	for _, s := range says {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("%s: %q does not say %q", what, st.Message(), s)
		}
	}
}

// TestPolicyAllowsAndDeniesEachResourceKind runs two tenants and an
// operator against one ferry: each may use its own cluster, topics, groups
// and transactional id prefix and nothing else; denials name principal,
// operation and resource; a pattern subscription and partition discovery
// see only readable topics; reflection needs admin; a policy swapped in is
// applied to the next open.
func TestPolicyAllowsAndDeniesEachResourceKind(t *testing.T) {
	run := time.Now().UnixNano()
	a, b := fmt.Sprintf("a%d", run), fmt.Sprintf("b%d", run)
	pol := policy.New(map[string]policy.Rights{
		"team-a": rights(t, []string{"default"}, []string{a + ".*"}, []string{a + ".*"}, []string{a + "-*"}, []string{a + "-*"}, false),
		"team-b": rights(t, []string{"default", "main"}, []string{b + ".*"}, []string{b + ".*"}, []string{b + "-*"}, []string{b + "-*"}, false),
		"ops":    rights(t, nil, nil, nil, nil, nil, true),
	})
	tn := startTenants(t, pol, "team-a", "team-b", "ops")
	aIn := tn.createNamedTopic(t, a+".in", 2)
	bIn := tn.createNamedTopic(t, b+".in", 1)
	fa, fb := tn.as(t, "team-a"), tn.as(t, "team-b")

	// Allowed: write and read own topics, own group, own prefix.
	if n := fa.writeAll(t, &ferryv1.SinkSpec{DefaultTopic: aIn}, [][]*ferryv1.SinkRecord{{{Value: []byte("a1")}, {Topic: aIn, Value: []byte("a2")}}}); n != 2 {
		t.Fatalf("team-a wrote %d", n)
	}
	open := bounded(aIn)
	open.Spec.GroupId = a + "-etl"
	if res := fa.readBounded(t, open); len(res.records) != 2 {
		t.Fatalf("team-a read %d records", len(res.records))
	}

	// Denied, each kind.
	open = bounded(aIn)
	open.Spec.Cluster = &ferryv1.Cluster{Name: "main"}
	wantDenied(t, "cluster", fa.readStatus(t, openSource(open)), `principal "team-a"`, "use", `cluster "main"`)
	wantDenied(t, "read topic", fa.readStatus(t, openSource(bounded(bIn))), `principal "team-a"`, "read", `topic "`+bIn+`"`)
	wantDenied(t, "partition of a topic", fa.readStatus(t, openSource(&ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Partitions: &ferryv1.PartitionSet{Partitions: []*ferryv1.TopicPartition{{Topic: bIn}}}}})), "read", bIn)
	wantDenied(t, "default topic", fa.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: bIn}})), "write", `topic "`+bIn+`"`)
	wantDenied(t, "record topic", fa.writeStatus(t,
		openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: aIn}}),
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1, Records: []*ferryv1.SinkRecord{{Value: []byte("ok")}, {Topic: bIn, Value: []byte("no")}}}}}),
		"records.records[1]", "write", `topic "`+bIn+`"`)
	open = bounded(aIn)
	open.Spec.GroupId = b + "-etl"
	wantDenied(t, "group", fa.readStatus(t, openSource(open)), "use", `consumer group "`+b+`-etl"`)
	eo := &ferryv1.SinkSpec{DefaultTopic: aIn, DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: b + "-sink"}
	wantDenied(t, "transactional id prefix", fa.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: eo})), "use", `transactional id prefix "`+b+`-sink"`)

	// Nothing of team-b's was written by team-a's refused record batch.
	if got := fb.readBounded(t, bounded(bIn)); len(got.records) != 0 {
		t.Fatalf("%s holds %d records after team-a's denied writes", bIn, len(got.records))
	}

	// A pattern subscription sees only readable topics, also in discovery.
	suffix := fmt.Sprintf("x%d", run)
	aX := tn.createNamedTopic(t, a+"."+suffix, 1)
	tn.createNamedTopic(t, b+"."+suffix, 1)
	sess := fa.openSession(t, &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{TopicPattern: `.*\.` + suffix + `.*`,
		Properties: map[string]string{"partition.discovery.interval.ms": "100"}}})
	for _, sp := range sess.opened.GetSplits() {
		if sp.GetTopic() != aX {
			t.Errorf("team-a's pattern subscription got split %s/%d", sp.GetTopic(), sp.GetPartition())
		}
	}
	if len(sess.opened.GetSplits()) != 1 {
		t.Errorf("team-a's pattern subscription opened %d splits, want 1 (%s)", len(sess.opened.GetSplits()), aX)
	}
	bLater := tn.createNamedTopic(t, b+"."+suffix+"-later", 1)
	aLater := tn.createNamedTopic(t, a+"."+suffix+"-later", 1)
	added := sess.waitSplitsAdded(t, aLater)
	for _, sp := range added {
		if sp.GetTopic() == bLater {
			t.Errorf("discovery gave team-a a split of %s", bLater)
		}
	}

	// Reflection follows the policy: admin only.
	refl := func(f *ferry) *status.Status {
		stream, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(testContext(t))
		if err != nil {
			return status.Convert(err)
		}
		// Send reports io.EOF when the server has already ended the
		// stream (a denial can come first); the status is Recv's.
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
			return status.Convert(err)
		}
		_, err = stream.Recv()
		return status.Convert(err)
	}
	wantDenied(t, "reflection", refl(fa), `principal "team-a"`, "ServerReflection")
	_, err := ferryv1.NewAdminServiceClient(fa.conn).ListSessions(testContext(t), &ferryv1.ListSessionsRequest{})
	wantDenied(t, "admin service", status.Convert(err), `principal "team-a"`, "AdminService")
	if _, err := ferryv1.NewAdminServiceClient(tn.as(t, "ops").conn).ListSessions(testContext(t), &ferryv1.ListSessionsRequest{}); err != nil {
		t.Errorf("ListSessions for ops: %v", err)
	}
	if st := refl(tn.as(t, "ops")); st.Code() != codes.OK {
		t.Errorf("reflection for ops: %v %q", st.Code(), st.Message())
	}

	// Authentication: no token, an unknown token. Health is open.
	for _, who := range []string{"", "nobody"} {
		st := tn.as(t, who).readStatus(t, openSource(bounded(aIn)))
		if st.Code() != codes.Unauthenticated {
			t.Errorf("principal %q: %v %q, want UNAUTHENTICATED", who, st.Code(), st.Message())
		}
	}
	if h, err := healthpb.NewHealthClient(tn.as(t, "").conn).Check(testContext(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without credentials: %v %v", h, err)
	}

	// A new policy applies to the next open: team-a loses read_topics.
	tn.srv.SetPolicy(policy.New(map[string]policy.Rights{
		"team-a": rights(t, []string{"default"}, nil, []string{a + ".*"}, []string{a + "-*"}, []string{a + "-*"}, false),
	}))
	wantDenied(t, "read after reload", fa.readStatus(t, openSource(bounded(aIn))), "read", aIn)
	wantDenied(t, "team-b after reload", fb.readStatus(t, openSource(bounded(bIn))), "no rights")
}

// TestTenantCannotMoveAnothersGroupNorFenceItsWriter replays the two
// cross-tenant attacks: team-b committing team-a's consumer group (from a
// source and inside a sink transaction), and team-b opening an
// EXACTLY_ONCE sink with team-a's transactional id prefix, which would
// fence team-a's writer and abort its prepared transaction. Both are
// PERMISSION_DENIED, team-a's group keeps its offset and team-a's prepared
// transaction commits.
func TestTenantCannotMoveAnothersGroupNorFenceItsWriter(t *testing.T) {
	run := time.Now().UnixNano()
	a, b := fmt.Sprintf("a%d", run), fmt.Sprintf("b%d", run)
	pol := policy.New(map[string]policy.Rights{
		"team-a": rights(t, []string{"*"}, []string{a + ".*"}, []string{a + ".*"}, []string{a + "-*"}, []string{a + "-*"}, false),
		"team-b": rights(t, []string{"*"}, []string{"*"}, []string{b + ".*"}, []string{b + "-*"}, []string{b + "-*"}, false),
	})
	tn := startTenants(t, pol, "team-a", "team-b")
	fa, fb := tn.as(t, "team-a"), tn.as(t, "team-b")
	in := tn.createNamedTopic(t, a+".in", 1)
	out := tn.createNamedTopic(t, a+".out", 1)
	produceNumbered(t, in, 1, 10)
	group := a + "-etl"
	ctx := testContext(t)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: in, Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := tn.admin.CommitOffsets(ctx, group, offsets); err != nil {
		t.Fatal(err)
	}

	// team-b may read the topic, but not as team-a's group.
	open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{in}}, GroupId: group,
		StartingOffsets: &ferryv1.OffsetsInitializer{Kind: &ferryv1.OffsetsInitializer_Committed_{Committed: &ferryv1.OffsetsInitializer_Committed{}}}}}
	wantDenied(t, "team-b source with team-a's group", fb.readStatus(t, openSource(open)), `principal "team-b"`, `consumer group "`+group+`"`)
	bOut := tn.createNamedTopic(t, b+".out", 1)
	wantDenied(t, "team-b sink committing team-a's group", fb.writeStatus(t,
		openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: bOut, DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: b + "-sink"}}),
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1, Records: []*ferryv1.SinkRecord{{Value: []byte("x")}},
			ConsumedOffsets: &ferryv1.ConsumedOffsets{GroupId: group, Offsets: []*ferryv1.PartitionOffset{{Topic: in, Offset: 9}}}}}}),
		"consumed_offsets", `consumer group "`+group+`"`)
	fetched, err := tn.admin.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(in, 0); !ok || o.At != 1 {
		t.Fatalf("team-a's group is at %v, want 1", o)
	}

	// team-a prepares a transaction; team-b's open with that prefix is
	// refused before it can fence it; team-a then commits.
	prefix := a + "-sink"
	sa, _ := fa.openSink(t, &ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: out,
		DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: prefix}})
	sa.write("v1", "v2")
	sa.checkpoint(1)
	wantDenied(t, "team-b sink with team-a's prefix", fb.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: bOut,
		DeliveryGuarantee: ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE, TransactionalIdPrefix: prefix}})),
		`principal "team-b"`, `transactional id prefix "`+prefix+`"`)
	sa.commit(1)
	sa.close()
	fa.waitCommitted(t, out, "v1,v2")
}

// waitSplitsAdded collects the splits discovery adds until one of topic
// want arrives, and returns them all.
func (s *session) waitSplitsAdded(t *testing.T, want string) []*ferryv1.SplitState {
	t.Helper()
	var all []*ferryv1.SplitState
	s.next(func(m *ferryv1.ReadResponse) bool {
		found := false
		for _, sp := range m.GetSplitsAdded().GetSplits() {
			all = append(all, sp)
			found = found || sp.GetTopic() == want
		}
		return found
	})
	return all
}

// TestPrincipalsKafkaIdentityMeetsKafkasACLs maps a principal to its own
// Kafka user on an operator-configured SASL cluster: Kafka's authorizer
// (the harness broker runs StandardAuthorizer; the user has no ACLs)
// refuses it, which reaches the client as PERMISSION_DENIED naming the
// topic, while a principal on the cluster's own identity (a super user)
// reads and writes. No password of the operator's config reaches the log.
func TestPrincipalsKafkaIdentityMeetsKafkasACLs(t *testing.T) {
	jaas := func(user, password string) string {
		return fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, user, password)
	}
	ferryPass, aclPass := env(t, "FERRY_TEST_KAFKA_PASSWORD"), env(t, "FERRY_TEST_KAFKA_ACL_PASSWORD")
	cluster := connector.Cluster{
		BootstrapServers: []string{env(t, "FERRY_TEST_KAFKA_SASL")},
		Properties: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.jaas.config": jaas(env(t, "FERRY_TEST_KAFKA_USER"), ferryPass)},
		PrincipalProperties: map[string]map[string]string{"limited": {"sasl.jaas.config": jaas(env(t, "FERRY_TEST_KAFKA_ACL_USER"), aclPass)}},
	}
	all := rights(t, []string{"secured"}, []string{"*"}, []string{"*"}, []string{"*"}, []string{"*"}, false)
	tn := startTenantsWith(t, policy.New(map[string]policy.Rights{"limited": all, "trusted": all}),
		map[string]connector.Cluster{"secured": cluster}, "limited", "trusted")
	topic := tn.createNamedTopic(t, fmt.Sprintf("acl.%d", time.Now().UnixNano()), 1)
	secured := &ferryv1.Cluster{Name: "secured"}

	trusted, limited := tn.as(t, "trusted"), tn.as(t, "limited")
	if n := trusted.writeAll(t, &ferryv1.SinkSpec{Cluster: secured, DefaultTopic: topic}, [][]*ferryv1.SinkRecord{{{Value: []byte("v")}}}); n != 1 {
		t.Fatalf("trusted wrote %d", n)
	}
	open := bounded(topic)
	open.Spec.Cluster = secured
	if res := trusted.readBounded(t, open); len(res.records) != 1 {
		t.Fatalf("trusted read %d records", len(res.records))
	}
	wantDenied(t, "limited source", limited.readStatus(t, openSource(open)), topic)
	wantDenied(t, "limited sink", limited.writeStatus(t,
		openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Cluster: secured, DefaultTopic: topic}}),
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1, Records: []*ferryv1.SinkRecord{{Value: []byte("x")}}}}},
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}}), topic)
	// A client may not swap the operator's identity for its own.
	open.Spec.Properties = map[string]string{"sasl.jaas.config": jaas("someone", "else")}
	wantDenied(t, "limited overriding the cluster's credentials", limited.readStatus(t, openSource(open)), `property "sasl.jaas.config"`)
	t.Cleanup(func() {
		for _, secret := range []string{ferryPass, aclPass} {
			if strings.Contains(tn.log.String(), secret) {
				t.Error("the server log shows a Kafka password of the operator's config")
			}
		}
	})
}
