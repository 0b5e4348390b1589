package authn

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) {
	// Reloads within the tests' patience; the once-a-second production value is
	// a constant of no interest to them.
	pollInterval = 20 * time.Millisecond
	os.Exit(m.Run())
}

// ---- a small PKI ----

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serials atomic.Int64

func nextSerial() *big.Int { return big.NewInt(1000 + serials.Add(1)) }

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issued is a certificate and its key, in PEM and as a tls.Certificate.
type issued struct {
	certPEM, keyPEM []byte
	serial          *big.Int
	pair            tls.Certificate
}

func (c *ca) issue(t *testing.T, tmpl *x509.Certificate) issued {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = nextSerial()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	is := issued{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		serial:  tmpl.SerialNumber,
	}
	if is.pair, err = tls.X509KeyPair(is.certPEM, is.keyPEM); err != nil {
		t.Fatal(err)
	}
	return is
}

func (c *ca) server(t *testing.T) issued {
	return c.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ferry"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	})
}

// client issues a client certificate with a subject CN and optional URI SANs.
func (c *ca) client(t *testing.T, cn string, uris ...string) issued {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	return c.issue(t, tmpl)
}

// ---- files ----

// writeFile replaces path by rename, as an operator's tooling would.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serverFiles writes a server certificate, its key and a client CA, and
// returns the TLS part of a Config naming them.
func serverFiles(t *testing.T, dir string, srv issued, clientCA *ca) TLS {
	cfg := TLS{CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key")}
	writeFile(t, cfg.CertFile, srv.certPEM)
	writeFile(t, cfg.KeyFile, srv.keyPEM)
	if clientCA != nil {
		cfg.ClientCAFile = filepath.Join(dir, "clients-ca.crt")
		writeFile(t, cfg.ClientCAFile, clientCA.pem)
	}
	return cfg
}

// ---- the log ----

// logBuf collects an Authenticator's log, to check what it says and never says.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// ---- a server and its clients ----

// newAuthenticator builds an Authenticator from cfg and checks, when the test
// ends, that its log holds none of the secrets.
func newAuthenticator(t *testing.T, cfg Config, secrets ...*string) (*Authenticator, *logBuf) {
	t.Helper()
	log, buf := newLog()
	a, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		a.Close()
		out := buf.String()
		for _, s := range secrets {
			if *s != "" && strings.Contains(out, *s) {
				t.Errorf("the log holds a secret:\n%s", out)
			}
			if *s != "" && strings.Contains(out, HashToken(*s)[len(tokenHashPrefix):]) {
				t.Errorf("the log holds the hash of a secret:\n%s", out)
			}
		}
	})
	return a, buf
}

// serve starts a gRPC server on loopback with the health service behind a's
// interceptors. A test interceptor after them sends the principal back in the
// response headers x-principal and x-method.
func serve(t *testing.T, a *Authenticator) string {
	t.Helper()
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor(), func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if p, ok := FromContext(ctx); ok {
				if err := grpc.SetHeader(ctx, metadata.Pairs("x-principal", p.Name, "x-method", p.Method)); err != nil {
					return nil, err
				}
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(a.StreamServerInterceptor(), func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if p, ok := FromContext(ss.Context()); ok {
				if err := ss.SetHeader(metadata.Pairs("x-principal", p.Name, "x-method", p.Method)); err != nil {
					return err
				}
			}
			return h(srv, ss)
		}),
	}
	if c := a.TLSConfig(); c != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c)))
	}
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// clientTLS trusts roots and presents cert, if any. It presents it whatever
// CAs the server names as acceptable (a Go client given Certificates would
// send none to a server that names another CA), so that the tests see the
// server verify it.
func clientTLS(roots *ca, cert *issued) credentials.TransportCredentials {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots.pem)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.pair, nil }
	}
	return credentials.NewTLS(c)
}

// result is what a client saw of one call.
type result struct {
	principal, method string
	serial            *big.Int // of the server certificate
	err               error
}

func (r result) code() codes.Code { return status.Code(r.err) }

