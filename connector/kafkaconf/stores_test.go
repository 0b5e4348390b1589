package kafkaconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/ferrykafka/ferry/connector"
)

// Passwords of the test stores: no error may show them.
const (
	storePw = "st0re-s3cr3t"
	keyPw   = "k3y-s3cr3t"
	wrongPw = "wr0ng-s3cr3t"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate it signed, and the stores made of them in dir.
type testPKI struct {
	dir                  string
	ca, server, client   *x509.Certificate
	serverKey, clientKey *ecdsa.PrivateKey
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	ca, caKey := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	p.ca = ca
	p.server, p.serverKey = newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	p.client, p.clientKey = newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)

	pkcs8, err := x509.MarshalPKCS8PrivateKey(p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	jksCert := func(c *x509.Certificate) keystore.Certificate {
		return keystore.Certificate{Type: "X509", Content: c.Raw}
	}
	writeJKS := func(name string, fill func(ks keystore.KeyStore) error) {
		ks := keystore.New()
		if err := fill(ks); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := ks.Store(&b, []byte(storePw)); err != nil {
			t.Fatal(err)
		}
		p.write(t, name, b.Bytes())
	}
	writeJKS("trust.jks", func(ks keystore.KeyStore) error {
		return ks.SetTrustedCertificateEntry("ca", keystore.TrustedCertificateEntry{CreationTime: time.Now(), Certificate: jksCert(ca)})
	})
	keyEntry := keystore.PrivateKeyEntry{CreationTime: time.Now(), PrivateKey: pkcs8, CertificateChain: []keystore.Certificate{jksCert(p.client), jksCert(ca)}}
	writeJKS("key.jks", func(ks keystore.KeyStore) error { return ks.SetPrivateKeyEntry("client", keyEntry, []byte(storePw)) })
	writeJKS("keypw.jks", func(ks keystore.KeyStore) error { return ks.SetPrivateKeyEntry("client", keyEntry, []byte(keyPw)) })
	// A key entry whose certificate is not the key's.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPKCS8, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	writeJKS("mismatch.jks", func(ks keystore.KeyStore) error {
		e := keyEntry
		e.PrivateKey = otherPKCS8
		return ks.SetPrivateKeyEntry("client", e, []byte(storePw))
	})

	trustP12, err := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{ca}, storePw)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "trust.p12", trustP12)
	keyP12, err := pkcs12.Modern.Encode(p.clientKey, p.client, []*x509.Certificate{ca}, storePw)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "key.p12", keyP12)

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	p.write(t, "ca.pem", caPEM)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	p.write(t, "key.pem", append(append(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.client.Raw})...), caPEM...))
	p.write(t, "garbage.bin", []byte("\x30\x03\x02\x01\x00 not a store"))
	return p
}

func (p *testPKI) write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *testPKI) path(name string) string { return filepath.Join(p.dir, name) }

// parseTLS parses SSL properties (plus security.protocol=SSL) with files
// allowed under p.dir and returns the resulting trust pool and client
// certificates.
func (p *testPKI) parseTLS(props map[string]string) (*x509.CertPool, []tls.Certificate, error) {
	all := map[string]string{"security.protocol": "SSL"}
	for k, v := range props {
		all[k] = v
	}
	s, err := Parse(Consumer, all, Files{Dirs: []string{p.dir}})
	if err != nil {
		return nil, nil, err
	}
	pool, _, err := s.sec.rootCAs()
	if err != nil {
		return nil, nil, err
	}
	certs, _, err := s.sec.clientCerts()
	return pool, certs, err
}

