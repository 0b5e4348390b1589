package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"

	"github.com/ferrykafka/ferry/connector"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server"
)

// krb5Props are an operator's cluster properties for the harness's GSSAPI
// listener: keytab, principal and krb5.conf are files on the ferry server
// that only the operator names.
func krb5Props(t *testing.T, keytab, principal, service string) map[string]string {
	p := map[string]string{
		"security.protocol":       "SASL_PLAINTEXT",
		"sasl.mechanism":          "GSSAPI",
		"sasl.kerberos.krb5.conf": env(t, "FERRY_TEST_KRB5_CONF"),
		"sasl.jaas.config": fmt.Sprintf(`com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="%s" principal="%s";`,
			keytab, principal),
	}
	if service != "" {
		p["sasl.kerberos.service.name"] = service
	}
	return p
}

// startKerberosFerry is a ferry whose operator configured the GSSAPI
// listener as cluster "kerberos", and the failing variants.
func startKerberosFerry(t *testing.T) (*ferry, *logTap) {
	t.Helper()
	gssapi := []string{env(t, "FERRY_TEST_KAFKA_GSSAPI")}
	principal, realm := env(t, "FERRY_TEST_KRB5_PRINCIPAL"), env(t, "FERRY_TEST_KRB5_REALM")
	keytab := env(t, "FERRY_TEST_KRB5_KEYTAB")
	tap := &logTap{TB: t}
	f := startFerryWith(tap, func(c *server.Config) {
		c.Clusters["kerberos"] = connector.Cluster{BootstrapServers: gssapi, Properties: krb5Props(t, keytab, principal, "")}
		c.Clusters["kerberos-wrong-keytab"] = connector.Cluster{BootstrapServers: gssapi,
			Properties: krb5Props(t, env(t, "FERRY_TEST_KRB5_WRONG_KEYTAB"), principal, "")}
		c.Clusters["kerberos-unknown-principal"] = connector.Cluster{BootstrapServers: gssapi,
			Properties: krb5Props(t, env(t, "FERRY_TEST_KRB5_GONE_KEYTAB"), "gone@"+realm, "")}
		c.Clusters["kerberos-wrong-service"] = connector.Cluster{BootstrapServers: gssapi,
			Properties: krb5Props(t, keytab, principal, "zookeeper")}
	})
	return f, tap
}

// TestKerberos reads and writes (a source session and an EXACTLY_ONCE sink
// session) through the broker's GSSAPI listener with a keytab the operator
// configured; a wrong keytab, an unknown principal and a wrong service name
// are UNAUTHENTICATED naming what is wrong; a client cannot name a keytab.
func TestKerberos(t *testing.T) {
	f, log := startKerberosFerry(t)
	topic := f.createTopic(t, 1)
	cluster := &ferryv1.Cluster{Name: "kerberos"}

	t.Run("EXACTLY_ONCE sink and source round trip", func(t *testing.T) {
		spec := eoSpec(topic, "krb-"+topic)
		spec.Cluster = cluster
		s, opened := f.openSink(t, &ferryv1.OpenSink{Spec: spec})
		if opened == nil {
			t.Fatal("the sink session did not open")
		}
		var want []string
		for i := 0; i < 100; i++ {
			want = append(want, "krb-"+strconv.Itoa(i))
		}
		s.write(want[:50]...)
		s.write(want[50:]...)
		s.checkpoint(1)
		s.commit(1)
		s.close()
		f.waitCommitted(t, topic, strings.Join(want, ","))
		open := bounded(topic)
		open.Spec.Cluster = cluster
		open.Spec.Properties = map[string]string{"isolation.level": "read_committed"}
		var got []string
		for _, r := range f.readBounded(t, open).records {
			got = append(got, string(r.GetValue()))
		}
		if g, w := strings.Join(got, ","), strings.Join(want, ","); g != w {
			t.Fatalf("read through Kerberos %q, want %q", g, w)
		}
	})

	for _, tc := range []struct{ cluster, want string }{
		{"kerberos-wrong-keytab", `principal "` + env(t, "FERRY_TEST_KRB5_PRINCIPAL") + `"`},
		{"kerberos-unknown-principal", `principal "gone@` + env(t, "FERRY_TEST_KRB5_REALM") + `"`},
		{"kerberos-wrong-service", `service "zookeeper"`},
	} {
		t.Run(tc.cluster, func(t *testing.T) {
			open := bounded(topic)
			open.Spec.Cluster = &ferryv1.Cluster{Name: tc.cluster}
			st := f.readStatus(t, openSource(open))
			if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("source: %v %q, want UNAUTHENTICATED naming %s", st.Code(), st.Message(), tc.want)
			}
			t.Logf("source: %v %s", st.Code(), st.Message())
			spec := eoSpec(topic, "krb-bad-"+topic)
			spec.Cluster = open.Spec.Cluster
			st = f.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: spec}))
			if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("sink: %v %q, want UNAUTHENTICATED naming %s", st.Code(), st.Message(), tc.want)
			}
		})
	}

	t.Run("a client cannot name a keytab", func(t *testing.T) {
		open := bounded(topic)
		open.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{env(t, "FERRY_TEST_KAFKA_GSSAPI")}}
		open.Spec.Properties = krb5Props(t, env(t, "FERRY_TEST_KRB5_KEYTAB"), env(t, "FERRY_TEST_KRB5_PRINCIPAL"), "")
		st := f.readStatus(t, openSource(open))
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "not under a directory the ferry operator allows") {
			t.Errorf("%v %q, want INVALID_ARGUMENT refusing the server file", st.Code(), st.Message())
		}
	})
	_ = log
}

// TestKerberosSessionOutlivesTickets keeps a source session on the GSSAPI
// listener (which re-authenticates connections every 20 s) reading for
// about two and a half ticket lifetimes: the keytab client logs in again,
// and no error reaches the session.
func TestKerberosSessionOutlivesTickets(t *testing.T) {
	lifetime, err := strconv.Atoi(env(t, "FERRY_TEST_KRB5_TICKET_LIFETIME"))
	if err != nil {
		t.Fatal(err)
	}
	total := time.Duration(lifetime) * time.Second * 5 / 2
	f, _ := startKerberosFerry(t)
	topic := f.createTopic(t, 1)
	open := &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{Topics: &ferryv1.TopicList{Topics: []string{topic}}, Cluster: &ferryv1.Cluster{Name: "kerberos"}}}
	ctx, cancel := context.WithTimeout(context.Background(), total+2*time.Minute)
	defer cancel()
	stream, err := f.source.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(openSource(open)); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetOpened() == nil {
		t.Fatalf("open: %v %v", m, err)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(broker(t)), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	start := time.Now()
	n := 0
	for time.Since(start) < total {
		n++
		want := "tick-" + strconv.Itoa(n)
		if err := kc.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		for got := ""; got != want; {
			m, err := stream.Recv()
			if err != nil {
				t.Fatalf("after %s (%d records): %v", time.Since(start).Round(time.Second), n-1, err)
			}
			for _, r := range m.GetRecords().GetRecords() {
				got = string(r.GetValue())
			}
		}
		time.Sleep(5 * time.Second)
	}
	t.Logf("read %d records over %s, %.1f ticket lifetimes", n, time.Since(start).Round(time.Second), time.Since(start).Seconds()/float64(lifetime))
}
