// Command ferry serves the ferry.v1 API: Apache Flink's Kafka connector
// semantics over gRPC.
//
//	ferry serve [flags]
//
// With no --kafka flag, ferry starts an embedded Kafka-compatible broker
// (franz-go's kfake, in memory) so that it works with nothing else installed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/server/authn"
	"github.com/ferrykafka/ferry/server/policy"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
}

const usage = `Usage: ferry serve [flags]
       ferry sessions [--addr host:port] [--ca-file ca.pem]   (lists live sessions; $FERRY_TOKEN)
       ferry hash-token < token   (prints the line of a tokens file's hash)

Serves the ferry.v1 API (SourceService, SinkService), grpc.health.v1.Health
and server reflection. Flags:
`

// clusterFlags collects repeated --cluster NAME=host:port,... flags.
type clusterFlags map[string]connector.Cluster

func (c clusterFlags) String() string { return "" }

func (c clusterFlags) Set(v string) error {
	name, hosts, ok := strings.Cut(v, "=")
	if !ok || name == "" || hosts == "" {
		return fmt.Errorf("want NAME=host:port[,host:port...], got %q", v)
	}
	cl := connector.Cluster{BootstrapServers: strings.Split(hosts, ",")}
	if err := cl.Validate("--cluster " + name); err != nil {
		return err
	}
	c[name] = cl
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		_, err := fmt.Fprintln(stdout, "ferry", version())
		return err
	}
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) > 0 && args[0] == "hash-token" {
		return hashToken(os.Stdin, stdout)
	}
	if len(args) > 0 && args[0] == "sessions" {
		return listSessions(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprint(stderr, usage)
		return errNoCommand
	}
	fs := flag.NewFlagSet("ferry serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	configPath := fs.String("config", "", "the operator's config file (JSON): listener, TLS, authentication, clusters with credentials, principals' rights; flags override it")
	listen := fs.String("listen", "127.0.0.1:50051", "address to serve gRPC on (port 0 picks a free one); without TLS and authentication only a loopback address")
	insecure := fs.Bool("insecure", false, "serve a non-loopback address without TLS and authentication: every client that reaches the port may do everything (logged loudly)")
	kafka := fs.String("kafka", "", "bootstrap servers of the default Kafka cluster, host:port[,host:port...]; empty starts an embedded broker (kfake)")
	embeddedTopics := fs.String("embedded-topics", "demo:3,in:3,out:3", "topics the embedded broker starts with, name:partitions[,name:partitions...] (in and out are the client READMEs' examples')")
	clusters := clusterFlags{}
	fs.Var(clusters, "cluster", "an extra named cluster, NAME=host:port[,host:port...]; repeatable")
	var allowBootstrap, allowFileDirs listFlag
	fs.Var(&allowBootstrap, "allow-bootstrap", "a Kafka address clients may name in cluster.bootstrap_servers, host:port or host:*; repeatable (default: none, clients name configured clusters)")
	fs.Var(&allowFileDirs, "allow-file-dir", "an absolute directory whose files clients' properties may name (ssl.truststore.location, ...); repeatable (default: none)")
	limits := addLimitFlags(fs)
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for sessions to end")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text (key=value) or json (one object per line)")
	addrFile := fs.String("addr-file", "", "write the address ferry listens on to this file once it serves")
	metricsListen := fs.String("metrics-listen", "", "serve the metrics as Prometheus text on http://ADDR/metrics (empty: not served; OTEL_EXPORTER_OTLP_ENDPOINT exports them over OTLP)")
	pprofListen := fs.String("pprof-listen", "", "serve Go's profiling endpoints (net/http/pprof) on http://ADDR/debug/pprof/, for diagnosis; a loopback address only (empty: not served)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // --help printed the flags: not an error
		}
		return err
	}
	var err error
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	case "json":
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	default:
		return fmt.Errorf("--log-format: want text or json, got %q", *logFormat)
	}
	log := slog.New(handler)

	fc := &fileConfig{}
	if *configPath != "" {
		if fc, err = loadConfig(*configPath); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fc.Listen != "" && !set["listen"] {
		*listen = fc.Listen
	}
	*insecure = *insecure || fc.Insecure
	for name, cl := range fc.clusters() {
		if _, ok := clusters[name]; !ok {
			clusters[name] = cl
		}
	}
	allowBootstrap = append(allowBootstrap, fc.AllowBootstrap...)
	allowFileDirs = append(allowFileDirs, fc.AllowFileDirs...)

	def := clusters["default"]
	def.Name = "default"
	if *kafka != "" || len(def.BootstrapServers) == 0 {
		def.BootstrapServers = splitList(*kafka)
	}
	if len(def.BootstrapServers) == 0 {
		fake, err := embeddedBroker(*embeddedTopics)
		if err != nil {
			return err
		}
		defer fake.Close()
		def.BootstrapServers = fake.ListenAddrs()
		log.Info("embedded Kafka-compatible broker (kfake, in memory) started; use --kafka to point at a real cluster",
			"bootstrap", strings.Join(def.BootstrapServers, ","), "topics", *embeddedTopics)
	} else if err := def.Validate("--kafka"); err != nil {
		return err
	}
	clusters["default"] = def

	for _, d := range allowFileDirs {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("--allow-file-dir %q: must be an absolute path", d)
		}
	}
	var skip func(string) bool
	if fc.HealthPublic {
		skip = authn.SkipServices("grpc.health.v1.Health")
	}
	var auth *authn.Authenticator
	var pol *policy.Policy
	if ac := fc.authn(skip); ac.TLS.CertFile != "" || ac.TokensFile != "" || ac.JWT.JWKSFile != "" {
		if auth, err = authn.New(ac, log); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		defer auth.Close()
		if auth.Enabled() {
			pol, _ = fc.policy() // checked by loadConfig
		}
	}
	if pol == nil && len(fc.Principals) > 0 {
		return errors.New("--config: principals need an authentication method (tls.client_ca_file, tokens_file or jwt)")
	}
	if err := checkExposure(*listen, auth, *insecure, log); err != nil {
		return err
	}
	tel, stopTelemetry, err := startTelemetry(*metricsListen, log)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	stopPprof, err := startPprof(*pprofListen, log)
	if err != nil {
		return err
	}
	defer stopPprof()
	cfg := server.Config{Clusters: clusters, Logger: log, Telemetry: tel,
		AllowedBootstrap: allowBootstrap, AllowedFileDirs: allowFileDirs, Authenticator: auth, Policy: pol}
	if err := limits.apply(&cfg, set, fc.Limits); err != nil {
		return err
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	chooseGC(srv.Usage().MemoryBudget, os.Getenv).apply(log)
	if *configPath != "" && pol != nil {
		stop := watchPolicy(*configPath, srv, log)
		defer stop()
	}
	// Catch signals before announcing the address, so that whoever reads it
	// can stop ferry gracefully at once.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	addr := lis.Addr().String()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(addr+"\n"), 0o644); err != nil {
			return fmt.Errorf("--addr-file: %w", err)
		}
	}
	fmt.Fprintf(stdout, "ferry serving on %s (Kafka: %s)\n", addr, strings.Join(def.BootstrapServers, ","))
	if *kafka == "" {
		fmt.Fprint(stdout, quickStart(addr))
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "timeout", *shutdownTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		<-errc
		return nil
	}
}

