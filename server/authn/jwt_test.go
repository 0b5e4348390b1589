package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "ferry"
)

// jwk is the public JWK of an EC P-256 or Ed25519 key.
func jwk(t *testing.T, kid string, pub any) map[string]string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		k, err := pub.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		raw := k.Bytes() // 0x04 || X || Y
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pub)}
	}
	t.Fatalf("no JWK for %T", pub)
	return nil
}

func jwksJSON(t *testing.T, keys ...map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claims are valid ones, changed by the edits.
func claims(edits ...func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": testIssuer, "aud": []string{"other", testAudience}, "sub": "svc-a",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "client_id": "client-7"}
	for _, e := range edits {
		e(c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWT(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serverCA := newCA(t, "server CA")
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "jwks.json")
	writeFile(t, jwksFile, jwksJSON(t, jwk(t, "k1", &k1.PublicKey), jwk(t, "ed", edPub)))

	var secrets []string // every JWT the test makes, none of which may leak
	mint := func(m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
		s := sign(t, m, kid, key, c)
		secrets = append(secrets, s)
		return s
	}
	cfg := Config{TLS: serverFiles(t, dir, serverCA.server(t), nil), JWT: JWT{JWKSFile: jwksFile, Issuer: testIssuer, Audience: testAudience}}
	a, log := newAuthenticator(t, cfg)
	t.Cleanup(func() {
		for _, s := range secrets {
			sig := strings.Split(s, ".")[2]
			if strings.Contains(log.String(), s) || sig != "" && strings.Contains(log.String(), sig) {
				t.Errorf("the log holds a JWT:\n%s", log)
			}
		}
	})
	if !a.Enabled() {
		t.Error("not Enabled with a JWKS file")
	}
	addr := serve(t, a)
	creds := clientTLS(serverCA, nil)

	valid := mint(jwt.SigningMethodES256, "k1", k1, claims())
	wantPrincipal(t, check(t, addr, creds, valid), "svc-a", MethodJWT)
	wantPrincipal(t, check(t, addr, creds, mint(jwt.SigningMethodES256, "", k1, claims())), "svc-a", MethodJWT) // no kid: any key of the set
	wantPrincipal(t, check(t, addr, creds, mint(jwt.SigningMethodEdDSA, "ed", edPriv, claims())), "svc-a", MethodJWT)
	wantPrincipal(t, check(t, addr, creds, mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) {
		c["exp"] = time.Now().Add(-10 * time.Second).Unix() // within the leeway
	}))), "svc-a", MethodJWT)

	// The public key's bytes as an HMAC secret: the classic confusion.
	pubJSON, _ := json.Marshal(jwk(t, "k1", &k1.PublicKey))
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"expired", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })), "JWT expired"},
		{"no exp", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { delete(c, "exp") })), `JWT has no "exp" claim`},
		{"not yet valid", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "JWT not valid yet"},
		{"wrong issuer", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), `JWT issuer is not "https://issuer.example"`},
		{"no issuer", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { delete(c, "iss") })), `JWT has no "iss" claim`},
		{"wrong audience", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { c["aud"] = "kafka-ui" })), `JWT audience does not include "ferry"`},
		{"no principal claim", mint(jwt.SigningMethodES256, "k1", k1, claims(func(c jwt.MapClaims) { delete(c, "sub") })), `JWT claim "sub" (jwt.principal_claim) is missing`},
		{"alg none", mint(jwt.SigningMethodNone, "k1", jwt.UnsafeAllowNoneSignatureType, claims()), `JWT algorithm "none" not allowed: the JWKS keys allow ES256, EdDSA`},
		{"HS256 with the public key", mint(jwt.SigningMethodHS256, "k1", pubJSON, claims()), `JWT algorithm "HS256" not allowed`},
		{"key not in the JWKS", mint(jwt.SigningMethodES256, "k2", k2, claims()), "JWT signature not verified by any key of the JWKS"},
		{"another key under a known kid", mint(jwt.SigningMethodES256, "k1", k2, claims()), "JWT signature not verified by any key of the JWKS"},
		{"another key without kid", mint(jwt.SigningMethodES256, "", k2, claims()), "JWT signature not verified by any key of the JWKS"},
		{"malformed", "eyJhbGciOiJFUzI1NiJ9.not-json.sig", "JWT malformed"},
		{"not a JWT, no tokens file", "opaque-Gh7Tq2", "bearer token is not a JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantUnauthenticated(t, check(t, addr, creds, tc.token), tc.reason, append(secrets, tc.token, strings.Split(tc.token+"..", ".")[2])...)
		})
	}

	// A JWKS that does not parse (a symmetric key) is reported and the
	// previous keys stay.
	writeFile(t, jwksFile, []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	eventually(t, "the failed reload in the log", func() bool {
		wantPrincipal(t, check(t, addr, creds, valid), "svc-a", MethodJWT)
		return strings.Contains(log.String(), "cannot reload, keeping the previous jwt jwks")
	})

	// Rotation: k1 leaves the set, k2 joins it.
	writeFile(t, jwksFile, jwksJSON(t, jwk(t, "k2", &k2.PublicKey)))
	eventually(t, "k1's JWT to be refused", func() bool {
		return check(t, addr, creds, valid).code() == codes.Unauthenticated
	})
	wantUnauthenticated(t, check(t, addr, creds, valid), "JWT signature not verified", secrets...)
	wantPrincipal(t, check(t, addr, creds, mint(jwt.SigningMethodES256, "k2", k2, claims())), "svc-a", MethodJWT)
}

