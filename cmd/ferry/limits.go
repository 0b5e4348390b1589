package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/sessions"
)

// limitFlags are the flags of what clients may hold on the server (see
// server.Config, whose defaults they show); each overrides the same field of
// the config file's "limits" (flag --a-b is field a_b).
type limitFlags struct {
	maxSessions, perPrincipal, pending, perConnection, connections int
	budget                                                         byteSize
	openTimeout, keepaliveTime, keepaliveTimeout, connectionIdle   time.Duration
}

func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	l := &limitFlags{budget: server.DefaultMemoryBudget}
	fs.IntVar(&l.maxSessions, "max-sessions", server.DefaultMaxSessions, "open sessions at most; more are refused with RESOURCE_EXHAUSTED")
	fs.IntVar(&l.perPrincipal, "max-sessions-per-principal", server.DefaultMaxSessionsPerPrincipal,
		"open sessions of one principal (of one connection without authentication) at most; more are refused with RESOURCE_EXHAUSTED")
	fs.Var(&l.budget, "memory-budget",
		"memory all sessions may reserve together (a source its prefetch.max.bytes, a sink its buffer.memory), bytes or with KiB, MiB, GiB; an open beyond it is refused with RESOURCE_EXHAUSTED")
	fs.IntVar(&l.pending, "max-pending-streams", server.DefaultMaxPendingStreams,
		"streams that have not sent open yet, at most; more are refused at once with RESOURCE_EXHAUSTED")
	fs.IntVar(&l.perConnection, "max-streams-per-connection", server.DefaultMaxConcurrentStreams,
		"concurrent streams of one client connection (HTTP/2 MAX_CONCURRENT_STREAMS); more wait in the client")
	fs.IntVar(&l.connections, "max-connections", server.DefaultMaxConnections,
		"client connections the server holds; a connection beyond them is closed at once (the client sees UNAVAILABLE)")
	fs.DurationVar(&l.connectionIdle, "max-connection-idle", server.DefaultMaxConnectionIdle,
		"close a connection that has had no stream for this long (GOAWAY; gRPC clients reconnect when they need it)")
	fs.DurationVar(&l.openTimeout, "open-timeout", server.DefaultOpenTimeout, "how long a stream may take to send open (later it ends with DEADLINE_EXCEEDED), and a connection its TLS and HTTP/2 handshake")
	fs.DurationVar(&l.keepaliveTime, "keepalive-time", server.DefaultKeepaliveTime,
		"ping a connection silent for this long (at least 1s); with --keepalive-timeout, the bound within which a vanished client loses its sessions")
	fs.DurationVar(&l.keepaliveTimeout, "keepalive-timeout", server.DefaultKeepaliveTimeout, "close a connection that does not answer a ping within this")
	return l
}

// apply sets the limits of cfg: a flag given on the command line wins, else
// a field set in the file, else the flag's default. Negative values are
// refused.
func (l *limitFlags) apply(cfg *server.Config, set map[string]bool, file limitsConfig) error {
	var err error
	ints := []struct {
		name      string
		flag, out *int
		file      int
	}{
		{"max-sessions", &l.maxSessions, &cfg.MaxSessions, file.MaxSessions},
		{"max-sessions-per-principal", &l.perPrincipal, &cfg.MaxSessionsPerPrincipal, file.MaxSessionsPerPrincipal},
		{"max-pending-streams", &l.pending, &cfg.MaxPendingStreams, file.MaxPendingStreams},
		{"max-streams-per-connection", &l.perConnection, &cfg.MaxConcurrentStreams, file.MaxStreamsPerConnection},
		{"max-connections", &l.connections, &cfg.MaxConnections, file.MaxConnections},
	}
	for _, v := range ints {
		if *v.out, err = pick(set, v.name, *v.flag, v.file); err != nil {
			return err
		}
	}
	durations := []struct {
		name      string
		flag, out *time.Duration
		file      jsonDuration
	}{
		{"open-timeout", &l.openTimeout, &cfg.OpenTimeout, file.OpenTimeout},
		{"keepalive-time", &l.keepaliveTime, &cfg.KeepaliveTime, file.KeepaliveTime},
		{"keepalive-timeout", &l.keepaliveTimeout, &cfg.KeepaliveTimeout, file.KeepaliveTimeout},
		{"max-connection-idle", &l.connectionIdle, &cfg.MaxConnectionIdle, file.MaxConnectionIdle},
	}
	for _, v := range durations {
		if *v.out, err = pick(set, v.name, *v.flag, time.Duration(v.file)); err != nil {
			return err
		}
	}
	budget, err := pick(set, "memory-budget", l.budget, file.MemoryBudget)
	cfg.MemoryBudget = int64(budget)
	return err
}

// pick is the flag's value when it was given, else the file's when set, else
// the flag's default; a negative value is an error naming both places.
func pick[T int | time.Duration | byteSize](set map[string]bool, name string, flagV, fileV T) (T, error) {
	v := flagV
	if !set[name] && fileV != 0 {
		v = fileV
	}
	if v < 0 {
		return 0, fmt.Errorf("--%s (limits.%s): must not be negative", name, strings.ReplaceAll(name, "-", "_"))
	}
	return v, nil
}

// limitsConfig is the "limits" section of the config file; every field
// has a flag of the same name that overrides it, and 0 (absent) keeps the
// flag's default.
type limitsConfig struct {
	MaxSessions             int          `json:"max_sessions"`
	MaxSessionsPerPrincipal int          `json:"max_sessions_per_principal"`
	MemoryBudget            byteSize     `json:"memory_budget"`
	MaxPendingStreams       int          `json:"max_pending_streams"`
	MaxStreamsPerConnection int          `json:"max_streams_per_connection"`
	MaxConnections          int          `json:"max_connections"`
	MaxConnectionIdle       jsonDuration `json:"max_connection_idle"`
	OpenTimeout             jsonDuration `json:"open_timeout"`
	KeepaliveTime           jsonDuration `json:"keepalive_time"`
	KeepaliveTimeout        jsonDuration `json:"keepalive_timeout"`
}

// byteSize is a number of bytes, written as an integer or with a binary
// unit: 536870912, "512MiB", "1.5GiB".
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      float64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b byteSize) String() string { return sessions.FormatBytes(int64(b)) }

func (b *byteSize) Set(given string) error {
	s, unit := strings.TrimSpace(given), 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, unit = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*unit > 1<<62 {
		return fmt.Errorf("want bytes, as 536870912 or 512MiB (units KiB, MiB, GiB, TiB), got %q", given)
	}
	*b = byteSize(f * unit)
	return nil
}

func (b *byteSize) UnmarshalJSON(raw []byte) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw) // a plain number
	}
	return b.Set(s)
}

// jsonDuration is a duration written as Go writes it: "15s", "1m30s".
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(raw []byte) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("want a duration such as \"15s\", got %s", raw)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = jsonDuration(v)
	return nil
}
