package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrykafka/ferry/server"
)

// limitsFrom parses args and a config file's limits section as run does.
func limitsFrom(t *testing.T, args []string, file string) (server.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := addLimitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, err
	}
	var fc fileConfig
	if file != "" {
		if err := json.Unmarshal([]byte(file), &fc); err != nil {
			return server.Config{}, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var cfg server.Config
	err := l.apply(&cfg, set, fc.Limits)
	return cfg, err
}

func TestLimitDefaultsFlagsAndFile(t *testing.T) {
	cfg, err := limitsFrom(t, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{MaxSessions: server.DefaultMaxSessions, MaxSessionsPerPrincipal: server.DefaultMaxSessionsPerPrincipal,
		MemoryBudget: server.DefaultMemoryBudget, MaxPendingStreams: server.DefaultMaxPendingStreams,
		MaxConcurrentStreams: server.DefaultMaxConcurrentStreams, OpenTimeout: server.DefaultOpenTimeout,
		KeepaliveTime: server.DefaultKeepaliveTime, KeepaliveTimeout: server.DefaultKeepaliveTimeout,
		MaxConnections: server.DefaultMaxConnections, MaxConnectionIdle: server.DefaultMaxConnectionIdle}
	if !equalLimits(cfg, want) {
		t.Fatalf("defaults: %+v", cfg)
	}
	if server.DefaultKeepaliveTime+server.DefaultKeepaliveTimeout > 30*time.Second {
		t.Fatal("a vanished client must lose its sessions within 30 s by default")
	}

	file := `{"limits": {"max_sessions": 10, "max_sessions_per_principal": 3, "memory_budget": "1.5GiB", "max_pending_streams": 7,
		"max_streams_per_connection": 5, "open_timeout": "2s", "keepalive_time": "5s", "keepalive_timeout": "3s",
		"max_connections": 100, "max_connection_idle": "1m"}}`
	cfg, err = limitsFrom(t, []string{"--memory-budget", "64MiB", "--keepalive-time", "20s", "--max-sessions-per-principal", "4",
		"--max-connection-idle", "30s"}, file)
	if err != nil {
		t.Fatal(err)
	}
	want = server.Config{MaxSessions: 10, MaxSessionsPerPrincipal: 4, MemoryBudget: 64 << 20, MaxPendingStreams: 7,
		MaxConcurrentStreams: 5, OpenTimeout: 2 * time.Second, KeepaliveTime: 20 * time.Second, KeepaliveTimeout: 3 * time.Second,
		MaxConnections: 100, MaxConnectionIdle: 30 * time.Second}
	if !equalLimits(cfg, want) {
		t.Fatalf("flags over file: %+v", cfg)
	}
	if cfg, err = limitsFrom(t, nil, `{"limits": {"memory_budget": 1048576}}`); err != nil || cfg.MemoryBudget != 1<<20 {
		t.Fatalf("a plain number of bytes: %v %d", err, cfg.MemoryBudget)
	}
}

func TestBadLimitsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{[]string{"--memory-budget", "lots"}, "", "512MiB"},
		{[]string{"--memory-budget", "-1MiB"}, "", "want bytes"},
		{[]string{"--max-pending-streams", "-1"}, "", "--max-pending-streams (limits.max_pending_streams): must not be negative"},
		{nil, `{"limits": {"open_timeout": "-1s"}}`, "--open-timeout (limits.open_timeout): must not be negative"},
		{nil, `{"limits": {"keepalive_time": 15}}`, `want a duration such as "15s"`},
		{nil, `{"limits": {"memory_budget": "12 parsecs"}}`, "want bytes"},
	} {
		_, err := limitsFrom(t, tc.args, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s: %v, want an error saying %q", tc.args, tc.file, err, tc.want)
		}
	}
}

// TestREADMEConfigExampleLoads keeps the README's complete config file, its
// limits included, loadable.
func TestREADMEConfigExampleLoads(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "A complete example:\n\n```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no complete config example")
	}
	path := filepath.Join(t.TempDir(), "ferry.json")
	writeConfigFile(t, path, example)
	fc, err := loadConfig(path)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if fc.Limits.MemoryBudget != 2<<30 || fc.Limits.MaxSessionsPerPrincipal != 32 || time.Duration(fc.Limits.KeepaliveTime) != 15*time.Second {
		t.Fatalf("the example's limits: %+v", fc.Limits)
	}
}

func equalLimits(a, b server.Config) bool {
	return a.MaxSessions == b.MaxSessions && a.MaxSessionsPerPrincipal == b.MaxSessionsPerPrincipal && a.MemoryBudget == b.MemoryBudget &&
		a.MaxPendingStreams == b.MaxPendingStreams && a.MaxConcurrentStreams == b.MaxConcurrentStreams &&
		a.OpenTimeout == b.OpenTimeout && a.KeepaliveTime == b.KeepaliveTime && a.KeepaliveTimeout == b.KeepaliveTimeout &&
		a.MaxConnections == b.MaxConnections && a.MaxConnectionIdle == b.MaxConnectionIdle
}
