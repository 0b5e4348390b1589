package authn

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestTLSHandshake(t *testing.T) {
	serverCA, otherCA := newCA(t, "server CA"), newCA(t, "other CA")
	a, _ := newAuthenticator(t, Config{TLS: serverFiles(t, t.TempDir(), serverCA.server(t), nil)})
	if a.Enabled() {
		t.Error("Enabled with TLS alone: TLS without a client CA authenticates no one")
	}
	if v := a.TLSConfig().MinVersion; v != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", v)
	}
	addr := serve(t, a)

	// Without a way to authenticate, the handshake works and the call is refused.
	r := check(t, addr, clientTLS(serverCA, nil), "")
	wantUnauthenticated(t, r, "missing credentials")
	if r.serial == nil {
		t.Error("the client saw no server certificate")
	}
	if r := check(t, addr, clientTLS(otherCA, nil), ""); r.code() != codes.Unavailable || !strings.Contains(r.err.Error(), "unknown authority") {
		t.Errorf("wrong CA: got %v, want UNAVAILABLE (unknown authority)", r.err)
	}
}

func TestTLSExpiredServerCertificate(t *testing.T) {
	serverCA := newCA(t, "server CA")
	expired := serverCA.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ferry"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore:   time.Now().Add(-2 * time.Hour),
		NotAfter:    time.Now().Add(-time.Hour),
	})
	a, log := newAuthenticator(t, Config{TLS: serverFiles(t, t.TempDir(), expired, nil)})
	if !strings.Contains(log.String(), "outside its validity period") {
		t.Errorf("no warning of the expired certificate in the log:\n%s", log)
	}
	if r := check(t, serve(t, a), clientTLS(serverCA, nil), ""); r.code() != codes.Unavailable || !strings.Contains(r.err.Error(), "expired") {
		t.Errorf("got %v, want UNAVAILABLE (certificate has expired)", r.err)
	}
}

func TestMTLSRequired(t *testing.T) {
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	cfg := Config{TLS: serverFiles(t, t.TempDir(), serverCA.server(t), clientCA)}
	cfg.TLS.RequireClientCert = true
	a, _ := newAuthenticator(t, cfg)
	if !a.Enabled() {
		t.Error("not Enabled with a client CA")
	}
	if got := a.TLSConfig().ClientAuth; got != tls.RequireAndVerifyClientCert {
		t.Errorf("ClientAuth %v, want RequireAndVerifyClientCert", got)
	}
	addr := serve(t, a)

	good := clientCA.client(t, "team-a")
	wantPrincipal(t, check(t, addr, clientTLS(serverCA, &good), ""), "team-a", MethodMTLS)
	if r := check(t, addr, clientTLS(serverCA, nil), ""); r.code() != codes.Unavailable {
		t.Errorf("no client certificate: got %v, want UNAVAILABLE (handshake refused)", r.err)
	}
	stranger := otherCA.client(t, "team-a")
	if r := check(t, addr, clientTLS(serverCA, &stranger), ""); r.code() != codes.Unavailable {
		t.Errorf("client certificate of another CA: got %v, want UNAVAILABLE (handshake refused)", r.err)
	}
}

func TestMTLSOptional(t *testing.T) {
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	a, _ := newAuthenticator(t, Config{TLS: serverFiles(t, t.TempDir(), serverCA.server(t), clientCA)})
	if got := a.TLSConfig().ClientAuth; got != tls.VerifyClientCertIfGiven {
		t.Errorf("ClientAuth %v, want VerifyClientCertIfGiven", got)
	}
	addr := serve(t, a)

	good := clientCA.client(t, "team-a")
	wantPrincipal(t, check(t, addr, clientTLS(serverCA, &good), ""), "team-a", MethodMTLS)
	// The handshake lets a client without a certificate in (for tokens), but
	// without a bearer the call has no credential.
	wantUnauthenticated(t, check(t, addr, clientTLS(serverCA, nil), ""), "missing credentials: send a client certificate or authorization: Bearer <token>")
	// A certificate that is given is verified.
	stranger := otherCA.client(t, "team-a")
	if r := check(t, addr, clientTLS(serverCA, &stranger), ""); r.code() != codes.Unavailable {
		t.Errorf("client certificate of another CA: got %v, want UNAVAILABLE (handshake refused)", r.err)
	}
	// A bearer credential comes first and must be valid, even with a good
	// certificate (and here no tokens are configured at all).
	wantUnauthenticated(t, check(t, addr, clientTLS(serverCA, &good), "s3cret-token"), "bearer tokens are not accepted", "s3cret-token")
}

