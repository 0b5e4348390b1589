package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// logTap is a testing.TB whose Log also keeps what it logs, so that a test
// can look at the server log startFerry sends to t.Log.
type logTap struct {
	testing.TB
	mu  sync.Mutex
	log strings.Builder
}

func (l *logTap) Log(args ...any) {
	l.mu.Lock()
	fmt.Fprintln(&l.log, args...)
	l.mu.Unlock()
	l.TB.Log(args...)
}

func (l *logTap) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.String()
}

// startFerryLogged is startFerry whose server log the test can read.
func startFerryLogged(t *testing.T) (*ferry, *logTap) {
	t.Helper()
	tap := &logTap{TB: t}
	return startFerry(tap), tap
}

// noSecrets fails the test if any secret shows in the texts (status
// messages, the server log).
func noSecrets(t *testing.T, secrets []string, texts ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("a secret shows in %q", text)
			}
		}
	}
}

// roundTrip writes value through a sink session to topic over the listener
// server with props, then reads the topic back through a bounded source
// session with the same props and checks that value is its last record.
func (f *ferry) roundTrip(t *testing.T, topic, server string, props map[string]string, value string) {
	t.Helper()
	cluster := &ferryv1.Cluster{BootstrapServers: []string{server}}
	sinkProps := make(map[string]string, len(props))
	for k, v := range props {
		sinkProps[k] = v
	}
	if n := f.writeAll(t, &ferryv1.SinkSpec{Cluster: cluster, DefaultTopic: topic, Properties: sinkProps},
		[][]*ferryv1.SinkRecord{{{Value: []byte(value)}}}); n != 1 {
		t.Fatalf("wrote %d records, want 1", n)
	}
	open := bounded(topic)
	open.Spec.Cluster = cluster
	open.Spec.Properties = props
	res := f.readBounded(t, open)
	if len(res.records) == 0 || string(res.records[len(res.records)-1].GetValue()) != value {
		t.Fatalf("read %v, want %q last", res.records, value)
	}
}

// store names a client store test/kafka/with-kafka.sh made.
func store(t *testing.T, name string) string {
	return filepath.Join(env(t, "FERRY_TEST_KAFKA_STORES"), name)
}

// TestJavaTruststoresOverSSL reads and writes through the SSL listener with
// the CA in the JKS and PKCS12 truststores keytool made.
func TestJavaTruststoresOverSSL(t *testing.T) {
	f, log := startFerryLogged(t)
	topic := f.createTopic(t, 1)
	pw := env(t, "FERRY_TEST_KAFKA_STORE_PASSWORD")
	for _, tc := range []struct{ typ, file string }{{"JKS", "client.truststore.jks"}, {"PKCS12", "client.truststore.p12"}} {
		t.Run(tc.typ, func(t *testing.T) {
			f.roundTrip(t, topic, env(t, "FERRY_TEST_KAFKA_SSL"), map[string]string{"security.protocol": "SSL",
				"ssl.truststore.type": tc.typ, "ssl.truststore.location": store(t, tc.file), "ssl.truststore.password": pw}, tc.typ)
		})
		t.Run(tc.typ+" with a wrong password", func(t *testing.T) {
			const wrong = "not-test1234-but-4711"
			open := bounded(topic)
			open.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{env(t, "FERRY_TEST_KAFKA_SSL")}}
			open.Spec.Properties = map[string]string{"security.protocol": "SSL",
				"ssl.truststore.type": tc.typ, "ssl.truststore.location": store(t, tc.file), "ssl.truststore.password": wrong}
			st := f.readStatus(t, openSource(open))
			if want := fmt.Sprintf(`properties["ssl.truststore.password"]: does not open the %s store`, tc.typ); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), want) {
				t.Errorf("%v %q, want INVALID_ARGUMENT saying %q", st.Code(), st.Message(), want)
			}
			noSecrets(t, []string{wrong, pw}, st.Message(), log.String())
		})
	}
}