// listFlag collects a repeated flag; each value may also list several,
// separated by commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func embeddedBroker(topics string) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}
	for _, t := range splitList(topics) {
		name, parts, ok := strings.Cut(t, ":")
		n := 1
		if ok {
			if _, err := fmt.Sscanf(parts, "%d", &n); err != nil || n < 1 {
				return nil, fmt.Errorf("--embedded-topics: bad partition count in %q", t)
			}
		}
		opts = append(opts, kfake.SeedTopics(int32(n), name))
	}
	return kfake.NewCluster(opts...)
}

// quickStart prints ready-to-paste grpcurl commands for the embedded broker.
func quickStart(addr string) string {
	return fmt.Sprintf(`
Write a record (key "k1", value "hello") to topic demo:
  grpcurl -plaintext -d @ %[1]s ferry.v1.SinkService/Write <<'EOF'
{"open": {"spec": {"defaultTopic": "demo"}}}
{"records": {"sequence": 1, "records": [{"key": "azE=", "value": "aGVsbG8="}]}}
{"close": {}}
EOF

Read topic demo from the start, bounded:
  grpcurl -plaintext -d '{"open": {"spec": {"topics": {"topics": ["demo"]}, "boundedness": "BOUNDEDNESS_BOUNDED"}}}' %[1]s ferry.v1.SourceService/Read

`, addr)
}

// hashToken reads a bearer token from in (one line) and prints its hash as
// a tokens file stores it, so that the token itself is never written down.
func hashToken(in io.Reader, out io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(in, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return errors.New("hash-token: give the token on standard input")
	}
	_, err = fmt.Fprintln(out, authn.HashToken(tok))
	return err
}

// buildVersion is set by `make build` (-ldflags -X main.buildVersion=...)
// from `git describe`.
var buildVersion string

// version is what make build stamped, else the module version ferry was
// built from (go install ...@vX.Y.Z), else the VCS revision of the
// checkout, else "devel".
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, st := range info.Settings {
		switch st.Key {
		case "vcs.revision":
			rev = st.Value
		case "vcs.modified":
			dirty = st.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel " + rev
}
