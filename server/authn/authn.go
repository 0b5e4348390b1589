// Package authn authenticates the gRPC clients of ferry: it says who is
// calling, as a Principal stored in the request's context, and nothing about
// what that principal may do (the policy is another package's).
//
// An Authenticator is built from a Config by New. It offers three ways to
// prove a name, each optional:
//
//   - a client certificate (mTLS), verified against a client CA file; the
//     name is the first URI SAN (a SPIFFE id) or the subject common name;
//   - a bearer token, looked up by its SHA-256 in a tokens file that holds
//     hashes only (HashToken prints the form);
//   - a JWT, verified against a local JWKS file (never a URL) with a required
//     issuer, audience and expiry.
//
// The server puts TLSConfig on its listener and the interceptors
// (UnaryServerInterceptor, StreamServerInterceptor, or AuthFunc with
// go-grpc-middleware's auth package) in its chain. Certificates, the client
// CA, the tokens file and the JWKS file are reloaded when they change, at
// most once per second, from the handshake or call that needs them; a file
// that does not parse keeps the previous value in use and is reported in the
// log. Every failure is an UNAUTHENTICATED status with a reason that never
// contains a token, a JWT, or a hash of either.
package authn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Config says how clients authenticate. The zero Config turns everything off:
// plaintext, no principal (Enabled is false).
type Config struct {
	// TLS is ferry's own certificate and the optional client CA for mTLS.
	TLS TLS `json:"tls"`
	// TokensFile is a file of bearer token hashes, one line per token:
	// "<principal> sha256:<64 hex digits>" (see HashToken); blank lines and
	// lines starting with # are ignored. Default "": no tokens accepted.
	TokensFile string `json:"tokens_file"`
	// JWT verifies bearer JWTs against a local JWKS file.
	JWT JWT `json:"jwt"`
	// Skip, set by the server rather than the operator's file, exempts
	// methods from authentication: given the full method name
	// ("/grpc.health.v1.Health/Check"), true lets the call through with no
	// principal. Default nil: every method authenticates. See SkipServices.
	Skip func(fullMethod string) bool `json:"-"`
}

// TLS configures TLS on ferry's port. CertFile and KeyFile together turn TLS
// on (TLS 1.2 minimum); ClientCAFile adds client certificates.
type TLS struct {
	// CertFile is the PEM certificate chain of ferry's port, leaf first.
	// Reloaded when it changes. Default "": no TLS.
	CertFile string `json:"cert_file"`
	// KeyFile is the PEM private key of CertFile; required with it.
	KeyFile string `json:"key_file"`
	// ClientCAFile is the PEM bundle of CAs that sign client certificates;
	// setting it accepts client certificates as credentials (mTLS).
	// Reloaded when it changes. Default "": client certificates are not asked for.
	ClientCAFile string `json:"client_ca_file"`
	// RequireClientCert refuses, in the handshake, a client without a
	// certificate from ClientCAFile. Default false: a certificate is verified if
	// given, so that token and JWT clients connect over TLS without one.
	RequireClientCert bool `json:"require_client_cert"`
	// PrincipalFrom says which part of a client certificate names the
	// principal: PrincipalFromAuto ("auto", the default: the first URI SAN, else
	// the subject CN), PrincipalFromURISAN ("uri_san") or PrincipalFromSubjectCN
	// ("subject_cn").
	PrincipalFrom string `json:"principal_from"`
}

// JWT configures bearer JWTs. JWKSFile turns them on and then Issuer and
// Audience are required.
type JWT struct {
	// JWKSFile is a local JWK set of public signature keys (RSA, EC P-256/384/521,
	// Ed25519); the JWT algorithms allowed are those of its keys. Reloaded when
	// it changes. Default "": JWTs are not accepted.
	JWKSFile string `json:"jwks_file"`
	// Issuer must equal the JWT's iss claim.
	Issuer string `json:"issuer"`
	// Audience must be one of the JWT's aud values.
	Audience string `json:"audience"`
	// PrincipalClaim is the claim that names the principal, a string.
	// Default "sub".
	PrincipalClaim string `json:"principal_claim"`
}

