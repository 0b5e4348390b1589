package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

const mib = 1 << 20

func TestMemoryBudgetAdmitsWhatFitsAndNamesWhatIsInUse(t *testing.T) {
	r := NewRegistry(Limits{MemoryBudget: 512 * mib})
	var releases []func()
	for i := 0; i < 7; i++ {
		_, rel, err := r.Acquire(Claim{Kind: "source", Bytes: 64 * mib})
		if err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
		releases = append(releases, rel)
	}
	_, rel, err := r.Acquire(Claim{Kind: "sink", Bytes: 32 * mib})
	if err != nil {
		t.Fatal(err)
	}
	releases = append(releases, rel)
	_, _, err = r.Acquire(Claim{Kind: "source", Bytes: 64 * mib})
	var be *BudgetError
	if !errors.Is(err, ErrMemoryBudget) || !errors.As(err, &be) {
		t.Fatalf("over the budget: %v, want a *BudgetError", err)
	}
	want := "memory budget 512 MiB: 480 MiB in use by 8 sessions, this session needs 64 MiB (its prefetch.max.bytes)"
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Fatalf("error = %q, want it to start with %q", got, want)
	}
	if r.Len() != 8 {
		t.Fatalf("a refused open holds a slot: Len = %d", r.Len())
	}
	// A sink that fits is still admitted; then nothing more.
	if _, _, err := r.Acquire(Claim{Kind: "sink", Bytes: 32 * mib}); err != nil {
		t.Fatalf("a sink that fits: %v", err)
	}
	_, _, err = r.Acquire(Claim{Kind: "sink", Bytes: 1})
	if !errors.As(err, &be) || be.Property != "buffer.memory" || be.InUse != 512*mib || be.Sessions != 9 {
		t.Fatalf("full budget: %#v", err)
	}
	releases[0]()
	releases[0]()
	if u := r.Usage(); u.MemoryInUse != 448*mib || u.Sessions != 8 || u.MemoryBudget != 512*mib {
		t.Fatalf("usage after one release (twice) = %+v", u)
	}
	if _, _, err := r.Acquire(Claim{Kind: "source", Bytes: 64 * mib}); err != nil {
		t.Fatalf("the released memory is not admitted again: %v", err)
	}
}

func TestSessionLargerThanTheBudgetIsRefused(t *testing.T) {
	r := NewRegistry(Limits{MemoryBudget: 16 * mib})
	if _, _, err := r.Acquire(Claim{Kind: "source", Bytes: 64 * mib}); !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("err = %v", err)
	}
	if u := r.Usage(); u != (Usage{MemoryBudget: 16 * mib}) {
		t.Fatalf("usage = %+v, want nothing held", u)
	}
}

func TestSessionsPerOwnerAreBounded(t *testing.T) {
	r := NewRegistry(Limits{MaxPerOwner: 2})
	alice, bob := Owner(`principal "alice"`), Owner(`principal "bob"`)
	_, relA, err := r.Acquire(Claim{Kind: "source", Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Acquire(Claim{Kind: "sink", Owner: alice}); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Acquire(Claim{Kind: "sink", Owner: alice})
	if !errors.Is(err, ErrTooManySessions) || !strings.Contains(err.Error(), `principal "alice" has 2 open sessions`) {
		t.Fatalf("alice's third: %v", err)
	}
	if _, _, err := r.Acquire(Claim{Kind: "source", Owner: bob}); err != nil {
		t.Fatalf("bob is limited by alice: %v", err)
	}
	for i := 0; i < 5; i++ { // no owner: no per-owner limit
		if _, _, err := r.Acquire(Claim{Kind: "source"}); err != nil {
			t.Fatal(err)
		}
	}
	relA()
	if _, _, err := r.Acquire(Claim{Kind: "source", Owner: alice}); err != nil {
		t.Fatalf("alice after a release: %v", err)
	}
}

// TestRegistryUnderConcurrentOpens checks, under -race, that the limits hold
// when many sessions open and close at once.
func TestRegistryUnderConcurrentOpens(t *testing.T) {
	r := NewRegistry(Limits{MaxSessions: 50, MaxPerOwner: 10, MemoryBudget: 40 * mib})
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, rel, err := r.Acquire(Claim{Kind: "source", Owner: Owner(fmt.Sprint(i % 7)), Bytes: mib})
			if err != nil {
				return
			}
			if u := r.Usage(); u.MemoryInUse > 40*mib || u.Sessions > 50 {
				t.Errorf("over the limits: %+v", u)
			}
			rel()
		}(i)
	}
	wg.Wait()
	if u := r.Usage(); u.Sessions != 0 || u.MemoryInUse != 0 {
		t.Fatalf("after every release: %+v", u)
	}
}

func TestSessionMemoryComesFromTheProperties(t *testing.T) {
	parse := func(role kafkaconf.Role, props map[string]string) *kafkaconf.Settings {
		s, err := kafkaconf.Parse(role, props, kafkaconf.Files{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		got, want int64
	}{
		{SourceMemory(nil), kafkaconf.DefaultPrefetchMaxBytes},
		{SourceMemory(parse(kafkaconf.Consumer, nil)), kafkaconf.DefaultPrefetchMaxBytes},
		{SourceMemory(parse(kafkaconf.Consumer, map[string]string{"prefetch.max.bytes": "1048576"})), mib},
		{SinkMemory(nil), kafkaconf.DefaultBufferMemory},
		{SinkMemory(parse(kafkaconf.Producer, nil)), kafkaconf.DefaultBufferMemory},
		{SinkMemory(parse(kafkaconf.Producer, map[string]string{"buffer.memory": "2097152"})), 2 * mib},
	} {
		if tc.got != tc.want {
			t.Errorf("memory = %d, want %d", tc.got, tc.want)
		}
	}
}

func TestOwnerTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	if OwnerOf(ctx) != "" {
		t.Fatal("an owner without WithOwner")
	}
	if got := OwnerOf(WithOwner(ctx, "connection 127.0.0.1:1")); got != "connection 127.0.0.1:1" {
		t.Fatalf("OwnerOf = %q", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 100: "100 B", 64 << 10: "64 KiB", 512 * mib: "512 MiB", 1536 * mib: "1.5 GiB", mib + 1: "1.0 MiB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
