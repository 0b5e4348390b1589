package authn

import "context"

// How a principal authenticated; see Principal.Method.
const (
	MethodMTLS  = "mtls"  // a client certificate verified against tls.client_ca_file
	MethodToken = "token" // a bearer token whose hash is in tokens_file
	MethodJWT   = "jwt"   // a JWT verified against jwt.jwks_file
)

// Principal is who is calling: the name that the operator's policy grants
// rights to, and how the caller proved it.
type Principal struct {
	// Name is the client certificate's first URI SAN or subject common name
	// (see TLS.PrincipalFrom), the principal of the token's line in the
	// tokens file, or the JWT's principal claim (see JWT.PrincipalClaim).
	Name string
	// Method is MethodMTLS, MethodToken or MethodJWT.
	Method string
}

type principalKey struct{}

// NewContext returns a child of ctx that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal that AuthFunc stored in ctx; ok is false
// when there is none (authentication off, or a method exempted by Config.Skip).
func FromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}
