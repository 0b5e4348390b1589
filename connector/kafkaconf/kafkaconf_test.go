package kafkaconf

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferrykafka/ferry/connector"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		role  Role
		props map[string]string
		opts  int    // franz-go options expected
		err   string // substring of the error, "" for success
		field string
	}{
		{name: "empty", role: Consumer},
		{name: "consumer keys", role: Consumer, opts: 3,
			props: map[string]string{"fetch.max.bytes": "1048576", "isolation.level": "read_committed", "fetch.max.wait.ms": "100"}},
		{name: "ignored as in Flink", role: Consumer,
			props: map[string]string{"key.deserializer": "x", "auto.offset.reset": "latest"}},
		{name: "producer keys", role: Producer, opts: 4,
			props: map[string]string{"acks": "all", "linger.ms": "0", "compression.type": "zstd", "enable.idempotence": "false"}},
		{name: "acks=1 drops idempotence", role: Producer, opts: 2, props: map[string]string{"acks": "1"}},
		{name: "unknown key", role: Consumer, props: map[string]string{"no.such": "1"},
			err: "unknown consumer property", field: `properties["no.such"]`},
		{name: "wrong role", role: Producer, props: map[string]string{"isolation.level": "read_committed"},
			err: "is a consumer property, not a producer one", field: `properties["isolation.level"]`},
		{name: "bad isolation level", role: Consumer, props: map[string]string{"isolation.level": "dirty"},
			err: "read_uncommitted or read_committed", field: `properties["isolation.level"]`},
		{name: "bad number", role: Consumer, props: map[string]string{"fetch.max.bytes": "-1"},
			err: "integer in 1..2147483647", field: `properties["fetch.max.bytes"]`},
		{name: "bad bool", role: Producer, props: map[string]string{"enable.idempotence": "yes"},
			err: "true or false"},
		{name: "bad compression", role: Producer, props: map[string]string{"compression.type": "brotli"},
			err: "none, gzip, snappy, lz4 or zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.role, tc.props, Files{})
			if tc.err != "" {
				var ie *connector.InvalidError
				if !errors.As(err, &ie) || !strings.Contains(ie.Rule, tc.err) {
					t.Fatalf("err = %v, want an InvalidError saying %q", err, tc.err)
				}
				if tc.field != "" && ie.Field != tc.field {
					t.Errorf("field = %q, want %q", ie.Field, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Opts) != tc.opts {
				t.Errorf("%d options, want %d", len(s.Opts), tc.opts)
			}
		})
	}
}

func TestTableIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Table() {
		if p.Name == "" || p.Default == "" || p.Option == "" || p.Roles == 0 || p.apply == nil {
			t.Errorf("incomplete entry %+v", p)
		}
		if seen[p.Name] {
			t.Errorf("%s listed twice", p.Name)
		}
		seen[p.Name] = true
	}
}

func TestSecurity(t *testing.T) {
	const jaas = `org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cr3t-pw";`
	for _, tc := range []struct {
		name  string
		props map[string]string
		err   string
		field string
	}{
		{name: "sasl plain", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": jaas}},
		{name: "scram over tls", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b";`}},
		{name: "ssl", props: map[string]string{"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": ""}},
		{name: "sasl without jaas", props: map[string]string{"security.protocol": "SASL_PLAINTEXT"},
			err: "is required with security.protocol=SASL_PLAINTEXT", field: `properties["sasl.jaas.config"]`},
		{name: "jaas without sasl", props: map[string]string{"sasl.jaas.config": jaas},
			err: "needs security.protocol SASL_PLAINTEXT or SASL_SSL", field: `properties["sasl.jaas.config"]`},
		{name: "ssl key without ssl", props: map[string]string{"ssl.truststore.type": "PEM"},
			err: "needs security.protocol SSL or SASL_SSL", field: `properties["ssl.truststore.type"]`},
		{name: "unknown store type refused", props: map[string]string{"security.protocol": "SSL", "ssl.truststore.type": "JCEKS"}, err: "must be PEM, JKS or PKCS12"},
		{name: "bad jaas hides the secret", props: map[string]string{"security.protocol": "SASL_PLAINTEXT",
			"sasl.jaas.config": `PlainLoginModule username="alice" password="s3cr3t-pw"`}, err: "not shown because it holds a secret"},
		{name: "bad key pair hides the key", props: map[string]string{"security.protocol": "SSL",
			"ssl.keystore.key": "-----BEGIN PRIVATE KEY-----\ns3cr3t-pw\n-----END PRIVATE KEY-----", "ssl.keystore.certificate.chain": "x"},
			err: "does not form a valid unencrypted PEM key pair", field: `properties["ssl.keystore.key"]`},
		{name: "bad truststore", props: map[string]string{"security.protocol": "SSL", "ssl.truststore.certificates": "nope"}, err: "holds no PEM certificate"},
		{name: "unreadable truststore", props: map[string]string{"security.protocol": "SSL", "ssl.truststore.location": "/no/such/ca.pem"},
			err: `cannot read "/no/such/ca.pem" on the ferry server`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Consumer, tc.props, Files{Dirs: []string{"/no/such"}})
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ie *connector.InvalidError
			if !errors.As(err, &ie) || !strings.Contains(ie.Rule, tc.err) {
				t.Fatalf("err = %v, want one saying %q", err, tc.err)
			}
			if tc.field != "" && ie.Field != tc.field {
				t.Errorf("field %q, want %q", ie.Field, tc.field)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestClientMetrics: register.consumer.metrics and register.producer.metrics
// are true unless set false, each for its role only, as in Flink.
func TestClientMetrics(t *testing.T) {
	for _, tc := range []struct {
		role  Role
		props map[string]string
		want  bool
		err   string
	}{
		{role: Consumer, want: true},
		{role: Producer, want: true},
		{role: Consumer, props: map[string]string{"register.consumer.metrics": "false"}},
		{role: Producer, props: map[string]string{"register.producer.metrics": "FALSE"}},
		{role: Producer, props: map[string]string{"register.producer.metrics": "true"}, want: true},
		{role: Consumer, props: map[string]string{"register.producer.metrics": "false"}, err: "is a producer property"},
		{role: Consumer, props: map[string]string{"register.consumer.metrics": "no"}, err: "true or false"},
	} {
		s, err := Parse(tc.role, tc.props, Files{})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v %v: got %v, want an error with %q", tc.role, tc.props, err, tc.err)
			}
		case err != nil:
			t.Errorf("%v %v: %v", tc.role, tc.props, err)
		case s.ClientMetrics != tc.want:
			t.Errorf("%v %v: ClientMetrics %v, want %v", tc.role, tc.props, s.ClientMetrics, tc.want)
		}
	}
}
