package kafkaconf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/ferrykafka/ferry/connector"
)

// kerberosFiles writes a keytab for ferry@EXAMPLE.COM and a krb5.conf into
// a temporary directory.
func kerberosFiles(t *testing.T) (dir, kt, conf string) {
	dir = t.TempDir()
	k := keytab.New()
	if err := k.AddEntry("ferry", "EXAMPLE.COM", "s3cr3t-key", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	data, err := k.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	kt, conf = filepath.Join(dir, "ferry.keytab"), filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(kt, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = EXAMPLE.COM\n[realms]\n EXAMPLE.COM = {\n  kdc = 127.0.0.1:1\n }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, kt, conf
}

func TestKerberosProperties(t *testing.T) {
	dir, kt, conf := kerberosFiles(t)
	jaas := `com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="` + kt + `" principal="ferry@EXAMPLE.COM";`
	gss := func(extra ...string) map[string]string {
		p := map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI",
			"sasl.jaas.config": jaas, "sasl.kerberos.krb5.conf": conf}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				delete(p, extra[i])
			} else {
				p[extra[i]] = extra[i+1]
			}
		}
		return p
	}
	operator := Files{Paths: ServerFiles("sasl.jaas.config", jaas)}
	operator.Paths = append(operator.Paths, ServerFiles("sasl.kerberos.krb5.conf", conf)...)
	if want := []string{kt, conf}; !slices.Equal(operator.Paths, want) {
		t.Fatalf("ServerFiles: %q, want %q", operator.Paths, want)
	}
	for _, tc := range []struct {
		name  string
		props map[string]string
		files Files
		err   string
		field string
	}{
		{name: "keytab of the operator", props: gss(), files: operator},
		{name: "keytab under an allowed directory", props: gss("sasl.kerberos.service.name", "kafka-prod"), files: Files{Dirs: []string{dir}}},
		{name: "principal without realm takes default_realm", files: operator,
			props: gss("sasl.jaas.config", `com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="`+kt+`" principal="ferry";`)},
		{name: "a client's keytab is refused", props: gss(), files: Files{Paths: []string{conf}},
			err: "is not under a directory the ferry operator allows", field: `properties["sasl.jaas.config"]`},
		{name: "a client's keytab is refused before any krb5.conf is read", props: gss("sasl.kerberos.krb5.conf", ""), files: Files{},
			err: "keyTab: \"" + kt + "\" is not under a directory the ferry operator allows", field: `properties["sasl.jaas.config"]`},
		{name: "a client's krb5.conf is refused", props: gss(), files: Files{Paths: []string{kt}},
			err: "is not under a directory the ferry operator allows", field: `properties["sasl.kerberos.krb5.conf"]`},
		{name: "a client's ticket cache is refused", files: Files{Paths: []string{conf}},
			props: gss("sasl.jaas.config", `com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;`),
			err:   "ticketCache", field: `properties["sasl.jaas.config"]`},
		{name: "keytab without principal", props: gss("sasl.jaas.config", `com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="`+kt+`";`),
			files: operator, err: `must set keyTab="..." and principal="..."`},
		{name: "no keytab nor ticket cache", props: gss("sasl.jaas.config", `com.sun.security.auth.module.Krb5LoginModule required principal="ferry";`),
			files: operator, err: "cannot prompt for a password"},
		{name: "not a keytab", props: gss("sasl.jaas.config", strings.Replace(jaas, kt, conf, 1)), files: Files{Any: true}, err: "is not a keytab"},
		{name: "Krb5LoginModule needs GSSAPI", props: gss("sasl.mechanism", ""), files: operator, err: "needs sasl.mechanism=GSSAPI"},
		{name: "service name needs GSSAPI", files: operator, err: "needs sasl.mechanism=GSSAPI", field: `properties["sasl.kerberos.service.name"]`,
			props: gss("sasl.mechanism", "PLAIN", "sasl.kerberos.krb5.conf", "", "sasl.kerberos.service.name", "kafka", "sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="s3cr3t";`)},
		{name: "GSSAPI needs Krb5LoginModule", files: operator, err: "needs com.sun.security.auth.module.Krb5LoginModule",
			props: gss("sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="s3cr3t";`)},
		{name: "bad service name", props: gss("sasl.kerberos.service.name", "kafka/host"), files: operator, err: "must be a Kerberos service name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(Consumer, tc.props, tc.files)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Opts) == 0 {
					t.Fatal("no options")
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
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestKrb5JAASOptions(t *testing.T) {
	l, ok, err := parseKrb5JAAS(`com.sun.security.auth.module.Krb5LoginModule required
		useKeyTab=true storeKey=true debug=false keyTab="/etc/a \"b\".keytab" principal="kafka-client/host@EXAMPLE.COM";`)
	if !ok || err != nil || !l.useKeyTab || l.keyTab != `/etc/a "b".keytab` || l.principal != "kafka-client/host@EXAMPLE.COM" {
		t.Fatalf("%+v %v %v", l, ok, err)
	}
	if _, ok, _ := parseKrb5JAAS(`org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`); ok {
		t.Fatal("a PLAIN module parsed as Krb5LoginModule")
	}
	if got := ServerFiles("sasl.jaas.config", `com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true ticketCache="/tmp/cc";`); !slices.Equal(got, []string{"/tmp/cc"}) {
		t.Fatalf("ServerFiles of a ticket cache: %q", got)
	}
}