// check makes a Health.Check call on a new connection (so a new TLS
// handshake), with an "authorization: Bearer <bearer>" when bearer is set.
func check(t *testing.T, addr string, creds credentials.TransportCredentials, bearer string) result {
	t.Helper()
	return call(t, addr, creds, "authorization", bearerValue(bearer))
}

func bearerValue(b string) string {
	if b == "" {
		return ""
	}
	return "Bearer " + b
}

// call is check with any authorization value (none when value is "").
func call(t *testing.T, addr string, creds credentials.TransportCredentials, key, value string) result {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if value != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, key, value)
	}
	var md metadata.MD
	var p peer.Peer
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md), grpc.Peer(&p))
	r := result{err: err}
	if v := md.Get("x-principal"); len(v) == 1 {
		r.principal = v[0]
	}
	if v := md.Get("x-method"); len(v) == 1 {
		r.method = v[0]
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
		r.serial = info.State.PeerCertificates[0].SerialNumber
	}
	return r
}

// watch opens Health.Watch with a bearer token and returns the principal the
// server saw, once the first message arrives.
func watch(addr string, creds credentials.TransportCredentials, bearer string) (string, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if bearer != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+bearer)
	}
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "", err
	}
	if _, err := stream.Recv(); err != nil {
		return "", err
	}
	md, err := stream.Header()
	if err != nil {
		return "", err
	}
	if v := md.Get("x-principal"); len(v) == 1 {
		return v[0], nil
	}
	return "", nil
}

// eventually calls f until it returns true or 10 s have passed: waiting for a
// reload by asking the server, not by sleeping blind.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantPrincipal fails unless r succeeded as principal by method.
func wantPrincipal(t *testing.T, r result, principal, method string) {
	t.Helper()
	if r.err != nil || r.principal != principal || r.method != method {
		t.Fatalf("got principal %q method %q err %v, want %q %q", r.principal, r.method, r.err, principal, method)
	}
}

