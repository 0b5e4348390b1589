package kafkaconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// security collects the security.* / sasl.* / ssl.* keys until Parse turns
// them into franz-go options in finishSecurity. Secret values live only
// here and in the options; no error message ever quotes them.
type security struct {
	protocol        string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
	mechanism       string // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI
	user, password  string
	krb             kerberosSettings // GSSAPI: Krb5LoginModule, sasl.kerberos.*
	jaasSet         bool
	trust           store   // ssl.truststore.type, .location, .password
	keys            store   // ssl.keystore.type, .location, .password
	keyPassword     *string // ssl.key.password
	trustPEM        []byte  // ssl.truststore.certificates
	keyPEM, certPEM []byte  // ssl.keystore.key, ssl.keystore.certificate.chain
	noHostnameCheck bool
	sslKeysSet      []string // ssl.* keys given, to refuse them without SSL
}

var jaasRE = regexp.MustCompile(`^\s*org\.apache\.kafka\.common\.security\.(plain\.PlainLoginModule|scram\.ScramLoginModule)\s+required\s+(.*?);?\s*$`)
var jaasOptRE = regexp.MustCompile(`(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"`)

// parseJAAS reads username and password from a sasl.jaas.config value. Its
// errors never include the value: it holds the password.
func parseJAAS(v string) (module, user, password string, err error) {
	m := jaasRE.FindStringSubmatch(v)
	if m == nil {
		return "", "", "", errors.New(`must be "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"...\" password=\"...\";" (or scram.ScramLoginModule); the value is not shown because it holds a secret`)
	}
	for _, o := range jaasOptRE.FindAllStringSubmatch(m[2], -1) {
		val := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(o[2])
		switch o[1] {
		case "username":
			user = val
		case "password":
			password = val
		}
	}
	if user == "" || password == "" {
		return "", "", "", errors.New("must set username and password (the value is not shown because it holds a secret)")
	}
	return m[1], user, password, nil
}

