package jobstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferrykafka/ferry/connector"
)

// keyPrefix starts every key the store writes; records with other keys are
// skipped, so that a later format can share the topic.
const keyPrefix = "ferry/v1/"

// maxName is the longest job or operator name, in bytes.
const maxName = 249

// Record kinds, the fourth segment of a key.
const (
	kindState    = "state"
	kindComplete = "complete"
	kindMember   = "member"
)

// State is what one member of an operator stored for one checkpoint.
type State struct {
	// Kind is the member's kind, as the caller names it ("source", "sink").
	Kind string `json:"kind"`
	// Parallelism is the operator's parallelism when it was stored.
	Parallelism int `json:"parallelism"`
	// Data is the serialized state; the store does not read it.
	Data []byte `json:"data"`
	// Session is the session that stored it: the member at its index.
	Session string `json:"session"`
	// AtMs is when it was stored, in Unix milliseconds (PutState sets it
	// when zero).
	AtMs int64 `json:"atMs"`
	// Index is the member's index; it is the key's, not stored in the value.
	Index int `json:"-"`
}

// Completion is a completed checkpoint of a job.
type Completion struct {
	// Operators maps every operator of the job to its parallelism at the
	// checkpoint: its states are those of indexes 0..parallelism-1.
	Operators map[string]int32 `json:"operators"`
	// AtMs is when it was completed, in Unix milliseconds.
	AtMs int64 `json:"atMs"`
}

// Member is a session's claim on one index of an operator.
type Member struct {
	Kind        string `json:"kind"`
	Parallelism int    `json:"parallelism"`
	Session     string `json:"session"`
	AtMs        int64  `json:"atMs"`
}

// stateKey is ferry/v1/{job}/state/{id as %020d}/{operator}/{index}. The id
// is zero-padded so that a console consumer lists keys in checkpoint order.
func stateKey(job string, id int64, operator string, index int) string {
	return fmt.Sprintf("%s%s/%s/%020d/%s/%d", keyPrefix, job, kindState, id, operator, index)
}

// completeKey is ferry/v1/{job}/complete/{id as %020d}.
func completeKey(job string, id int64) string {
	return fmt.Sprintf("%s%s/%s/%020d", keyPrefix, job, kindComplete, id)
}

// memberKey is ferry/v1/{job}/member/{operator}/{index}.
func memberKey(job, operator string, index int) string {
	return fmt.Sprintf("%s%s/%s/%s/%d", keyPrefix, job, kindMember, operator, index)
}

// key is a parsed record key: which of the three kinds, and its parts.
type key struct {
	kind     string
	job      string
	id       int64 // state, complete
	operator string
	index    int // state, member
}

// parseKey parses a key the store writes; ok is false for any other.
func parseKey(k string) (key, bool) {
	rest, found := strings.CutPrefix(k, keyPrefix)
	if !found {
		return key{}, false
	}
	p := strings.Split(rest, "/")
	if len(p) < 3 || checkName(p[0]) != "" {
		return key{}, false
	}
	out := key{kind: p[1], job: p[0]}
	var err error
	switch {
	case out.kind == kindState && len(p) == 5:
		out.id, err = parseID(p[2])
		out.operator = p[3]
		if err == nil {
			out.index, err = parseIndex(p[4])
		}
	case out.kind == kindComplete && len(p) == 3:
		out.id, err = parseID(p[2])
	case out.kind == kindMember && len(p) == 4:
		out.operator = p[2]
		out.index, err = parseIndex(p[3])
	default:
		return key{}, false
	}
	if err != nil || (out.kind != kindComplete && checkName(out.operator) != "") {
		return key{}, false
	}
	return out, true
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err == nil && id < 0 {
		err = strconv.ErrRange
	}
	return id, err
}

func parseIndex(s string) (int, error) {
	i, err := strconv.Atoi(s)
	if err == nil && i < 0 {
		err = strconv.ErrRange
	}
	return i, err
}

// checkName returns the rule that name breaks, or "" when it is a good job
// or operator name.
func checkName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > maxName:
		return fmt.Sprintf("must be at most %d bytes, is %d", maxName, len(name))
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case strings.Contains(name, "/"):
		return "must not contain '/'"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

// validName returns a *connector.InvalidError for field when name is not a
// good job or operator name.
func validName(field, name string) error {
	if rule := checkName(name); rule != "" {
		return connector.Invalid(field, "%q %s", name, rule)
	}
	return nil
}

// validMember checks the arguments that name one member of an operator.
func validMember(job, operator string, index, parallelism int) error {
	if err := validName("job", job); err != nil {
		return err
	}
	if err := validName("operator", operator); err != nil {
		return err
	}
	if parallelism < 1 || parallelism > 1<<31-1 {
		return connector.Invalid("parallelism", "must be 1..%d, is %d", 1<<31-1, parallelism)
	}
	if index < 0 || index >= parallelism {
		return connector.Invalid("index", "must be 0..%d (parallelism %d), is %d", parallelism-1, parallelism, index)
	}
	return nil
}

// validID checks a checkpoint id.
func validID(id int64) error {
	if id < 0 {
		return connector.Invalid("checkpoint id", "must not be negative, is %d", id)
	}
	return nil
}

// record is a record of the store's topic with v's JSON as its value, or a
// tombstone when v is nil.
func record(topic, key string, v any) (*kgo.Record, error) {
	r := &kgo.Record{Topic: topic, Partition: 0, Key: []byte(key)}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil { // only plain fields: not expected
			return nil, fmt.Errorf("encoding %s: %w", key, err)
		}
		r.Value = b
	}
	return r, nil
}