// wantUnauthenticated fails unless r failed UNAUTHENTICATED with a message
// containing reason and none of the secrets (nor their hashes).
func wantUnauthenticated(t *testing.T, r result, reason string, secrets ...string) {
	t.Helper()
	if r.code() != codes.Unauthenticated {
		t.Fatalf("got %v, want UNAUTHENTICATED %q", r.err, reason)
	}
	msg := status.Convert(r.err).Message()
	if !strings.Contains(msg, reason) {
		t.Errorf("message %q does not contain %q", msg, reason)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(msg, s) || strings.Contains(msg, HashToken(s)[len(tokenHashPrefix):]) {
			t.Errorf("message %q holds a secret or its hash", msg)
		}
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	srv := newCA(t, "server CA").server(t)
	files := serverFiles(t, dir, srv, newCA(t, "client CA"))
	garbage := filepath.Join(dir, "garbage")
	writeFile(t, garbage, []byte("not PEM, not JSON\n"))
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, []byte("alice "+HashToken("t")+"\n"))
	jwks := filepath.Join(dir, "jwks.json")
	writeFile(t, jwks, jwksJSON(t, jwk(t, "k", &newKey(t).PublicKey)))
	big := filepath.Join(dir, "big")
	writeFile(t, big, bytes.Repeat([]byte("#\n"), maxFileBytes))
	goodJWT := JWT{JWKSFile: jwks, Issuer: testIssuer, Audience: testAudience}

	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"zero", Config{}, ""},
		{"everything", Config{TLS: TLS{CertFile: files.CertFile, KeyFile: files.KeyFile, ClientCAFile: files.ClientCAFile, RequireClientCert: true, PrincipalFrom: "uri_san"}, TokensFile: tokens, JWT: goodJWT}, ""},
		{"cert without key", Config{TLS: TLS{CertFile: files.CertFile}}, "tls.key_file: required with tls.cert_file"},
		{"key without cert", Config{TLS: TLS{KeyFile: files.KeyFile}}, "tls.cert_file: required with tls.key_file"},
		{"client CA without TLS", Config{TLS: TLS{ClientCAFile: files.ClientCAFile}}, "tls.client_ca_file: client certificates need TLS"},
		{"require without CA", Config{TLS: TLS{CertFile: files.CertFile, KeyFile: files.KeyFile, RequireClientCert: true}}, "tls.require_client_cert: needs tls.client_ca_file"},
		{"principal_from", Config{TLS: TLS{PrincipalFrom: "email"}}, `tls.principal_from: "email" is not one of auto, uri_san, subject_cn`},
		{"missing cert file", Config{TLS: TLS{CertFile: filepath.Join(dir, "nope"), KeyFile: files.KeyFile}}, "tls.cert_file: stat "},
		{"missing key file", Config{TLS: TLS{CertFile: files.CertFile, KeyFile: filepath.Join(dir, "nope")}}, "tls.key_file: stat "},
		{"key of another cert", Config{TLS: TLS{CertFile: files.CertFile, KeyFile: garbage}}, "tls.cert_file, tls.key_file: tls: "},
		{"client CA not PEM", Config{TLS: TLS{CertFile: files.CertFile, KeyFile: files.KeyFile, ClientCAFile: garbage}}, "tls.client_ca_file: no PEM certificate found"},
		{"tokens file", Config{TokensFile: garbage}, "tokens_file: line 1"},
		{"tokens file too big", Config{TokensFile: big}, "tokens_file: " + big + ": larger than 1048576 bytes"},
		{"jwks not JSON", Config{JWT: JWT{JWKSFile: garbage, Issuer: "i", Audience: "a"}}, "jwt.jwks_file: not a JWK set"},
		{"jwks URL", Config{JWT: JWT{JWKSFile: "https://issuer.example/jwks.json", Issuer: "i", Audience: "a"}}, "jwt.jwks_file: \"https://issuer.example/jwks.json\" is a URL"},
		{"jwt without issuer", Config{JWT: JWT{JWKSFile: jwks, Audience: "a"}}, "jwt.issuer: required with jwt.jwks_file"},
		{"jwt without audience", Config{JWT: JWT{JWKSFile: jwks, Issuer: "i"}}, "jwt.audience: required with jwt.jwks_file"},
		{"issuer without jwks", Config{JWT: JWT{Issuer: "i"}}, "jwt.jwks_file: required when jwt.issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := newLog()
			a, err := New(tc.cfg, log)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				a.Close()
				a.Close() // twice is fine
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error starting %q", err, tc.err)
			}
		})
	}

	a, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Enabled() || a.TLSConfig() != nil {
		t.Error("the zero Config is Enabled or has TLS")
	}
}

func TestSkip(t *testing.T) {
	dir := t.TempDir()
	tok := "skip-test-Vb3kD8"
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, []byte("alice "+HashToken(tok)+"\n"))
	a, _ := newAuthenticator(t, Config{TokensFile: tokens, Skip: func(m string) bool { return m == healthpb.Health_Check_FullMethodName }}, &tok)
	addr := serve(t, a) // plaintext: bearer tokens are accepted (with a warning)

	if r := check(t, addr, nil, ""); r.err != nil || r.principal != "" {
		t.Errorf("exempted Check: principal %q err %v, want no principal and no error", r.principal, r.err)
	}
	if _, err := watch(addr, insecure.NewCredentials(), ""); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Watch, not exempted, without a token: %v, want UNAUTHENTICATED", err)
	}
	if p, err := watch(addr, insecure.NewCredentials(), tok); err != nil || p != "alice" {
		t.Errorf("Watch with a token: principal %q err %v, want alice", p, err)
	}

	skip := SkipServices("grpc.health.v1.Health")
	for m, want := range map[string]bool{
		"/grpc.health.v1.Health/Check":  true,
		"/grpc.health.v1.Health/Watch":  true,
		"/grpc.health.v1.HealthX/Check": false,
		"/ferry.v1.Source/Read":         false,
	} {
		if skip(m) != want {
			t.Errorf("SkipServices(grpc.health.v1.Health)(%s) = %v", m, !want)
		}
	}
}
