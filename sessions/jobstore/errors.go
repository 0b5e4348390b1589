package jobstore

import (
	"errors"
	"fmt"
)

// Errors of the store. Arguments that break a rule (a bad job or operator
// name, an index outside 0..parallelism-1, a negative checkpoint id) are a
// *connector.InvalidError naming the argument; Kafka failing to answer is a
// *connector.UnavailableError wrapping the cause (a *kerr.Error when Kafka
// refused). The store's own rules have the types below.

// ErrClosed is returned by every call made after Close, and by a
// WaitCompleted that Close ended.
var ErrClosed = errors.New("jobstore: the checkpoint store is closed")

// ConflictError is returned by Join when the operator's current members,
// those that joined after the job's last completed checkpoint, have another
// parallelism: the job would run with two parallelisms at once.
type ConflictError struct {
	Job, Operator string
	Open          int // the parallelism of the current members
	Asked         int // the parallelism refused
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("job %q operator %q is open with parallelism %d since its last completed checkpoint; "+
		"parallelism %d may join only after a checkpoint of the open members completes", e.Job, e.Operator, e.Open, e.Asked)
}

// FencedError is returned by PutState when the session that stores a state
// is not the member at the operator's index: it never joined, or a later
// Join (a restarted or rescaled job) replaced it.
type FencedError struct {
	Job, Operator string
	Index         int
	Session       string // the session that tried to store
	Member        string // the member's session, empty when there is none
}

func (e *FencedError) Error() string {
	if e.Member == "" {
		return fmt.Sprintf("session %q is not a member of job %q operator %q at index %d: the index has no member (join first)",
			e.Session, e.Job, e.Operator, e.Index)
	}
	return fmt.Sprintf("session %q is not a member of job %q operator %q at index %d: session %q joined there after it",
		e.Session, e.Job, e.Operator, e.Index, e.Member)
}

// IncompleteError is returned by Complete when a member of the job stored no
// state for the checkpoint. Operator is empty when the job has no members at
// all; then Index and Parallelism are 0.
type IncompleteError struct {
	Job         string
	Checkpoint  int64
	Operator    string
	Index       int
	Parallelism int
	// Reason says what is missing.
	Reason string
}

func (e *IncompleteError) Error() string {
	if e.Operator == "" {
		return fmt.Sprintf("checkpoint %d of job %q cannot complete: %s", e.Checkpoint, e.Job, e.Reason)
	}
	return fmt.Sprintf("checkpoint %d of job %q cannot complete: operator %q index %d (of parallelism %d) %s",
		e.Checkpoint, e.Job, e.Operator, e.Index, e.Parallelism, e.Reason)
}

// OrderError is returned when a checkpoint id is not newer than the job's
// last completed checkpoint: by Complete (unless that very id is completed,
// which Complete answers again) and by PutState (a completed checkpoint's
// states never change).
type OrderError struct {
	Job        string
	Checkpoint int64
	Last       int64 // the job's last completed checkpoint
	Op         string
}

func (e *OrderError) Error() string {
	return fmt.Sprintf("job %q: cannot %s checkpoint %d: checkpoint %d is completed and ids must increase",
		e.Job, e.Op, e.Checkpoint, e.Last)
}
