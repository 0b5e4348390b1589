package authn_test

import (
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ferrykafka/ferry/server/authn"
)

// A server with TLS, optional client certificates and bearer tokens, whose
// health service is open to anyone.
func Example() {
	a, err := authn.New(authn.Config{
		TLS: authn.TLS{
			CertFile:     "/etc/ferry/tls/server.crt",
			KeyFile:      "/etc/ferry/tls/server.key",
			ClientCAFile: "/etc/ferry/tls/clients-ca.crt",
		},
		TokensFile: "/etc/ferry/tokens",
		Skip:       authn.SkipServices("grpc.health.v1.Health"),
	}, slog.Default())
	if err != nil {
		fmt.Println(err) // tls.cert_file: stat /etc/ferry/tls/server.crt: no such file or directory
		return
	}
	defer a.Close()
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(a.StreamServerInterceptor()),
	}
	if c := a.TLSConfig(); c != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c)))
	}
	_ = grpc.NewServer(opts...)
	// Handlers call authn.FromContext(ctx) for the principal.
}

// The line an operator adds to the tokens file for a new token.
func ExampleHashToken() {
	fmt.Println("team-a", authn.HashToken("abc"))
	// Output: team-a sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
}
