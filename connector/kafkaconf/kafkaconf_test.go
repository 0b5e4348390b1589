package kafkaconf

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferrykafka/ferry/connector"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		role  Role
		props map[string]string
		opts  int    // franz-go options expected
		err   string // substring of the error, "" for success
		field string
	}{
		{name: "empty", role: Consumer},
		{name: "consumer keys", role: Consumer, opts: 3,
			props: map[string]string{"fetch.max.bytes": "1048576", "isolation.level": "read_committed", "fetch.max.wait.ms": "100"}},
		{name: "ignored as in Flink", role: Consumer,
			props: map[string]string{"key.deserializer": "x", "auto.offset.reset": "latest"}},
		{name: "producer keys", role: Producer, opts: 4,
			props: map[string]string{"acks": "all", "linger.ms": "0", "compression.type": "zstd", "enable.idempotence": "false"}},
		{name: "acks=1 drops idempotence", role: Producer, opts: 2, props: map[string]string{"acks": "1"}},
		{name: "unknown key", role: Consumer, props: map[string]string{"no.such": "1"},
			err: "unknown consumer property", field: `properties["no.such"]`},
		{name: "wrong role", role: Producer, props: map[string]string{"isolation.level": "read_committed"},
			err: "is a consumer property, not a producer one", field: `properties["isolation.level"]`},
		{name: "bad isolation level", role: Consumer, props: map[string]string{"isolation.level": "dirty"},
			err: "read_uncommitted or read_committed", field: `properties["isolation.level"]`},
		{name: "bad number", role: Consumer, props: map[string]string{"fetch.max.bytes": "-1"},
			err: "integer in 1..2147483647", field: `properties["fetch.max.bytes"]`},
		{name: "bad bool", role: Producer, props: map[string]string{"enable.idempotence": "yes"},
			err: "true or false"},
		{name: "bad compression", role: Producer, props: map[string]string{"compression.type": "brotli"},
			err: "none, gzip, snappy, lz4 or zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.role, tc.props)
			if tc.err != "" {
				var ie *connector.InvalidError
				if !errors.As(err, &ie) || !strings.Contains(ie.Rule, tc.err) {
					t.Fatalf("err = %v, want an InvalidError saying %q", err, tc.err)
				}
				if tc.field != "" && ie.Field != tc.field {
					t.Errorf("field = %q, want %q", ie.Field, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Opts) != tc.opts {
				t.Errorf("%d options, want %d", len(s.Opts), tc.opts)
			}
		})
	}
}

func TestTableIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Table() {
		if p.Name == "" || p.Default == "" || p.Option == "" || p.Roles == 0 || p.apply == nil {
			t.Errorf("incomplete entry %+v", p)
		}
		if seen[p.Name] {
			t.Errorf("%s listed twice", p.Name)
		}
		seen[p.Name] = true
	}
}