func TestStoresOpen(t *testing.T) {
	p := newTestPKI(t)
	caPool := x509.NewCertPool()
	caPool.AddCert(p.ca)
	for _, tc := range []struct {
		name      string
		props     map[string]string
		trust     bool // RootCAs must be exactly the CA
		clientKey bool // Certificates must be the client's key and chain
	}{
		{"JKS truststore", map[string]string{"ssl.truststore.type": "JKS", "ssl.truststore.location": p.path("trust.jks"), "ssl.truststore.password": storePw}, true, false},
		{"PKCS12 truststore", map[string]string{"ssl.truststore.type": "PKCS12", "ssl.truststore.location": p.path("trust.p12"), "ssl.truststore.password": storePw}, true, false},
		{"PEM truststore", map[string]string{"ssl.truststore.type": "PEM", "ssl.truststore.location": p.path("ca.pem")}, true, false},
		{"JKS recognized without a type", map[string]string{"ssl.truststore.location": p.path("trust.jks"), "ssl.truststore.password": storePw}, true, false},
		{"PKCS12 recognized without a type", map[string]string{"ssl.truststore.location": p.path("trust.p12"), "ssl.truststore.password": storePw}, true, false},
		{"type names are case-insensitive, and JKS opens PKCS12 as in Java", map[string]string{"ssl.truststore.type": "jks", "ssl.truststore.location": p.path("trust.p12"), "ssl.truststore.password": storePw}, true, false},
		{"a JKS keystore's key entry is trusted too, as in Java", map[string]string{"ssl.truststore.location": p.path("key.jks"), "ssl.truststore.password": storePw}, false, false},
		{"JKS keystore", map[string]string{"ssl.keystore.type": "JKS", "ssl.keystore.location": p.path("key.jks"), "ssl.keystore.password": storePw}, false, true},
		{"JKS keystore with its own key password", map[string]string{"ssl.keystore.location": p.path("keypw.jks"), "ssl.keystore.password": storePw, "ssl.key.password": keyPw}, false, true},
		{"PKCS12 keystore", map[string]string{"ssl.keystore.type": "PKCS12", "ssl.keystore.location": p.path("key.p12"), "ssl.keystore.password": storePw}, false, true},
		{"PKCS12 keystore with the same key password", map[string]string{"ssl.keystore.location": p.path("key.p12"), "ssl.keystore.password": storePw, "ssl.key.password": storePw}, false, true},
		{"PEM keystore", map[string]string{"ssl.keystore.location": p.path("key.pem")}, false, true},
		{"Flink's SASL_SSL example: JKS trust and key stores, no types", map[string]string{
			"ssl.truststore.location": p.path("trust.jks"), "ssl.truststore.password": storePw,
			"ssl.keystore.location": p.path("key.jks"), "ssl.keystore.password": storePw}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, certs, err := p.parseTLS(tc.props)
			if err != nil {
				t.Fatal(err)
			}
			if tc.trust && (pool == nil || !pool.Equal(caPool)) {
				t.Errorf("RootCAs is not the CA alone")
			}
			if tc.clientKey {
				if len(certs) != 1 || !certs[0].Leaf.Equal(p.client) || !p.clientKey.Equal(certs[0].PrivateKey) || len(certs[0].Certificate) != 2 {
					t.Fatalf("client certificates %+v, want the client's key and chain", certs)
				}
			}
		})
	}
}

