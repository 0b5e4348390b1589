package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Where the principal of a client certificate comes from; see TLS.PrincipalFrom.
const (
	// PrincipalFromAuto takes the first URI SAN when the certificate has one,
	// else the subject common name. The default.
	PrincipalFromAuto = "auto"
	// PrincipalFromURISAN takes the first URI SAN (a SPIFFE id such as
	// spiffe://example.org/team-a); a certificate without one is refused.
	PrincipalFromURISAN = "uri_san"
	// PrincipalFromSubjectCN takes the subject common name; a certificate
	// without one is refused.
	PrincipalFromSubjectCN = "subject_cn"
)

// tlsServer serves ferry's certificate, reloaded when its files change, and
// verifies client certificates against the client CA file, reloaded likewise.
type tlsServer struct {
	cert       *reloader[tls.Certificate]
	ca         *reloader[caPool] // nil without tls.client_ca_file
	clientAuth tls.ClientAuthType
	from       string // PrincipalFrom*

	// current is the config of the last certificate and CA pool, so that
	// handshakes share one config until a file changes.
	current atomic.Pointer[tlsGeneration]
}

type tlsGeneration struct {
	cert *tls.Certificate
	ca   *caPool
	conf *tls.Config
}

// caPool is the parsed client CA file.
type caPool struct {
	pool  *x509.CertPool
	count int
}

func newTLSServer(cfg TLS, log *slog.Logger) (*tlsServer, error) {
	s := &tlsServer{from: cfg.PrincipalFrom, clientAuth: tls.NoClientCert}
	if s.from == "" {
		s.from = PrincipalFromAuto
	}
	s.cert = &reloader[tls.Certificate]{
		what: "tls certificate", paths: []string{cfg.CertFile, cfg.KeyFile}, fields: []string{"tls.cert_file", "tls.key_file"},
		parse: parseKeyPair, describe: describeKeyPair, log: log,
	}
	if err := s.cert.load(); err != nil {
		return nil, err
	}
	if cfg.ClientCAFile != "" {
		s.ca = &reloader[caPool]{
			what: "tls client CA", paths: []string{cfg.ClientCAFile}, fields: []string{"tls.client_ca_file"},
			parse: parseCAPool, describe: func(p *caPool) []any { return []any{"certificates", p.count} }, log: log,
		}
		if err := s.ca.load(); err != nil {
			s.close()
			return nil, err
		}
		s.clientAuth = tls.VerifyClientCertIfGiven
		if cfg.RequireClientCert {
			s.clientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return s, nil
}

// config is the tls.Config of the listener: every handshake asks
// configForClient, which looks at the files at most once per pollInterval.
func (s *tlsServer) config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2"},
		ClientAuth:         s.clientAuth,
		GetConfigForClient: s.configForClient,
		// A resumed session keeps the client certificate of its first
		// handshake, verified against the CA pool of that time: no resumption,
		// so that a rotated client CA applies to every new connection. gRPC
		// connections are long-lived; a full handshake costs little.
		SessionTicketsDisabled: true,
	}
}

func (s *tlsServer) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	cert := s.cert.get()
	var ca *caPool
	if s.ca != nil {
		ca = s.ca.get()
	}
	if g := s.current.Load(); g != nil && g.cert == cert && g.ca == ca {
		return g.conf, nil
	}
	conf := s.config()
	conf.GetConfigForClient = nil
	conf.Certificates = []tls.Certificate{*cert}
	if ca != nil {
		conf.ClientCAs = ca.pool
	}
	s.current.Store(&tlsGeneration{cert: cert, ca: ca, conf: conf})
	return conf, nil
}

func (s *tlsServer) close() {
	s.cert.close()
	if s.ca != nil {
		s.ca.close()
	}
}

// principal is the principal of the client certificate that the handshake
// verified; ok is false when the connection has none (no TLS, no client CA, or
// the client sent no certificate).
func (s *tlsServer) principal(ctx context.Context) (p Principal, ok bool, err error) {
	pr, found := peer.FromContext(ctx)
	if !found {
		return Principal{}, false, nil
	}
	info, isTLS := pr.AuthInfo.(credentials.TLSInfo)
	if !isTLS || len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
		return Principal{}, false, nil
	}
	name, err := certName(info.State.PeerCertificates[0], s.from)
	if err != nil {
		return Principal{}, true, err
	}
	return Principal{Name: name, Method: MethodMTLS}, true, nil
}

// certName picks the principal's name out of a verified client certificate.
func certName(c *x509.Certificate, from string) (string, error) {
	if from != PrincipalFromSubjectCN && len(c.URIs) > 0 {
		return c.URIs[0].String(), nil
	}
	if from != PrincipalFromURISAN && c.Subject.CommonName != "" {
		return c.Subject.CommonName, nil
	}
	switch from {
	case PrincipalFromURISAN:
		return "", unauthenticated("client certificate has no URI SAN (tls.principal_from is uri_san)")
	case PrincipalFromSubjectCN:
		return "", unauthenticated("client certificate has no subject common name (tls.principal_from is subject_cn)")
	default:
		return "", unauthenticated("client certificate has neither a URI SAN nor a subject common name")
	}
}

// parseKeyPair parses the certificate file (data[0], the leaf first, then any
// intermediates) and the key file (data[1]).
func parseKeyPair(data [][]byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(data[0], data[1])
	if err != nil {
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// describeKeyPair names the certificate for the log, and warns when it is
// outside its validity period: it is served all the same (the previous one may
// be no better), and clients will refuse it.
func describeKeyPair(c *tls.Certificate) []any {
	attrs := []any{"subject", c.Leaf.Subject.String(), "serial", c.Leaf.SerialNumber.String(), "not_after", c.Leaf.NotAfter}
	if now := time.Now(); now.After(c.Leaf.NotAfter) || now.Before(c.Leaf.NotBefore) {
		attrs = append(attrs, "warning", "certificate is outside its validity period; clients will refuse it")
	}
	return attrs
}

// parseCAPool parses every CERTIFICATE block of a PEM file; anything else in
// it, or no certificate at all, is an error.
func parseCAPool(data [][]byte) (*caPool, error) {
	p := &caPool{pool: x509.NewCertPool()}
	rest := data[0]
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE", p.count+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", p.count+1, err)
		}
		p.pool.AddCert(c)
		p.count++
	}
	if p.count == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return p, nil
}
