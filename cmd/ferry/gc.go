package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"

	"github.com/ferrykafka/ferry/sessions"
)

// defaultGCPercent is the garbage collector's GOGC when the environment
// does not set one. ferry's live heap is small (a reading session holds a
// few fetch responses, ~10–20 MiB) while it allocates a fetch response per
// request from franz-go (a 1 GB read allocates about 1 GB), so with Go's
// GOGC=100 it collects every few fetches and keeps zeroing, returning and
// faulting the same memory back in. At 400 a read costs ferry about a
// third less CPU (make bench: CPU-seconds per GB of ferry's process, 1.4–1.6
// → 1.0–1.1) for more resident memory (make bench's peak: 194 MiB instead
// of 101 MiB reading, 546 MiB instead of 197 MiB writing); the memory limit
// below keeps the heap at full budget where GOGC=100 would have put it.
const defaultGCPercent = 400

// gcHeadroom is what the memory limit adds to twice the sessions' memory
// budget for everything that is not a session's buffer: the Go runtime,
// gRPC's connection buffers, franz-go's metadata, telemetry.
const gcHeadroom = 256 << 20

// gcSettings are the garbage collector's settings that ferry serve applies.
type gcSettings struct {
	// Percent is GOGC: the heap may grow by this percentage of the live
	// heap before a collection; 0 when the environment's GOGC is kept.
	Percent int
	// Limit is the soft memory limit in bytes (GOMEMLIMIT): the collector
	// runs sooner as the heap nears it; 0 when the environment's
	// GOMEMLIMIT is kept.
	Limit int64
}

// chooseGC returns the settings for a server whose sessions may reserve
// budget bytes together: defaultGCPercent unless GOGC is set, and a memory
// limit of twice the budget plus gcHeadroom unless GOMEMLIMIT is set.
// Twice the budget is where GOGC=100 puts the heap when the whole budget is
// live, so with the limit a full server uses no more memory than with Go's
// default, and collects no more often: the limit is reached only when the
// live heap is at least half of it. getenv is os.Getenv.
func chooseGC(budget int64, getenv func(string) string) gcSettings {
	var s gcSettings
	if getenv("GOGC") == "" {
		s.Percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		if budget > (math.MaxInt64-gcHeadroom)/2 {
			s.Limit = math.MaxInt64
		} else {
			s.Limit = 2*budget + gcHeadroom
		}
	}
	return s
}

// apply sets the runtime's garbage collector to s and logs what ferry
// chose and what it kept from the environment.
func (s gcSettings) apply(log *slog.Logger) {
	if s.Percent != 0 {
		debug.SetGCPercent(s.Percent)
	}
	if s.Limit != 0 {
		debug.SetMemoryLimit(s.Limit)
	}
	percent, limit := "GOGC from the environment", "GOMEMLIMIT from the environment"
	if s.Percent != 0 {
		percent = strconv.Itoa(s.Percent)
	}
	switch {
	case s.Limit == math.MaxInt64:
		limit = "none"
	case s.Limit != 0:
		limit = sessions.FormatBytes(s.Limit)
	}
	log.Info("garbage collector", "gogc", percent, "memory_limit", limit)
}