var securityTable = []Property{
	{Name: "security.protocol", Roles: Consumer | Producer, Default: "PLAINTEXT", Option: "kgo.DialTLSConfig (SSL, SASL_SSL) and kgo.SASL (SASL_*)",
		apply: func(v string, s *Settings) error {
			switch v {
			case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
				s.sec.protocol = v
				return nil
			}
			return fmt.Errorf("must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not %q", v)
		}},
	{Name: "sasl.mechanism", Roles: Consumer | Producer, Default: "PLAIN", Option: "kgo.SASL with plain.Auth, scram.Auth (SHA-256, SHA-512) or kerberos.Auth (GSSAPI, on gokrb5)",
		apply: func(v string, s *Settings) error {
			switch v {
			case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI":
				s.sec.mechanism = v
				return nil
			}
			return fmt.Errorf("must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI, not %q", v)
		}},
	{Name: "sasl.jaas.config", Roles: Consumer | Producer, Default: "(none)", Option: "the username and password of kgo.SASL (PlainLoginModule or ScramLoginModule), or GSSAPI's Krb5LoginModule with useKeyTab=true keyTab=\"...\" principal=\"...\" (the keytab a file on the ferry server under --allow-file-dir) or useTicketCache=true [ticketCache=\"...\"]; secret, never logged", Secret: true,
		apply: func(v string, s *Settings) error {
			if l, ok, err := parseKrb5JAAS(v); ok {
				s.sec.krb.login, s.sec.jaasSet = l, true
				return err
			}
			_, user, pass, err := parseJAAS(v)
			s.sec.user, s.sec.password, s.sec.jaasSet = user, pass, true
			return err
		}},
	{Name: "sasl.kerberos.service.name", Roles: Consumer | Producer, Default: "kafka", Option: "kerberos.Auth.Service: the broker's Kerberos service, the first part of its principal (service/host@REALM); GSSAPI only",
		apply: func(v string, s *Settings) error {
			if v == "" || strings.ContainsAny(v, "/@ ") {
				return fmt.Errorf("must be a Kerberos service name such as kafka, not %q", v)
			}
			s.sec.krb.serviceName = v
			return nil
		}},
	{Name: "sasl.kerberos.krb5.conf", Roles: Consumer | Producer, Default: "/etc/krb5.conf ($KRB5_CONFIG)", Option: "the krb5 configuration (realms, KDCs) of the gokrb5 client, a file on the ferry server under --allow-file-dir (Java's -Djava.security.krb5.conf); GSSAPI only",
		apply: func(v string, s *Settings) error {
			s.sec.krb.krb5Conf = v
			return nil
		}},
	{Name: "ssl.truststore.type", Roles: Consumer | Producer, Default: "PEM; a JKS or PKCS12 file is recognized by its content", Option: "PEM, JKS or PKCS12 (JKS and PKCS12 each open both, as in Java)",
		apply: sslKey("ssl.truststore.type", storeType(trustStore))},
	{Name: "ssl.truststore.location", Roles: Consumer | Producer, Default: "(the system roots)", Option: "tls.Config.RootCAs from a file on the ferry server under --allow-file-dir (PEM certificates; JKS trusted entries; PKCS12 certificates keytool marked trusted)",
		apply: sslKey("ssl.truststore.location", storeLocation(trustStore))},
	{Name: "ssl.truststore.password", Roles: Consumer | Producer, Default: "(none)", Option: "opens a JKS or PKCS12 truststore and checks its integrity (required for them, refused for PEM); secret, never logged", Secret: true,
		apply: sslKey("ssl.truststore.password", storePassword(trustStore))},
	{Name: "ssl.truststore.certificates", Roles: Consumer | Producer, Default: "(none)", Option: "tls.Config.RootCAs from inline PEM",
		apply: sslKey("ssl.truststore.certificates", func(v string, s *Settings) error { s.sec.trustPEM = []byte(v); return nil })},
	{Name: "ssl.keystore.type", Roles: Consumer | Producer, Default: "PEM; a JKS or PKCS12 file is recognized by its content", Option: "PEM, JKS or PKCS12 (JKS and PKCS12 each open both, as in Java)",
		apply: sslKey("ssl.keystore.type", storeType(keyStore))},
	{Name: "ssl.keystore.location", Roles: Consumer | Producer, Default: "(no client certificate)", Option: "tls.Config.Certificates from a file on the ferry server under --allow-file-dir (PEM: unencrypted key and chain; JKS: every key entry; PKCS12: one key and its chain)",
		apply: sslKey("ssl.keystore.location", storeLocation(keyStore))},
	{Name: "ssl.keystore.password", Roles: Consumer | Producer, Default: "(none)", Option: "opens a JKS or PKCS12 keystore and, without ssl.key.password, its keys (required for them, refused for PEM); secret, never logged", Secret: true,
		apply: sslKey("ssl.keystore.password", storePassword(keyStore))},
	{Name: "ssl.key.password", Roles: Consumer | Producer, Default: "(ssl.keystore.password)", Option: "opens the key entries of a JKS keystore (PKCS12: must equal ssl.keystore.password; PEM keys must be unencrypted); secret, never logged", Secret: true,
		apply: sslKey("ssl.key.password", func(v string, s *Settings) error { s.sec.keyPassword = &v; return nil })},
	{Name: "ssl.keystore.key", Roles: Consumer | Producer, Default: "(none)", Option: "the private key of tls.Config.Certificates, inline unencrypted PEM; secret, never logged", Secret: true,
		apply: sslKey("ssl.keystore.key", func(v string, s *Settings) error { s.sec.keyPEM = []byte(v); return nil })},
	{Name: "ssl.keystore.certificate.chain", Roles: Consumer | Producer, Default: "(none)", Option: "the chain of tls.Config.Certificates, inline PEM",
		apply: sslKey("ssl.keystore.certificate.chain", func(v string, s *Settings) error { s.sec.certPEM = []byte(v); return nil })},
	{Name: "ssl.endpoint.identification.algorithm", Roles: Consumer | Producer, Default: "https", Option: "tls.Config hostname verification (empty turns it off)",
		apply: sslKey("ssl.endpoint.identification.algorithm", func(v string, s *Settings) error {
			switch v {
			case "https":
			case "":
				s.sec.noHostnameCheck = true
			default:
				return fmt.Errorf(`must be "https" or empty, not %q`, v)
			}
			return nil
		})},
}