// TestFlinkSASLSSLExample runs the SASL_SSL + SCRAM-SHA-256 example of
// Flink's Kafka connector documentation as written (JKS trust and key
// stores without ssl.*.type, as Kafka's default JKS reads them) against the
// SASL_SSL listener, which requires a client certificate: a write and a
// read round-trip, and no secret reaches the server log. Without the
// keystore the broker refuses the TLS handshake.
func TestFlinkSASLSSLExample(t *testing.T) {
	f, log := startFerryLogged(t)
	topic := f.createTopic(t, 1)
	pw, saslPw := env(t, "FERRY_TEST_KAFKA_STORE_PASSWORD"), env(t, "FERRY_TEST_KAFKA_PASSWORD")
	props := map[string]string{
		"security.protocol":       "SASL_SSL",
		"ssl.truststore.location": store(t, "client.truststore.jks"),
		"ssl.truststore.password": pw,
		"ssl.keystore.location":   store(t, "client.keystore.jks"),
		"ssl.keystore.password":   pw,
		"sasl.mechanism":          "SCRAM-SHA-256",
		"sasl.jaas.config": fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`,
			env(t, "FERRY_TEST_KAFKA_USER"), saslPw),
	}
	server := env(t, "FERRY_TEST_KAFKA_SASL_SSL")
	f.roundTrip(t, topic, server, props, "flink's SASL_SSL example")

	t.Run("PKCS12 stores", func(t *testing.T) {
		p12 := map[string]string{}
		for k, v := range props {
			p12[k] = strings.Replace(v, ".jks", ".p12", 1)
		}
		p12["ssl.truststore.type"], p12["ssl.keystore.type"] = "PKCS12", "PKCS12"
		f.roundTrip(t, topic, server, p12, "PKCS12 stores")
	})
	t.Run("without the keystore the broker refuses", func(t *testing.T) {
		open := bounded(topic)
		open.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{server}}
		open.Spec.Properties = map[string]string{}
		for k, v := range props {
			if !strings.HasPrefix(k, "ssl.keystore.") {
				open.Spec.Properties[k] = v
			}
		}
		st := f.readStatus(t, openSource(open))
		if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "TLS client certificate") {
			t.Errorf("no client certificate: %v %q, want UNAUTHENTICATED naming the TLS client certificate", st.Code(), st.Message())
		}
		noSecrets(t, []string{pw, saslPw}, st.Message())
	})
	noSecrets(t, []string{pw, saslPw, props["sasl.jaas.config"]}, log.String())
}

// TestKafkaACLsDenyAsPermissionDenied uses the harness's user without ACLs
// (the broker runs Kafka's StandardAuthorizer): Kafka refuses its source and
// its sink, and ferry says PERMISSION_DENIED naming the topic.
func TestKafkaACLsDenyAsPermissionDenied(t *testing.T) {
	f, log := startFerryLogged(t)
	topic := f.createTopic(t, 1)
	aclPw := env(t, "FERRY_TEST_KAFKA_ACL_PASSWORD")
	cluster := &ferryv1.Cluster{BootstrapServers: []string{env(t, "FERRY_TEST_KAFKA_SASL")}}
	props := map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
		"sasl.jaas.config": fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`,
			env(t, "FERRY_TEST_KAFKA_ACL_USER"), aclPw)}
	check := func(what string, code codes.Code, msg string) {
		t.Helper()
		if code != codes.PermissionDenied || !strings.Contains(msg, topic) {
			t.Errorf("%s: %v %q, want PERMISSION_DENIED naming %s", what, code, msg, topic)
		}
		noSecrets(t, []string{aclPw}, msg)
	}

	open := bounded(topic)
	open.Spec.Cluster, open.Spec.Properties = cluster, props
	st := f.readStatus(t, openSource(open))
	check("source", st.Code(), st.Message())

	st = f.writeStatus(t,
		openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Cluster: cluster, DefaultTopic: topic, Properties: props}}),
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Records{Records: &ferryv1.WriteBatch{Sequence: 1,
			Records: []*ferryv1.SinkRecord{{Value: []byte("denied")}}}}},
		&ferryv1.WriteRequest{Kind: &ferryv1.WriteRequest_Close{Close: &ferryv1.Close{}}})
	check("sink", st.Code(), st.Message())
	noSecrets(t, []string{aclPw}, log.String())
}