// Authenticator authenticates the calls of ferry's clients. Its methods are
// safe for concurrent use.
type Authenticator struct {
	tls    *tlsServer            // nil without TLS
	tokens *reloader[tokenTable] // nil without a tokens file
	jwt    *jwtVerifier          // nil without a JWKS file
	skip   func(string) bool
}

// New validates cfg, loads its files and returns an Authenticator. Errors
// name the field at fault ("tls.key_file: ...") and say what is wrong; a file
// that is missing or does not parse is an error here, while later, on reload,
// it is only logged. log receives the loads, the reloads and their failures;
// nil means slog.Default().
func New(cfg Config, log *slog.Logger) (*Authenticator, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{skip: cfg.Skip}
	var err error
	if cfg.TLS.CertFile != "" {
		if a.tls, err = newTLSServer(cfg.TLS, log); err != nil {
			return nil, err
		}
	}
	if cfg.TokensFile != "" {
		a.tokens = &reloader[tokenTable]{
			what: "tokens file", paths: []string{cfg.TokensFile}, fields: []string{"tokens_file"},
			parse: parseTokens, describe: describeTokens, log: log,
		}
		if err := a.tokens.load(); err != nil {
			a.Close()
			return nil, err
		}
	}
	if cfg.JWT.JWKSFile != "" {
		if a.jwt, err = newJWTVerifier(cfg.JWT, log); err != nil {
			a.Close()
			return nil, err
		}
	}
	if a.tls == nil && (a.tokens != nil || a.jwt != nil) {
		log.Warn("authn: bearer credentials accepted without TLS: they cross the network in clear unless a proxy in front of ferry terminates TLS")
	}
	return a, nil
}

// validate checks the fields against each other; the files are New's.
func (cfg *Config) validate() error {
	t := cfg.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return errors.New("tls.key_file: required with tls.cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		return errors.New("tls.cert_file: required with tls.key_file")
	case t.ClientCAFile != "" && t.CertFile == "":
		return errors.New("tls.client_ca_file: client certificates need TLS: set tls.cert_file and tls.key_file")
	case t.RequireClientCert && t.ClientCAFile == "":
		return errors.New("tls.require_client_cert: needs tls.client_ca_file to verify the certificates against")
	}
	switch t.PrincipalFrom {
	case "", PrincipalFromAuto, PrincipalFromURISAN, PrincipalFromSubjectCN:
	default:
		return fmt.Errorf("tls.principal_from: %q is not one of auto, uri_san, subject_cn", t.PrincipalFrom)
	}
	j := cfg.JWT
	if j.JWKSFile == "" {
		if j.Issuer != "" || j.Audience != "" || j.PrincipalClaim != "" {
			return errors.New("jwt.jwks_file: required when jwt.issuer, jwt.audience or jwt.principal_claim is set")
		}
		return nil
	}
	if strings.Contains(j.JWKSFile, "://") {
		return fmt.Errorf("jwt.jwks_file: %q is a URL; give a local file (ferry fetches no keys from the network)", j.JWKSFile)
	}
	if j.Issuer == "" {
		return errors.New("jwt.issuer: required with jwt.jwks_file")
	}
	if j.Audience == "" {
		return errors.New("jwt.audience: required with jwt.jwks_file")
	}
	return nil
}

// Enabled reports whether any way to authenticate is configured: a client CA,
// a tokens file or a JWKS file. TLS alone authenticates only the server. When
// Enabled is false the server should not install the interceptors, which would
// refuse every call.
func (a *Authenticator) Enabled() bool {
	return a.tls != nil && a.tls.ca != nil || a.tokens != nil || a.jwt != nil
}

// TLSConfig returns the TLS configuration of ferry's listener, for
// credentials.NewTLS; nil when TLS is off. Each handshake takes the current
// certificate and client CA, looking at their files at most once per second;
// TLS 1.2 is the minimum. ClientAuth is RequireAndVerifyClientCert when
// TLS.RequireClientCert is set, VerifyClientCertIfGiven with a client CA
// otherwise, and NoClientCert without one.
func (a *Authenticator) TLSConfig() *tls.Config {
	if a.tls == nil {
		return nil
	}
	return a.tls.config()
}

