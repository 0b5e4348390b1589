package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server/authn"
)

func TestExposureIsLoopbackOnlyWithoutTLSAndAuth(t *testing.T) {
	for _, tc := range []struct {
		listen   string
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:50051", false, true},
		{"[::1]:50051", false, true},
		{"localhost:0", false, true},
		{"0.0.0.0:50051", false, false},
		{":50051", false, false},
		{"10.1.2.3:50051", false, false},
		{"0.0.0.0:50051", true, true},
	} {
		var logs lockedBuffer
		err := checkExposure(tc.listen, nil, tc.insecure, slog.New(slog.NewTextHandler(&logs, nil)))
		if (err == nil) != tc.ok {
			t.Errorf("%s insecure=%v: %v", tc.listen, tc.insecure, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("%s: the refusal does not say how to accept the risk: %v", tc.listen, err)
		}
		if tc.insecure && !strings.Contains(logs.String(), "INSECURE") {
			t.Errorf("%s with --insecure: no loud log line: %q", tc.listen, logs.String())
		}
	}
	// Tokens without TLS on a public address are refused too: they would
	// cross the network in clear.
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	writeConfigFile(t, tokens, "team-a "+authn.HashToken("t")+"\n")
	a, err := authn.New(authn.Config{TokensFile: tokens}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := checkExposure("0.0.0.0:50051", a, false, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("tokens without TLS on 0.0.0.0 were accepted")
	}
}

func writeConfigFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, json, says string
	}{
		{"unknown field", `{"listn": "x"}`, `unknown field "listn"`},
		{"bad pattern", `{"principals": {"a": {"read_topics": ["a*b*"]}}}`, "principals.a.read_topics[0]"},
		{"bad regex", `{"principals": {"a": {"groups": ["/a[/"]}}}`, "principals.a.groups[0]"},
		{"identity of an unknown principal", `{"clusters": {"k": {"bootstrap_servers": ["127.0.0.1:9092"], "principal_properties": {"ghost": {}}}}}`, `principal "ghost"`},
		{"relative file dir", `{"allow_file_dirs": ["certs"]}`, "allow_file_dirs"},
		{"cluster without port", `{"clusters": {"k": {"bootstrap_servers": ["host"]}}}`, "clusters.k.bootstrap_servers"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
		writeConfigFile(t, path, tc.json)
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
	path := filepath.Join(dir, "noauth.json")
	writeConfigFile(t, path, `{"principals": {"a": {"admin": true}}}`)
	err := run([]string{"serve", "--config", path, "--listen", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "principals need an authentication method") {
		t.Errorf("principals without authentication: %v", err)
	}
}

func TestHashTokenPrintsTheTokensFileHash(t *testing.T) {
	var out strings.Builder
	if err := hashToken(strings.NewReader("s3cret\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != authn.HashToken("s3cret") || strings.Contains(got, "s3cret") {
		t.Fatalf("hash-token printed %q", got)
	}
	if err := hashToken(strings.NewReader("\n"), &out); err == nil {
		t.Fatal("an empty token was hashed")
	}
}

type bearerCreds string

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearerCreds) RequireTransportSecurity() bool { return false }

// TestConfigFileReloadsThePolicy serves with a config file (tokens, one
// principal, the embedded broker), then rewrites the file: a valid change
// applies to the next open, a broken file keeps the policy in force and
// logs why.
func TestConfigFileReloadsThePolicy(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	writeConfigFile(t, tokens, "team-a "+authn.HashToken("tok-a")+"\n")
	config := filepath.Join(dir, "ferry.json")
	policyWith := func(read string) string {
		return fmt.Sprintf(`{"tokens_file": %q, "health_public": true,
 "principals": {"team-a": {"clusters": ["default"], "read_topics": [%s]}}}`, tokens, read)
	}
	writeConfigFile(t, config, policyWith(`"demo"`))
	addrFile := filepath.Join(dir, "addr")
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"serve", "--config", config, "--listen", "127.0.0.1:0", "--addr-file", addrFile}, &stdout, &stderr)
	}()
	defer func() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("ferry did not stop")
		}
	}()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no address; stderr:\n%s", stderr.String())
		}
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			addr = strings.TrimSpace(string(b))
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearerCreds("tok-a")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// open answers opened (allowed) or fails with a status (denied).
	open := func() codes.Code {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := ferryv1.NewSourceServiceClient(conn).Read(ctx)
		if err == nil {
			err = stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
				Topics: &ferryv1.TopicList{Topics: []string{"demo"}}, Boundedness: ferryv1.Boundedness_BOUNDEDNESS_BOUNDED}}}})
		}
		if err == nil {
			_, err = stream.Recv()
		}
		if errors.Is(err, io.EOF) {
			return codes.OK
		}
		return status.Code(err)
	}
	waitFor := func(want codes.Code) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got := open()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("open: %v, want %v; stderr:\n%s", got, want, stderr.String())
			}
		}
	}
	waitFor(codes.OK)
	writeConfigFile(t, config, `{"principals": `) // broken
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "config file reload failed"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", stderr.String())
		}
	}
	if got := open(); got != codes.OK {
		t.Fatalf("after a broken reload: %v, want the old policy (OK)", got)
	}
	writeConfigFile(t, config, policyWith(`"other"`))
	waitFor(codes.PermissionDenied)
}

// TestSessionsCommandAndJSONLogs serves on the embedded broker with JSON
// logs, opens a source session, and checks that `ferry sessions` lists it
// with its split and that the session's log lines carry its id.
func TestSessionsCommandAndJSONLogs(t *testing.T) {
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile, "--log-format", "json"}, &stdout, &stderr)
	}()
	defer func() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("ferry did not stop")
		}
	}()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no address; stderr:\n%s", stderr.String())
		}
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			addr = strings.TrimSpace(string(b))
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := ferryv1.NewSourceServiceClient(conn).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ferryv1.ReadRequest{Kind: &ferryv1.ReadRequest_Open{Open: &ferryv1.OpenSource{Spec: &ferryv1.SourceSpec{
		Topics: &ferryv1.TopicList{Topics: []string{"demo"}}, GroupId: "cli-group"}}}}); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetOpened().GetSessionId()
	var out strings.Builder
	if err := listSessions([]string{"--addr", addr}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{"SESSION", "LAG", id, "source", "default", "cli-group", "demo"} {
		if !strings.Contains(table, want) {
			t.Errorf("ferry sessions lacks %q:\n%s", want, table)
		}
	}
	if n := strings.Count(table, id); n != 3 {
		t.Errorf("ferry sessions shows %d lines of %s, want one per split of demo (3):\n%s", n, id, table)
	}
	_ = stream.CloseSend()
	cancel()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), `"session":"`+id+`"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no JSON log line carries the session id %s:\n%s", id, stderr.String())
		}
	}
}
