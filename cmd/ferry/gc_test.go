package main

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestChooseGC(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	cases := []struct {
		name   string
		budget int64
		vars   map[string]string
		want   gcSettings
	}{
		{"defaults", 1 << 30, nil, gcSettings{Percent: 400, Limit: 2<<30 + 256<<20}},
		{"small budget keeps the headroom", 1 << 20, nil, gcSettings{Percent: 400, Limit: 2<<20 + 256<<20}},
		{"GOGC from the environment", 1 << 30, map[string]string{"GOGC": "100"}, gcSettings{Limit: 2<<30 + 256<<20}},
		{"GOGC=off from the environment", 1 << 30, map[string]string{"GOGC": "off"}, gcSettings{Limit: 2<<30 + 256<<20}},
		{"GOMEMLIMIT from the environment", 1 << 30, map[string]string{"GOMEMLIMIT": "3GiB"}, gcSettings{Percent: 400}},
		{"both from the environment", 1 << 30, map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, gcSettings{}},
		{"a budget too large to double", math.MaxInt64 / 2, nil, gcSettings{Percent: 400, Limit: math.MaxInt64}},
	}
	for _, c := range cases {
		if got := chooseGC(c.budget, env(c.vars)); got != c.want {
			t.Errorf("%s: chooseGC(%d) = %+v, want %+v", c.name, c.budget, got, c.want)
		}
	}
}

func TestGCSettingsApply(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })

	var logged bytes.Buffer
	gcSettings{Percent: 400, Limit: 3 << 30}.apply(slog.New(slog.NewTextHandler(&logged, nil)))
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("GOGC after apply = %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("memory limit after apply = %d, want %d", got, int64(3<<30))
	}
	if line := logged.String(); !strings.Contains(line, "gogc=400") || !strings.Contains(line, "memory_limit=\"3 GiB\"") {
		t.Errorf("log line %q does not name the settings", line)
	}

	// Settings kept from the environment are left alone and said so.
	logged.Reset()
	gcSettings{}.apply(slog.New(slog.NewTextHandler(&logged, nil)))
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("GOGC after applying nothing = %d, want it unchanged (400)", got)
	}
	if line := logged.String(); !strings.Contains(line, "GOGC from the environment") || !strings.Contains(line, "GOMEMLIMIT from the environment") {
		t.Errorf("log line %q does not say the environment's settings were kept", line)
	}
}