// Close stops looking at the files: the values last loaded stay in use. It
// may be called more than once.
func (a *Authenticator) Close() {
	if a.tls != nil {
		a.tls.close()
	}
	if a.tokens != nil {
		a.tokens.close()
	}
	if a.jwt != nil {
		a.jwt.keys.close()
	}
}

// errMissing is returned when a call carries no credential at all.
var errMissing = unauthenticated("missing credentials: send a client certificate or authorization: Bearer <token>")

// AuthFunc authenticates a call, for go-grpc-middleware's auth interceptors,
// and returns ctx with the Principal (see FromContext). The order:
//
//  1. a bearer credential in the "authorization" metadata ("Bearer <token>"):
//     a JWT (two dots) when a JWKS file is configured, else a token looked up
//     in the tokens file. It must be valid: a bad one is refused even when
//     the connection has a client certificate;
//  2. else the client certificate that the TLS handshake verified;
//  3. else the call is refused.
//
// Every error is an UNAUTHENTICATED status with a reason ("token unknown",
// "JWT expired", ...) that never contains the credential.
func (a *Authenticator) AuthFunc(ctx context.Context) (context.Context, error) {
	bearer, ok, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		p, err := a.checkBearer(bearer)
		if err != nil {
			return nil, err
		}
		return NewContext(ctx, p), nil
	}
	if a.tls != nil {
		p, ok, err := a.tls.principal(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			return NewContext(ctx, p), nil
		}
	}
	return nil, errMissing
}

// bearerToken returns the token of the call's "authorization" metadata; ok is
// false when the call has none.
func bearerToken(ctx context.Context) (token string, ok bool, err error) {
	switch vals := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, unauthenticated("more than one authorization value")
	}
	token, err = auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return "", false, unauthenticated(`authorization must be "Bearer <token>"`)
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", false, unauthenticated("empty bearer token")
	}
	return token, true, nil
}

func (a *Authenticator) checkBearer(token string) (Principal, error) {
	if a.jwt != nil && strings.Count(token, ".") == 2 {
		return a.jwt.verify(token)
	}
	if a.tokens == nil {
		if a.jwt != nil {
			return Principal{}, unauthenticated("bearer token is not a JWT, and no tokens file is configured")
		}
		return Principal{}, unauthenticated("bearer tokens are not accepted: no tokens file or JWKS file is configured")
	}
	name, ok := a.tokens.get().lookup(token)
	if !ok {
		return Principal{}, unauthenticated("token unknown")
	}
	return Principal{Name: name, Method: MethodToken}, nil
}

// UnaryServerInterceptor authenticates unary calls with AuthFunc, except the
// methods that Config.Skip exempts.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	i := auth.UnaryServerInterceptor(a.AuthFunc)
	if a.skip == nil {
		return i
	}
	return selector.UnaryServerInterceptor(i, a.matcher())
}

// StreamServerInterceptor authenticates streaming calls with AuthFunc,
// except the methods that Config.Skip exempts.
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	i := auth.StreamServerInterceptor(a.AuthFunc)
	if a.skip == nil {
		return i
	}
	return selector.StreamServerInterceptor(i, a.matcher())
}

// matcher selects the calls that authenticate: those Skip does not exempt.
func (a *Authenticator) matcher() selector.Matcher {
	return selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return !a.skip(c.FullMethod())
	})
}

// SkipServices returns a Config.Skip that exempts every method of the named
// services ("grpc.health.v1.Health").
func SkipServices(services ...string) func(fullMethod string) bool {
	return func(fullMethod string) bool {
		for _, s := range services {
			if strings.HasPrefix(fullMethod, "/"+s+"/") {
				return true
			}
		}
		return false
	}
}

func unauthenticated(reason string) error {
	return status.Error(codes.Unauthenticated, reason)
}
