package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// listSessions is `ferry sessions`: the live sessions of a ferry server as
// a table, one line per split of a source (as kafka-consumer-groups
// --describe shows a group) and one per sink.
func listSessions(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ferry sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("FERRY_ADDRESS", "127.0.0.1:50051"), "the ferry server (default $FERRY_ADDRESS, else 127.0.0.1:50051)")
	caFile := fs.String("ca-file", "", "PEM CA of the server's certificate; turns TLS on")
	certFile := fs.String("cert-file", "", "client certificate (PEM) for mTLS")
	keyFile := fs.String("key-file", "", "its key (PEM)")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if *caFile != "" || *certFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pem, err := readBounded(*caFile)
			if err != nil {
				return fmt.Errorf("--ca-file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--ca-file %s holds no PEM certificate", *caFile)
			}
		}
		if *certFile != "" {
			cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				return fmt.Errorf("--cert-file/--key-file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(tc))
	}
	if tok := os.Getenv("FERRY_TOKEN"); tok != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken{tok, *caFile != "" || *certFile != ""}))
	}
	conn, err := grpc.NewClient(*addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := ferryv1.NewAdminServiceClient(conn).ListSessions(ctx, &ferryv1.ListSessionsRequest{})
	if err != nil {
		return fmt.Errorf("listing the sessions of %s: %w", *addr, err)
	}
	return printSessions(stdout, resp.GetSessions())
}

// printSessions writes sessions as a table.
func printSessions(w io.Writer, sessions []*ferryv1.SessionInfo) error {
	if len(sessions) == 0 {
		_, err := fmt.Fprintln(w, "no open sessions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tKIND\tPRINCIPAL\tCLIENT\tCLUSTER\tGROUP/GUARANTEE\tTOPIC\tPARTITION\tCURRENT-OFFSET\tCOMMITTED-OFFSET\tEND-OFFSET\tLAG\tCHECKPOINT\tAGE\tTRANSACTIONS")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, s := range sessions {
		ckpt, age := "-", "-"
		if s.GetLastCheckpointId() != 0 {
			ckpt = strconv.FormatInt(s.GetLastCheckpointId(), 10)
			age = (time.Duration(s.GetLastCheckpointAgeMs()) * time.Millisecond).String()
		}
		head := []string{s.GetSessionId(), strings.TrimPrefix(strings.ToLower(s.GetKind().String()), "session_kind_"),
			dash(s.GetPrincipal()), dash(s.GetClientAddress()), dash(s.GetCluster())}
		if s.GetKind() == ferryv1.SessionKind_SESSION_KIND_SINK {
			g := strings.TrimPrefix(s.GetDeliveryGuarantee().String(), "DELIVERY_GUARANTEE_")
			topic := strings.TrimPrefix(s.GetSubscription(), "default topic ")
			fmt.Fprintln(tw, strings.Join(append(head, g, dash(topic), "-", "-", "-", "-", "-", ckpt, age, dash(strings.Join(s.GetOpenTransactionalIds(), ","))), "\t"))
			continue
		}
		if len(s.GetSplits()) == 0 {
			fmt.Fprintln(tw, strings.Join(append(head, dash(s.GetGroupId()), dash(s.GetSubscription()), "-", "-", "-", "-", "-", ckpt, age, "-"), "\t"))
		}
		for _, sp := range s.GetSplits() {
			committed, end, lag := "-", "-", "-"
			if sp.CommittedOffset != nil {
				committed = strconv.FormatInt(sp.GetCommittedOffset(), 10)
			}
			if sp.GetEndOffset() >= 0 {
				end, lag = strconv.FormatInt(sp.GetEndOffset(), 10), strconv.FormatInt(sp.GetLag(), 10)
			}
			fmt.Fprintln(tw, strings.Join(append(head, dash(s.GetGroupId()), sp.GetTopic(), strconv.Itoa(int(sp.GetPartition())),
				strconv.FormatInt(sp.GetCurrentOffset(), 10), committed, end, lag, ckpt, age, "-"), "\t"))
		}
		if s.GetError() != "" {
			fmt.Fprintf(tw, "%s\t(offsets: %s)\n", s.GetSessionId(), s.GetError())
		}
	}
	return tw.Flush()
}

// bearerToken sends $FERRY_TOKEN with every call.
type bearerToken struct {
	token  string
	secure bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only so that a token reaches a ferry on
// loopback without TLS in development; ferry refuses tokens in clear text on
// other addresses anyway.
func (b bearerToken) RequireTransportSecurity() bool { return b.secure }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var errNoCommand = errors.New(`the commands are "serve", "sessions" and "hash-token"`)