func TestPrincipalFromCertificate(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	spiffe := clientCA.client(t, "cn-of-spiffe", "spiffe://example.org/team-a", "spiffe://example.org/second")
	cnOnly := clientCA.client(t, "team-b")
	for _, tc := range []struct {
		from           string
		spiffe, cnOnly string // the principal, or the UNAUTHENTICATED reason after "!"
	}{
		{"", "spiffe://example.org/team-a", "team-b"},
		{PrincipalFromAuto, "spiffe://example.org/team-a", "team-b"},
		{PrincipalFromURISAN, "spiffe://example.org/team-a", "!client certificate has no URI SAN"},
		{PrincipalFromSubjectCN, "cn-of-spiffe", "team-b"},
	} {
		t.Run("from="+tc.from, func(t *testing.T) {
			cfg := Config{TLS: serverFiles(t, t.TempDir(), serverCA.server(t), clientCA)}
			cfg.TLS.PrincipalFrom = tc.from
			a, _ := newAuthenticator(t, cfg)
			addr := serve(t, a)
			for _, c := range []struct {
				cert issued
				want string
			}{{spiffe, tc.spiffe}, {cnOnly, tc.cnOnly}} {
				r := check(t, addr, clientTLS(serverCA, &c.cert), "")
				if reason, bad := strings.CutPrefix(c.want, "!"); bad {
					wantUnauthenticated(t, r, reason)
				} else {
					wantPrincipal(t, r, c.want, MethodMTLS)
				}
			}
		})
	}
}

func TestTLSCertificateRotation(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	first := serverCA.server(t)
	files := serverFiles(t, t.TempDir(), first, clientCA)
	a, log := newAuthenticator(t, Config{TLS: files})
	addr := serve(t, a)
	client := clientCA.client(t, "team-a")
	creds := clientTLS(serverCA, &client)

	if r := check(t, addr, creds, ""); r.err != nil || r.serial.Cmp(first.serial) != 0 {
		t.Fatalf("got serial %v err %v, want %v", r.serial, r.err, first.serial)
	}

	// A broken pair (a certificate without its key) is reported and the
	// previous pair stays in service.
	second := serverCA.server(t)
	writeFile(t, files.CertFile, second.certPEM)
	eventually(t, "the failed reload in the log", func() bool {
		r := check(t, addr, creds, "")
		if r.err != nil || r.serial.Cmp(first.serial) != 0 {
			t.Fatalf("during a broken rotation: serial %v err %v, want the first %v", r.serial, r.err, first.serial)
		}
		return strings.Contains(log.String(), "cannot reload, keeping the previous tls certificate")
	})

	// The key lands: new connections get the second certificate, no restart.
	writeFile(t, files.KeyFile, second.keyPEM)
	eventually(t, "the rotated certificate", func() bool {
		r := check(t, addr, creds, "")
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.serial.Cmp(second.serial) == 0
	})
	if !strings.Contains(log.String(), "serial="+second.serial.String()) {
		t.Errorf("the reload is not logged with the new serial:\n%s", log)
	}
}

func TestClientCARotation(t *testing.T) {
	serverCA, oldCA, newClientCA := newCA(t, "server CA"), newCA(t, "old client CA"), newCA(t, "new client CA")
	files := serverFiles(t, t.TempDir(), serverCA.server(t), oldCA)
	a, _ := newAuthenticator(t, Config{TLS: files})
	addr := serve(t, a)
	oldClient, newClient := oldCA.client(t, "old"), newClientCA.client(t, "new")
	wantPrincipal(t, check(t, addr, clientTLS(serverCA, &oldClient), ""), "old", MethodMTLS)

	writeFile(t, files.ClientCAFile, newClientCA.pem)
	eventually(t, "the new client CA", func() bool {
		return check(t, addr, clientTLS(serverCA, &newClient), "").err == nil
	})
	wantPrincipal(t, check(t, addr, clientTLS(serverCA, &newClient), ""), "new", MethodMTLS)
	if r := check(t, addr, clientTLS(serverCA, &oldClient), ""); r.code() != codes.Unavailable {
		t.Errorf("client of the removed CA: got %v, want UNAVAILABLE", r.err)
	}
}