func sslKey(name string, apply func(string, *Settings) error) func(string, *Settings) error {
	return func(v string, s *Settings) error {
		s.sec.sslKeysSet = append(s.sec.sslKeysSet, name)
		return apply(v, s)
	}
}

// finishSecurity checks the security keys together and appends their
// franz-go options. field names the offending key in errors.
func (s *Settings) finishSecurity() (field string, err error) {
	sec := &s.sec
	proto := sec.protocol
	if proto == "" {
		proto = "PLAINTEXT"
	}
	useSASL := proto == "SASL_PLAINTEXT" || proto == "SASL_SSL"
	useTLS := proto == "SSL" || proto == "SASL_SSL"
	switch {
	case useSASL && !sec.jaasSet:
		return "sasl.jaas.config", fmt.Errorf("is required with security.protocol=%s", proto)
	case !useSASL && sec.jaasSet:
		return "sasl.jaas.config", fmt.Errorf("needs security.protocol SASL_PLAINTEXT or SASL_SSL, not %s", proto)
	case !useSASL && sec.mechanism != "":
		return "sasl.mechanism", fmt.Errorf("needs security.protocol SASL_PLAINTEXT or SASL_SSL, not %s", proto)
	case sec.mechanism != "GSSAPI" && sec.krb.login != nil:
		return "sasl.jaas.config", errors.New("Krb5LoginModule needs sasl.mechanism=GSSAPI")
	case sec.mechanism != "GSSAPI" && (sec.krb.serviceName != "" || sec.krb.krb5Conf != ""):
		if sec.krb.serviceName != "" {
			return "sasl.kerberos.service.name", errors.New("needs sasl.mechanism=GSSAPI")
		}
		return "sasl.kerberos.krb5.conf", errors.New("needs sasl.mechanism=GSSAPI")
	case sec.mechanism == "GSSAPI" && sec.krb.login == nil && sec.jaasSet:
		return "sasl.jaas.config", errors.New("sasl.mechanism=GSSAPI needs com.sun.security.auth.module.Krb5LoginModule, not a PLAIN or SCRAM login module")
	case !useTLS && len(sec.sslKeysSet) > 0:
		return sec.sslKeysSet[0], fmt.Errorf("needs security.protocol SSL or SASL_SSL, not %s", proto)
	}
	if useSASL {
		var m sasl.Mechanism
		switch sec.mechanism {
		case "", "PLAIN":
			m = plain.Auth{User: sec.user, Pass: sec.password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: sec.user, Pass: sec.password}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: sec.user, Pass: sec.password}.AsSha512Mechanism()
		case "GSSAPI":
			if field, m, err = s.kerberosMechanism(); err != nil {
				return field, err
			}
		}
		s.Opts = append(s.Opts, kgo.SASL(m))
	}
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.RootCAs, field, err = sec.rootCAs(); err != nil {
			return field, err
		}
		if cfg.Certificates, field, err = sec.clientCerts(); err != nil {
			return field, err
		}
		if sec.noHostnameCheck {
			// As Kafka with an empty ssl.endpoint.identification.algorithm:
			// the chain is verified, the host name is not.
			roots := cfg.RootCAs
			cfg.InsecureSkipVerify = true
			cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
				certs := make([]*x509.Certificate, len(raw))
				for i, r := range raw {
					c, err := x509.ParseCertificate(r)
					if err != nil {
						return err
					}
					certs[i] = c
				}
				if len(certs) == 0 {
					return errors.New("the broker sent no certificate")
				}
				inter := x509.NewCertPool()
				for _, c := range certs[1:] {
					inter.AddCert(c)
				}
				_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
				return err
			}
		}
		s.Opts = append(s.Opts, kgo.DialTLSConfig(cfg))
	}
	return "", nil
}
