package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run through test/kafka/with-kafka.sh", name)
	}
	return v
}

// TestSecurityProtocols writes and reads through the broker's SASL, SSL and
// SASL_SSL listeners with Java-named security properties, and checks that a
// wrong password is UNAUTHENTICATED without the password in the message or
// the server log.
func TestSecurityProtocols(t *testing.T) {
	f, log := startFerryLogged(t)
	topic := f.createTopic(t, 1)
	user, pass := env(t, "FERRY_TEST_KAFKA_USER"), env(t, "FERRY_TEST_KAFKA_PASSWORD")
	ca, err := os.ReadFile(env(t, "FERRY_TEST_KAFKA_CA"))
	if err != nil {
		t.Fatal(err)
	}
	jaas := func(module, password string) string {
		return fmt.Sprintf(`org.apache.kafka.common.security.%s required username="%s" password="%s";`, module, user, password)
	}
	sasl := env(t, "FERRY_TEST_KAFKA_SASL")
	ssl := env(t, "FERRY_TEST_KAFKA_SSL")
	for _, tc := range []struct {
		name   string
		server string
		props  map[string]string
	}{
		{"SASL PLAIN", sasl, map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": jaas("plain.PlainLoginModule", pass)}},
		{"SASL SCRAM-SHA-256", sasl, map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.jaas.config": jaas("scram.ScramLoginModule", pass)}},
		{"SASL SCRAM-SHA-512", sasl, map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": jaas("scram.ScramLoginModule", pass)}},
		{"SSL", ssl, map[string]string{"security.protocol": "SSL", "ssl.truststore.certificates": string(ca)}},
		{"SSL from a truststore file", ssl, map[string]string{"security.protocol": "SSL", "ssl.truststore.location": env(t, "FERRY_TEST_KAFKA_CA")}},
		{"SASL_SSL with a PEM keystore", env(t, "FERRY_TEST_KAFKA_SASL_SSL"), map[string]string{"security.protocol": "SASL_SSL",
			"ssl.truststore.location": env(t, "FERRY_TEST_KAFKA_CA"), "ssl.keystore.location": store(t, "client.keystore.pem"),
			"sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": jaas("scram.ScramLoginModule", pass)}},
	} {
		t.Run(tc.name, func(t *testing.T) { f.roundTrip(t, topic, tc.server, tc.props, tc.name) })
	}
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "not-the-password-4711"
		open := bounded(topic)
		open.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{sasl}}
		open.Spec.Properties = map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": jaas("plain.PlainLoginModule", wrong)}
		st := f.readStatus(t, openSource(open))
		if st.Code() != codes.Unauthenticated {
			t.Errorf("source: %v %q, want UNAUTHENTICATED", st.Code(), st.Message())
		}
		if strings.Contains(st.Message(), wrong) {
			t.Errorf("the status shows the password: %q", st.Message())
		}
		st = f.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Cluster: open.Spec.Cluster, DefaultTopic: topic, Properties: open.Spec.Properties}}))
		if st.Code() != codes.Unauthenticated || strings.Contains(st.Message(), wrong) {
			t.Errorf("sink: %v %q, want UNAUTHENTICATED without the password", st.Code(), st.Message())
		}
		noSecrets(t, []string{wrong, pass}, log.String())
	})
	t.Run("a certificate the truststore does not know fails cleanly", func(t *testing.T) {
		open := bounded(topic)
		open.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{ssl}}
		open.Spec.Properties = map[string]string{"security.protocol": "SSL"} // system roots: the test CA is unknown
		if st := f.readStatus(t, openSource(open)); st.Code() == codes.OK || st.Code() == codes.Internal {
			t.Errorf("untrusted certificate: %v %q", st.Code(), st.Message())
		}
	})
}
