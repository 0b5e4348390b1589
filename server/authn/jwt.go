package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// jwtLeeway is the clock skew allowed when checking a JWT's exp, nbf and iat.
const jwtLeeway = 30 * time.Second

// jwtVerifier checks JWTs against a local JWKS file, reloaded when it
// changes. The keys never come from a URL: ferry connects to no host for them.
type jwtVerifier struct {
	keys     *reloader[jwkSet]
	issuer   string
	audience string
	claim    string
}

// jwkSet is a parsed JWKS file.
type jwkSet struct {
	kf   keyfunc.Keyfunc
	algs []string // the signature algorithms its keys allow, sorted
	kids []string // for the log
}

func newJWTVerifier(cfg JWT, log *slog.Logger) (*jwtVerifier, error) {
	v := &jwtVerifier{issuer: cfg.Issuer, audience: cfg.Audience, claim: cfg.PrincipalClaim}
	if v.claim == "" {
		v.claim = "sub"
	}
	v.keys = &reloader[jwkSet]{
		what: "jwt jwks", paths: []string{cfg.JWKSFile}, fields: []string{"jwt.jwks_file"}, parse: parseJWKS,
		describe: func(s *jwkSet) []any { return []any{"kids", s.kids, "algs", s.algs} }, log: log,
	}
	if err := v.keys.load(); err != nil {
		return nil, err
	}
	return v, nil
}

// parseJWKS parses a JWK set of public signature keys. A key for encryption
// ("use": "enc"), a symmetric key (kty "oct") or private key material is an
// error: ferry only verifies, and an HMAC secret or a private key in this file
// is a mistake to fix, not to use. The allowed algorithms are those of the keys'
// families (RSA: RS* and PS*; EC: the ES* of its curve; OKP Ed25519: EdDSA),
// or the key's "alg" when it names one; never "none" nor HS*.
func parseJWKS(data [][]byte) (*jwkSet, error) {
	var m jwkset.JWKSMarshal
	if err := json.Unmarshal(data[0], &m); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if len(m.Keys) == 0 {
		return nil, errors.New(`no keys in "keys"`)
	}
	s := &jwkSet{}
	for i, k := range m.Keys {
		name := fmt.Sprintf("key %d", i+1)
		if k.KID != "" {
			name += fmt.Sprintf(" (kid %q)", k.KID)
		}
		if k.USE == jwkset.UseEnc {
			return nil, fmt.Errorf(`%s: "use" is "enc"; ferry needs signature keys`, name)
		}
		if k.D != "" || k.K != "" {
			return nil, fmt.Errorf("%s: holds private or symmetric key material; give ferry public keys only", name)
		}
		family, err := keyAlgs(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if alg := k.ALG.String(); alg != "" {
			if !slices.Contains(family, alg) {
				return nil, fmt.Errorf("%s: alg %q does not fit a %s key (want one of %s)", name, alg, k.KTY, strings.Join(family, ", "))
			}
			family = []string{alg}
		}
		s.algs = append(s.algs, family...)
		s.kids = append(s.kids, k.KID)
	}
	slices.Sort(s.algs)
	s.algs = slices.Compact(s.algs)
	kf, err := keyfunc.NewJWKSetJSON(data[0])
	if err != nil {
		return nil, err
	}
	s.kf = kf
	return s, nil
}

// keyAlgs lists the signature algorithms of a public key's family.
func keyAlgs(k jwkset.JWKMarshal) ([]string, error) {
	switch k.KTY {
	case jwkset.KtyRSA:
		return []string{"PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}, nil
	case jwkset.KtyEC:
		switch k.CRV {
		case jwkset.CrvP256:
			return []string{"ES256"}, nil
		case jwkset.CrvP384:
			return []string{"ES384"}, nil
		case jwkset.CrvP521:
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("EC curve %q is not supported (P-256, P-384, P-521)", k.CRV)
	case jwkset.KtyOKP:
		if k.CRV == jwkset.CrvEd25519 {
			return []string{"EdDSA"}, nil
		}
		return nil, fmt.Errorf("OKP curve %q is not supported (Ed25519)", k.CRV)
	case jwkset.KtyOct:
		return nil, errors.New(`kty "oct" is a symmetric key; ferry accepts public keys only`)
	}
	return nil, fmt.Errorf("kty %q is not supported (RSA, EC, OKP)", k.KTY)
}

// verify checks a JWT's signature against the JWKS, then its claims: iss must
// be the configured issuer, aud must include the configured audience, exp is
// required, and exp, nbf and iat are checked with jwtLeeway. The principal is
// the configured claim, a non-empty string. Errors are UNAUTHENTICATED statuses
// with a reason and never hold the token.
func (v *jwtVerifier) verify(raw string) (Principal, error) {
	set := v.keys.get()
	p := jwt.NewParser(
		jwt.WithValidMethods(set.algs),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
	)
	claims := jwt.MapClaims{}
	tok, err := p.ParseWithClaims(raw, claims, set.kf.Keyfunc)
	if err != nil {
		return Principal{}, v.reason(err, tok, claims, set.algs)
	}
	name, _ := claims[v.claim].(string)
	if name == "" {
		return Principal{}, unauthenticated(fmt.Sprintf("JWT claim %q (jwt.principal_claim) is missing, empty or not a string", v.claim))
	}
	return Principal{Name: name, Method: MethodJWT}, nil
}

// reason turns a jwt error into a status whose message is ferry's own: the
// library's messages are not passed on, so nothing of the token can leak.
func (v *jwtVerifier) reason(err error, tok *jwt.Token, claims jwt.MapClaims, algs []string) error {
	var msg string
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "JWT malformed"
	case tok == nil || tok.Method == nil:
		msg = "JWT algorithm not supported"
	case !slices.Contains(algs, tok.Method.Alg()):
		// Alg is one of the library's registered names, not client text.
		msg = fmt.Sprintf("JWT algorithm %q not allowed: the JWKS keys allow %s", tok.Method.Alg(), strings.Join(algs, ", "))
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "JWT signature not verified by any key of the JWKS"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "JWT expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "JWT not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "JWT issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "JWT lacks a required claim"
		for _, c := range []string{"exp", "iss", "aud"} {
			if _, ok := claims[c]; !ok {
				msg = fmt.Sprintf("JWT has no %q claim", c)
				break
			}
		}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = fmt.Sprintf("JWT issuer is not %q (jwt.issuer)", v.issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		msg = fmt.Sprintf("JWT audience does not include %q (jwt.audience)", v.audience)
	case errors.Is(err, jwt.ErrInvalidType):
		msg = "JWT has a registered claim of the wrong type"
	default:
		msg = "JWT invalid"
	}
	return unauthenticated(msg)
}
