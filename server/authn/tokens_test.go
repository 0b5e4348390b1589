package authn

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestHashToken(t *testing.T) {
	// SHA-256 of "abc", FIPS 180-2 appendix B.1.
	if got, want := HashToken("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashToken(abc) = %s, want %s", got, want)
	}
}

func TestParseTokens(t *testing.T) {
	a, b := HashToken("token-a"), HashToken("token-b")
	for _, tc := range []struct {
		name, file string
		want       map[string]string // token → principal
		err        string
	}{
		{"comments and blanks", "# ferry tokens\n\nalice " + a + "\n  bob\t" + b + "   # laptop\n", map[string]string{"token-a": "alice", "token-b": "bob"}, ""},
		{"upper-case hex", "alice sha256:" + strings.ToUpper(a[7:]) + "\n", map[string]string{"token-a": "alice"}, ""},
		{"two tokens for one principal", "alice " + a + "\nalice " + b + "\n", map[string]string{"token-a": "alice", "token-b": "alice"}, ""},
		{"empty", "", map[string]string{"token-a": ""}, ""},
		{"a raw token", "alice token-a\n", nil, "line 1 (principal \"alice\"): the second field must be sha256:<64 hex digits>"},
		{"short hash", "alice " + a[:40] + "\n", nil, "line 1 (principal \"alice\")"},
		{"no hash", "# x\nalice\n", nil, "line 2: want \"<principal> sha256:<64 hex digits>\""},
		{"three fields", "alice " + a + " extra\n", nil, "line 1: want"},
		{"same hash twice", "alice " + a + "\nbob " + a + "\n", nil, "line 2 (principal \"bob\"): same token hash as line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, err := parseTokens([][]byte{[]byte(tc.file)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				if strings.Contains(err.Error(), a[7:]) || strings.Contains(err.Error(), a[7:47]) || strings.Contains(err.Error(), "token-a") {
					t.Errorf("the error %q holds a token or its hash", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for tok, want := range tc.want {
				if got, ok := table.lookup(tok); got != want || ok != (want != "") {
					t.Errorf("lookup(%s) = %q %v, want %q", tok, got, ok, want)
				}
			}
			if _, ok := table.lookup("unknown"); ok {
				t.Error("an unknown token found")
			}
		})
	}
}

func TestTokens(t *testing.T) {
	serverCA, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	dir := t.TempDir()
	aliceTok, bobTok, wrongTok := "alice-Zq8Rk2mV7sLp", "bob-Hy4nW1xC9tGd", "wrong-Pb6fJ3uE0aQs"
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, []byte("# principals\nalice "+HashToken(aliceTok)+"\n"))
	a, log := newAuthenticator(t, Config{TLS: serverFiles(t, dir, serverCA.server(t), clientCA), TokensFile: tokens}, &aliceTok, &bobTok, &wrongTok)
	if !a.Enabled() {
		t.Error("not Enabled with a tokens file")
	}
	addr := serve(t, a)
	creds := clientTLS(serverCA, nil) // token clients connect over TLS without a certificate
	secrets := []string{aliceTok, bobTok, wrongTok}

	wantUnauthenticated(t, check(t, addr, creds, ""), "missing credentials")
	wantUnauthenticated(t, check(t, addr, creds, wrongTok), "token unknown", secrets...)
	wantPrincipal(t, check(t, addr, creds, aliceTok), "alice", MethodToken)
	wantPrincipal(t, call(t, addr, creds, "authorization", "bearer "+aliceTok), "alice", MethodToken) // the scheme is case-insensitive
	wantUnauthenticated(t, call(t, addr, creds, "authorization", "Basic "+aliceTok), `authorization must be "Bearer <token>"`, secrets...)
	wantUnauthenticated(t, call(t, addr, creds, "authorization", aliceTok), `authorization must be "Bearer <token>"`, secrets...)
	wantUnauthenticated(t, call(t, addr, creds, "authorization", "Bearer  "), "empty bearer token")

	// A wrong token is refused even with a good client certificate.
	cert := clientCA.client(t, "team-a")
	wantUnauthenticated(t, check(t, addr, clientTLS(serverCA, &cert), wrongTok), "token unknown", secrets...)
	wantPrincipal(t, check(t, addr, clientTLS(serverCA, &cert), aliceTok), "alice", MethodToken)

	// A streaming call goes through the stream interceptor.
	if p, err := watch(addr, creds, aliceTok); err != nil || p != "alice" {
		t.Errorf("Watch: principal %q err %v, want alice", p, err)
	}
	if _, err := watch(addr, creds, wrongTok); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Watch with a wrong token: %v, want UNAUTHENTICATED", err)
	}

	// A bad file (a raw token where its hash belongs) is reported without the
	// token, and the previous table stays.
	writeFile(t, tokens, []byte("alice "+HashToken(aliceTok)+"\nbob "+bobTok+"\n"))
	eventually(t, "the failed reload in the log", func() bool {
		wantPrincipal(t, check(t, addr, creds, aliceTok), "alice", MethodToken)
		return strings.Contains(log.String(), "cannot reload, keeping the previous tokens file")
	})
	if !strings.Contains(log.String(), "line 2 (principal \\\"bob\\\")") {
		t.Errorf("the failed reload does not name the line:\n%s", log)
	}

	// Alice's token removed, Bob's added: the reload takes effect with no restart.
	writeFile(t, tokens, []byte("bob "+HashToken(bobTok)+"\n"))
	eventually(t, "alice's token to be refused", func() bool {
		r := check(t, addr, creds, aliceTok)
		return r.code() == codes.Unauthenticated
	})
	wantUnauthenticated(t, check(t, addr, creds, aliceTok), "token unknown", secrets...)
	wantPrincipal(t, check(t, addr, creds, bobTok), "bob", MethodToken)
	if !strings.Contains(log.String(), "reloaded tokens file") {
		t.Errorf("the reload is not logged:\n%s", log)
	}
}