func TestStoresRefuseWithoutShowingSecrets(t *testing.T) {
	p := newTestPKI(t)
	for _, tc := range []struct {
		name  string
		props map[string]string
		field string
		rule  string
	}{
		{"wrong JKS truststore password", map[string]string{"ssl.truststore.location": p.path("trust.jks"), "ssl.truststore.password": wrongPw},
			"ssl.truststore.password", `does not open the JKS store "` + p.path("trust.jks") + `"`},
		{"wrong PKCS12 truststore password", map[string]string{"ssl.truststore.location": p.path("trust.p12"), "ssl.truststore.password": wrongPw},
			"ssl.truststore.password", "does not open the PKCS12 store"},
		{"wrong JKS keystore password", map[string]string{"ssl.keystore.location": p.path("key.jks"), "ssl.keystore.password": wrongPw},
			"ssl.keystore.password", "does not open the JKS store"},
		{"wrong PKCS12 keystore password", map[string]string{"ssl.keystore.type": "PKCS12", "ssl.keystore.location": p.path("key.p12"), "ssl.keystore.password": wrongPw},
			"ssl.keystore.password", "does not open the PKCS12 store"},
		{"JKS key password missing", map[string]string{"ssl.keystore.location": p.path("keypw.jks"), "ssl.keystore.password": storePw},
			"ssl.keystore.password", `does not open the key "client" of the JKS store`},
		{"wrong JKS key password", map[string]string{"ssl.keystore.location": p.path("keypw.jks"), "ssl.keystore.password": storePw, "ssl.key.password": wrongPw},
			"ssl.key.password", `does not open the key "client"`},
		{"PKCS12 key password unlike the store's", map[string]string{"ssl.keystore.location": p.path("key.p12"), "ssl.keystore.password": storePw, "ssl.key.password": keyPw},
			"ssl.key.password", "must equal ssl.keystore.password for a PKCS12 keystore"},
		{"JKS truststore without password", map[string]string{"ssl.truststore.location": p.path("trust.jks")},
			"ssl.truststore.password", "is required to open the JKS truststore"},
		{"PKCS12 keystore without password", map[string]string{"ssl.keystore.location": p.path("key.p12")},
			"ssl.keystore.password", "is required to open the PKCS12 keystore"},
		{"PEM truststore with a password", map[string]string{"ssl.truststore.location": p.path("ca.pem"), "ssl.truststore.password": storePw},
			"ssl.truststore.password", "cannot be set for a PEM truststore"},
		{"PEM keystore with a password", map[string]string{"ssl.keystore.location": p.path("key.pem"), "ssl.keystore.password": storePw},
			"ssl.keystore.password", "cannot be set for a PEM keystore"},
		{"PEM keystore with a key password", map[string]string{"ssl.keystore.location": p.path("key.pem"), "ssl.key.password": keyPw},
			"ssl.key.password", "ferry reads unencrypted PEM keys only"},
		{"type PEM on a JKS file", map[string]string{"ssl.truststore.type": "PEM", "ssl.truststore.location": p.path("trust.jks")},
			"ssl.truststore.location", "is not a PEM file (ssl.truststore.type=PEM)"},
		{"type JKS on a PEM file", map[string]string{"ssl.keystore.type": "JKS", "ssl.keystore.location": p.path("key.pem"), "ssl.keystore.password": storePw},
			"ssl.keystore.type", "is JKS but"},
		{"unknown type", map[string]string{"ssl.truststore.type": "JCEKS"}, "ssl.truststore.type", `must be PEM, JKS or PKCS12, not "JCEKS"`},
		{"not a store", map[string]string{"ssl.truststore.location": p.path("garbage.bin"), "ssl.truststore.password": storePw},
			"ssl.truststore.location", "is not a PKCS12 truststore"},
		{"a keystore is no PKCS12 truststore", map[string]string{"ssl.truststore.location": p.path("key.p12"), "ssl.truststore.password": storePw},
			"ssl.truststore.location", "is not a PKCS12 truststore of trusted certificates"},
		{"a truststore has no key", map[string]string{"ssl.keystore.location": p.path("trust.jks"), "ssl.keystore.password": storePw},
			"ssl.keystore.location", "holds no private key entry"},
		{"key and certificate do not match", map[string]string{"ssl.keystore.location": p.path("mismatch.jks"), "ssl.keystore.password": storePw},
			"ssl.keystore.location", "the private key does not match its certificate"},
		{"inline certificates with a store file", map[string]string{"ssl.truststore.certificates": "x", "ssl.truststore.location": p.path("ca.pem")},
			"ssl.truststore.certificates", "cannot be set together with ssl.truststore.location"},
		{"inline certificates of type JKS", map[string]string{"ssl.truststore.certificates": "x", "ssl.truststore.type": "JKS"},
			"ssl.truststore.type", "must be PEM with ssl.truststore.certificates"},
		{"inline key with a keystore password", map[string]string{"ssl.keystore.key": "x", "ssl.keystore.certificate.chain": "y", "ssl.keystore.password": storePw},
			"ssl.keystore.password", "cannot be set for a PEM keystore"},
		{"a password without SSL", map[string]string{"security.protocol": "PLAINTEXT", "ssl.keystore.password": storePw},
			"ssl.keystore.password", "needs security.protocol SSL or SASL_SSL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := p.parseTLS(tc.props)
			var ie *connector.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InvalidError", err)
			}
			if want := `properties["` + tc.field + `"]`; ie.Field != want || !strings.Contains(ie.Rule, tc.rule) {
				t.Errorf("err = %v, want %s: ...%s...", err, want, tc.rule)
			}
			for _, secret := range []string{storePw, keyPw, wrongPw} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a password: %v", err)
				}
			}
		})
	}
}

// TestStoreKeysShakeHands uses the stores' certificates in a TLS handshake
// that requires a client certificate, as the broker's SASL_SSL listener
// does: the decoded key signs, the chain verifies.
func TestStoreKeysShakeHands(t *testing.T) {
	p := newTestPKI(t)
	caPool := x509.NewCertPool()
	caPool.AddCert(p.ca)
	server := tls.Certificate{Certificate: [][]byte{p.server.Raw}, PrivateKey: p.serverKey}
	for _, name := range []string{"key.jks", "key.p12", "key.pem"} {
		t.Run(name, func(t *testing.T) {
			props := map[string]string{"ssl.truststore.location": p.path("trust.p12"), "ssl.truststore.password": storePw, "ssl.keystore.location": p.path(name)}
			if !strings.HasSuffix(name, ".pem") {
				props["ssl.keystore.password"] = storePw
			}
			roots, certs, err := p.parseTLS(props)
			if err != nil {
				t.Fatal(err)
			}
			c1, c2 := net.Pipe()
			defer c1.Close()
			defer c2.Close()
			srv := tls.Server(c1, &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: caPool})
			done := make(chan error, 1)
			go func() { done <- srv.Handshake() }()
			cl := tls.Client(c2, &tls.Config{RootCAs: roots, Certificates: certs, ServerName: "127.0.0.1"})
			if err := cl.Handshake(); err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("server handshake: %v", err)
			}
			if got := srv.ConnectionState().PeerCertificates; len(got) == 0 || !got[0].Equal(p.client) {
				t.Errorf("the server saw client certificates %v", got)
			}
		})
	}
}