func TestJWTPrincipalClaim(t *testing.T) {
	k := newKey(t)
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, jwksFile, jwksJSON(t, jwk(t, "k", &k.PublicKey)))
	tokFile := filepath.Join(t.TempDir(), "tokens")
	opaque := "opaque-Lm5Xc1"
	writeFile(t, tokFile, []byte("carol "+HashToken(opaque)+"\n"))
	a, _ := newAuthenticator(t, Config{TokensFile: tokFile, JWT: JWT{JWKSFile: jwksFile, Issuer: testIssuer, Audience: testAudience, PrincipalClaim: "client_id"}}, &opaque)

	auth := func(bearer string) (Principal, error) {
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+bearer))
		ctx, err := a.AuthFunc(ctx)
		if err != nil {
			return Principal{}, err
		}
		p, _ := FromContext(ctx)
		return p, nil
	}
	if p, err := auth(sign(t, jwt.SigningMethodES256, "k", k, claims())); err != nil || p != (Principal{"client-7", MethodJWT}) {
		t.Errorf("got %+v %v, want client-7 by jwt", p, err)
	}
	if _, err := auth(sign(t, jwt.SigningMethodES256, "k", k, claims(func(c jwt.MapClaims) { c["client_id"] = 7 }))); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), `JWT claim "client_id"`) {
		t.Errorf("a claim that is not a string: %v", err)
	}
	// With both configured, a token without two dots goes to the tokens file.
	if p, err := auth(opaque); err != nil || p != (Principal{"carol", MethodToken}) {
		t.Errorf("got %+v %v, want carol by token", p, err)
	}
}

func TestParseJWKS(t *testing.T) {
	k := newKey(t)
	ec := jwk(t, "k", &k.PublicKey)
	with := func(edit func(m map[string]string)) []byte {
		m := map[string]string{}
		for a, b := range ec {
			m[a] = b
		}
		edit(m)
		return jwksJSON(t, m)
	}
	for _, tc := range []struct {
		name string
		file []byte
		algs string // on success
		err  string
	}{
		{"EC with alg", jwksJSON(t, ec), "ES256", ""},
		{"EC without alg", with(func(m map[string]string) { delete(m, "alg") }), "ES256", ""},
		{"not JSON", []byte("nope"), "", "not a JWK set"},
		{"no keys", []byte(`{"keys":[]}`), "", "no keys"},
		{"enc key", with(func(m map[string]string) { m["use"] = "enc" }), "", `key 1 (kid "k"): "use" is "enc"`},
		{"private key", with(func(m map[string]string) { m["d"] = "AAAA" }), "", "holds private or symmetric key material"},
		{"oct", []byte(`{"keys":[{"kty":"oct","kid":"h"}]}`), "", `kty "oct" is a symmetric key`},
		{"alg of another family", with(func(m map[string]string) { m["alg"] = "RS256" }), "", `alg "RS256" does not fit a EC key`},
		{"alg HS256", with(func(m map[string]string) { m["alg"] = "HS256" }), "", `alg "HS256" does not fit`},
		{"alg none", with(func(m map[string]string) { m["alg"] = "none" }), "", `alg "none" does not fit`},
		{"curve", with(func(m map[string]string) { m["crv"] = "secp256k1" }), "", `EC curve "secp256k1" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseJWKS([][]byte{tc.file})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(s.algs, ","); got != tc.algs {
				t.Errorf("algs %s, want %s", got, tc.algs)
			}
		})
	}
}
