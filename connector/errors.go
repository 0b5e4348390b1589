package connector

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// InvalidError is returned when a configuration value breaks a rule. Field is
// the name of the offending field or property, Rule says what it must be.
type InvalidError struct {
	Field string
	Rule  string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Rule }

// Invalid returns an *InvalidError for field with the formatted rule.
func Invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// NotFoundError is returned when a topic or partition named by a spec does not
// exist on the cluster.
type NotFoundError struct {
	Kind string // "topic" or "partition"
	Name string // the topic, or "topic/partition"
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q does not exist", e.Kind, e.Name)
}

// UnavailableError is returned when the cluster cannot be reached. Err is the
// cause.
type UnavailableError struct {
	Op  string
	Err error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("kafka unavailable while %s: %v", e.Op, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// RecordError is returned when Kafka refuses a record. Batch is the client's
// sequence number of the batch that carried it and Index its position in the
// batch.
type RecordError struct {
	Batch int64
	Index int
	Topic string
	Err   error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d of batch %d (topic %q): %v", e.Index, e.Batch, e.Topic, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// NoOffsetError is returned when an offsets initializer with reset strategy
// NONE finds no offset for a partition (Kafka's NoOffsetForPartition).
type NoOffsetError struct {
	Topic     string
	Partition int32
	Group     string
}

func (e *NoOffsetError) Error() string {
	if e.Group != "" {
		return fmt.Sprintf("partition %s/%d has no committed offset in group %q and the reset strategy is NONE", e.Topic, e.Partition, e.Group)
	}
	return fmt.Sprintf("partition %s/%d has no offset given and the reset strategy is NONE", e.Topic, e.Partition)
}

// DeniedError is returned when the operator's rules do not allow what a
// client asks for. Principal is the client's authenticated name (empty when
// the rule applies to everyone), Operation what it asked to do ("read",
// "write", "commit offsets of", "connect to"), Resource what it asked for.
type DeniedError struct {
	Principal string
	Operation string
	Resource  string
	// Reason, when set, says which rule refused it.
	Reason string
}

func (e *DeniedError) Error() string {
	who := "this client"
	if e.Principal != "" {
		who = "principal " + strconv.Quote(e.Principal)
	}
	msg := who + " may not " + e.Operation + " " + e.Resource
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// IsCertificateRefusal reports whether err carries a TLS alert from a
// broker about ferry's client certificate (none sent where the listener
// requires one, or one it does not trust): ferry's TLS identity was
// refused, which no retry mends.
func IsCertificateRefusal(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "remote error" && opErr.Err != nil &&
		strings.Contains(opErr.Err.Error(), "certificate")
}
