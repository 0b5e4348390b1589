package connector

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func meta(node int32, port int32) kgo.BrokerMetadata {
	return kgo.BrokerMetadata{NodeID: node, Host: "127.0.0.1", Port: port}
}

// A failed read marks the broker failing since its request's answer was
// due, names it with its error and the bootstrap servers, and an answer
// clears it.
func TestBrokersFailureAndRecovery(t *testing.T) {
	b := NewBrokers([]string{"127.0.0.1:9092"}, 100*time.Millisecond)
	h := brokersHook{b}
	h.OnBrokerWrite(meta(1, 9092), 1, 10, 0, 0, nil)
	time.Sleep(150 * time.Millisecond)
	failed := time.Now()
	h.OnBrokerRead(meta(1, 9092), 1, 0, 0, 0, syscall.ECONNRESET)
	now := time.Now()
	got := b.Health(now, nil)
	if !got.Failing || failed.Sub(got.Since) < 40*time.Millisecond {
		t.Fatalf("Health = %+v, want failing since the answer was due (100 ms after the write, ~50 ms before the failed read at %v)", got, failed)
	}
	for _, want := range []string{"broker 1 at 127.0.0.1:9092", syscall.ECONNRESET.Error(), "bootstrap servers 127.0.0.1:9092"} {
		if !strings.Contains(got.Reason, want) {
			t.Errorf("Reason %q lacks %q", got.Reason, want)
		}
	}
	if u := b.Unreachable(now); !strings.Contains(u, "broker 1 at 127.0.0.1:9092") {
		t.Errorf("Unreachable = %q, want the broker named", u)
	}
	h.OnBrokerRead(meta(1, 9092), 1, 10, 0, 0, nil)
	if got := b.Health(time.Now(), nil); got.Failing {
		t.Fatalf("Health after an answer = %+v, want not failing", got)
	}
}

// A request that waits longer than it may is a failure before franz-go's
// read times out; the disconnect of its connection forgets it.
func TestBrokersUnansweredRequest(t *testing.T) {
	b := NewBrokers([]string{"127.0.0.1:9092"}, 50*time.Millisecond)
	h := brokersHook{b}
	h.OnBrokerWrite(meta(1, 9092), 1, 10, 0, 0, nil)
	if got := b.Health(time.Now(), nil); got.Failing {
		t.Fatalf("Health right after the write = %+v, want not failing", got)
	}
	time.Sleep(80 * time.Millisecond)
	got := b.Health(time.Now(), nil)
	if !got.Failing || !strings.Contains(got.Reason, "no answer for") {
		t.Fatalf("Health = %+v, want failing with no answer", got)
	}
	h.OnBrokerDisconnect(meta(1, 9092), nil)
	if got := b.Health(time.Now(), nil); got.Failing {
		t.Fatalf("Health after the disconnect = %+v, want not failing", got)
	}
}

// Only the brokers in use count when the caller says which; failures of the
// caller's own and of its context do not name a broker, and failures not
// seen again for FailureTTL are forgotten.
func TestBrokersInUseCallerErrorsAndTTL(t *testing.T) {
	b := NewBrokers([]string{"127.0.0.1:9092"}, time.Second)
	h := brokersHook{b}
	h.OnBrokerConnect(meta(2, 9093), 0, nil, syscall.ECONNREFUSED)
	if got := b.Health(time.Now(), map[int32]bool{1: true}); got.Failing {
		t.Fatalf("Health with only broker 1 in use = %+v, want broker 2 ignored", got)
	}
	if got := b.Health(time.Now(), map[int32]bool{2: true}); !got.Failing {
		t.Fatalf("Health with broker 2 in use = %+v, want failing", got)
	}
	if got := b.Health(time.Now().Add(FailureTTL), nil); got.Failing {
		t.Fatalf("Health a FailureTTL later = %+v, want forgotten", got)
	}
	h.OnBrokerRead(meta(3, 9094), 1, 0, 0, 0, kgo.ErrClientClosed)
	b.Fail("discovering partitions", errors.New("no metadata"))
	got := b.Health(time.Now(), map[int32]bool{3: true})
	if !got.Failing || strings.Contains(got.Reason, "9094") || !strings.Contains(got.Reason, "discovering partitions: no metadata") {
		t.Fatalf("Health = %+v, want only the failed discovery", got)
	}
	b.Recover("discovering partitions")
	if got := b.Health(time.Now(), map[int32]bool{3: true}); got.Failing {
		t.Fatalf("Health after Recover = %+v, want not failing", got)
	}
}
