package sessions

import (
	"errors"
	"testing"

	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

func TestRegistryBoundsAndReleases(t *testing.T) {
	r := NewRegistry(Limits{MaxSessions: 2})
	id1, rel1, err := r.Acquire(Claim{Kind: "source"})
	if err != nil {
		t.Fatal(err)
	}
	id2, _, err := r.Acquire(Claim{Kind: "sink"})
	if err != nil || id1 == id2 {
		t.Fatalf("second acquire: %v %q %q", err, id1, id2)
	}
	if _, _, err := r.Acquire(Claim{Kind: "sink"}); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third acquire: %v, want ErrTooManySessions", err)
	}
	rel1()
	rel1() // releasing twice is harmless
	if r.Len() != 1 {
		t.Fatalf("Len = %d after release, want 1", r.Len())
	}
	if _, _, err := r.Acquire(Claim{Kind: "source"}); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

func TestCheckpointIdsMustIncrease(t *testing.T) {
	var c Checkpoints
	if c.Taken(1) {
		t.Fatal("nothing taken yet")
	}
	for _, id := range []int64{-3, 0, 7} {
		if err := c.Begin(id); err != nil {
			t.Fatalf("Begin(%d): %v", id, err)
		}
	}
	var oe *OrderError
	if err := c.Begin(7); !errors.As(err, &oe) {
		t.Fatalf("Begin(7) after 7: %v, want OrderError", err)
	}
	if err := c.Begin(6); err == nil {
		t.Fatal("Begin(6) after 7 succeeded")
	}
	if !c.Taken(0) || !c.Taken(7) || c.Taken(8) {
		t.Error("Taken is wrong")
	}
}

func TestClientIDs(t *testing.T) {
	parse := func(props map[string]string) *kafkaconf.Settings {
		s, err := kafkaconf.Parse(kafkaconf.Consumer, props, kafkaconf.Files{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		s    *kafkaconf.Settings
		want string
	}{
		{nil, "ferry-source-1"},
		{parse(nil), "ferry-source-1"},
		{parse(map[string]string{"client.id.prefix": "orders-etl"}), "orders-etl-source-1"},
		{parse(map[string]string{"client.id": "exact", "client.id.prefix": "ignored"}), "exact"},
	} {
		if got := clientID(tc.s, "source-1"); got != tc.want {
			t.Errorf("clientID = %q, want %q", got, tc.want)
		}
	}
}
