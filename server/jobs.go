package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/connector/source"
	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server/policy"
	"github.com/ferrykafka/ferry/sessions/jobstore"
)

// This file holds what the server does for checkpoints it keeps
// (JobCheckpoints): one checkpoint store per cluster, opened on first use,
// and CheckpointService, which completes a job's checkpoint.

// jobStores opens one jobstore.Store per cluster when a job first needs it,
// and keeps it until the server stops: every ferry that serves a job's
// sessions tails that cluster's checkpoint topic.
type jobStores struct {
	mu      sync.Mutex
	entries map[string]*jobStoreEntry
}

type jobStoreEntry struct {
	ready chan struct{} // closed once store or err is set
	store *jobstore.Store
	err   error
}

// jobStore returns the checkpoint store of cluster cl, opening it (and
// reading its topic to the end) on first use. Concurrent callers wait for
// the one that opens it; no lock is held while it talks to Kafka.
func (s *Server) jobStore(ctx context.Context, cl connector.Cluster) (*jobstore.Store, error) {
	key := clusterName(cl)
	s.jobs.mu.Lock()
	if s.jobs.entries == nil {
		s.jobs.entries = make(map[string]*jobStoreEntry)
	}
	e, ok := s.jobs.entries[key]
	if !ok {
		e = &jobStoreEntry{ready: make(chan struct{})}
		s.jobs.entries[key] = e
	}
	s.jobs.mu.Unlock()
	if !ok {
		st, err := kafkaconf.Parse(kafkaconf.Consumer, kafkaconf.ForRole(kafkaconf.Consumer, cl.Properties), kafkaconf.Files{Any: true})
		if err == nil {
			e.store, err = jobstore.Open(context.WithoutCancel(ctx), jobstore.Config{Cluster: cl, Opts: st.ClientOpts(cl, "ferry-checkpoints"),
				Topic: s.cfg.CheckpointTopic, Retain: s.cfg.CheckpointRetain, Log: s.log})
		}
		if err != nil {
			e.err = err
			s.jobs.mu.Lock()
			delete(s.jobs.entries, key) // the next job session tries again
			s.jobs.mu.Unlock()
		}
		close(e.ready)
	}
	select {
	case <-e.ready:
		return e.store, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// closeJobStores closes the checkpoint stores at shutdown.
func (s *Server) closeJobStores() {
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	for _, e := range s.jobs.entries {
		select {
		case <-e.ready:
			if e.store != nil {
				e.store.Close()
			}
		default:
		}
	}
}

// jobStatus maps the checkpoint store's errors: a checkpoint some stream has
// not answered, an id out of order or a parallelism conflict are the
// client's order (FAILED_PRECONDITION); a session replaced by another is
// fenced (ABORTED).
func jobStatus(err error) error {
	var (
		incomplete *jobstore.IncompleteError
		order      *jobstore.OrderError
		conflict   *jobstore.ConflictError
		fenced     *jobstore.FencedError
	)
	switch {
	case errors.As(err, &incomplete) && incomplete.Operator == "":
		// No stream of the job ever joined: ferry keeps nothing of it.
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, &incomplete), errors.As(err, &order), errors.As(err, &conflict):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.As(err, &fenced):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, jobstore.ErrClosed):
		return errShuttingDown
	}
	return toStatus(err)
}

// checkpointServer serves ferry.v1.CheckpointService.
type checkpointServer struct {
	ferryv1.UnimplementedCheckpointServiceServer
	srv *Server
}

// CompleteCheckpoint completes a job's checkpoint; see the proto.
func (c checkpointServer) CompleteCheckpoint(ctx context.Context, req *ferryv1.CompleteCheckpointRequest) (*ferryv1.CompleteCheckpointResponse, error) {
	s := c.srv
	principal := principalOf(ctx)
	if err := nameSpec("job", req.GetJob()); err != nil || req.GetJob() == "" {
		if err == nil {
			err = connector.Invalid("job", "is required")
		}
		return nil, toStatus(err)
	}
	if err := positiveIDSpec("checkpoint_id", req.GetCheckpointId()); err != nil {
		return nil, toStatus(err)
	}
	if err := s.check(principal, policy.UseJob, req.GetJob()); err != nil {
		return nil, toStatus(err)
	}
	name := req.GetCluster()
	if name == "" {
		name = "default"
	}
	cl, err := s.namedCluster("cluster", name)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.check(principal, policy.UseCluster, name); err != nil {
		return nil, toStatus(err)
	}
	store, err := s.jobStore(ctx, cl)
	if err != nil {
		return nil, toStatus(err)
	}
	comp, err := store.Complete(ctx, req.GetJob(), req.GetCheckpointId())
	if err != nil {
		return nil, jobStatus(err)
	}
	return &ferryv1.CompleteCheckpointResponse{CheckpointId: req.GetCheckpointId(), Operators: comp.Operators}, nil
}

// jobBinding ties one session to the checkpoints ferry keeps for its job.
type jobBinding struct {
	store       *jobstore.Store
	job         string
	operator    string
	index       int
	parallelism int
	restore     bool

	restoredID int64  // the completed checkpoint restored, 0 when fresh
	note       string // what was restored, or why nothing was
	completed  chan int64
}

// bindJob checks the principal's right to the job and opens the cluster's
// checkpoint store; nil without JobCheckpoints.
func (s *Server) bindJob(ctx context.Context, spec *ferryv1.JobCheckpoints, cl connector.Cluster, principal string, index, parallelism int) (*jobBinding, error) {
	if spec == nil {
		return nil, nil
	}
	if err := s.check(principal, policy.UseJob, spec.GetJob()); err != nil {
		return nil, err
	}
	store, err := s.jobStore(ctx, cl)
	if err != nil {
		return nil, err
	}
	return &jobBinding{store: store, job: spec.GetJob(), operator: spec.GetOperator(), index: index, parallelism: parallelism,
		restore: spec.GetRestoreLatest()}, nil
}

// latest returns the states of this operator at the job's newest completed
// checkpoint (after reading the topic to its end, so that a completion
// written through another ferry a moment ago is not missed), and notes
// what it found. ok is false when nothing is stored or restore was not
// asked.
func (j *jobBinding) latest(ctx context.Context) (states []jobstore.State, ok bool, err error) {
	if !j.restore {
		return nil, false, nil
	}
	if err := j.store.Sync(ctx); err != nil {
		return nil, false, err
	}
	id, comp, found := j.store.Latest(j.job)
	if !found {
		j.note = fmt.Sprintf("job %q has no completed checkpoint: started fresh", j.job)
		return nil, false, nil
	}
	if _, has := comp.Operators[j.operator]; !has {
		j.note = fmt.Sprintf("checkpoint %d of job %q has no operator %q: started fresh", id, j.job, j.operator)
		j.restoredID = id
		return nil, false, nil
	}
	j.restoredID = id
	j.note = fmt.Sprintf("restored checkpoint %d of job %q (operator %q had parallelism %d)", id, j.job, j.operator, comp.Operators[j.operator])
	return j.store.States(j.job, j.operator, id), true, nil
}

// join registers the session as the member at its index, and starts
// watching the job's completions (on any ferry) for the session's loop.
func (j *jobBinding) join(ctx context.Context, kind, session string) error {
	if err := j.store.Join(ctx, j.job, j.operator, j.index, j.parallelism, kind, session); err != nil {
		return err
	}
	last := j.restoredID
	if id, _, ok := j.store.Latest(j.job); ok && id > last {
		last = id
	}
	j.completed = make(chan int64, 1)
	go func() {
		for {
			id, err := j.store.WaitCompleted(ctx, j.job, last)
			if err != nil {
				return // the session ended, or the store closed
			}
			select {
			case j.completed <- id:
				last = id
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// Completed delivers the job's newly completed checkpoint ids; nil without
// a job (a nil channel never delivers).
func (j *jobBinding) Completed() <-chan int64 {
	if j == nil {
		return nil
	}
	return j.completed
}

// put stores this member's state for checkpoint id before the session
// answers it: acknowledged by Kafka, so that a completion can rely on it.
func (j *jobBinding) put(ctx context.Context, kind, session string, id int64, state proto.Message) error {
	data, err := proto.Marshal(state)
	if err != nil {
		return err
	}
	return j.store.PutState(ctx, j.job, j.operator, j.index, jobstore.State{Kind: kind, Parallelism: j.parallelism, Data: data, Session: session}, id)
}

// refuseClientCompletion answers checkpoint_complete or commit on a job
// session: the job's checkpoints complete once, through CheckpointService.
func refuseClientCompletion(kind string) error {
	return status.Errorf(codes.FailedPrecondition, "%s: this session's checkpoints are kept by ferry for its job; complete them with CheckpointService.CompleteCheckpoint", kind)
}

// restored is the checkpoint id opened reports; 0 without a job.
func (j *jobBinding) restored() int64 {
	if j == nil {
		return 0
	}
	return j.restoredID
}

// restoreNote is the note opened reports; "" without a job.
func (j *jobBinding) restoreNote() string {
	if j == nil {
		return ""
	}
	return j.note
}

// restoreSourceFromJob sets cfg.Restore to the union of the operator's
// reader states at the job's newest completed checkpoint, when the session
// asks for restore_latest; the reader then takes the splits it owns, so
// the parallelism may differ from the checkpoint's.
func restoreSourceFromJob(ctx context.Context, job *jobBinding, cfg *source.Config) error {
	if job == nil {
		return nil
	}
	states, ok, err := job.latest(ctx)
	if err != nil || !ok {
		return jobStatus(err)
	}
	var union ferryv1.SourceState
	for _, st := range states {
		var one ferryv1.SourceState
		if err := proto.Unmarshal(st.Data, &one); err != nil {
			return status.Errorf(codes.DataLoss, "checkpoint %d of job %q: the state of operator %q index %d does not decode: %v", job.restoredID, job.job, job.operator, st.Index, err)
		}
		union.Splits = append(union.Splits, one.GetSplits()...)
	}
	restore, err := restoreSpec(&union)
	if err == nil {
		cfg.Restore = restore
		err = restoreInSubscription(*cfg)
	}
	return err
}

// restoreSinkFromJob sets cfg.Restore to this writer's prepared
// transactions at the job's newest completed checkpoint, when the session
// asks for restore_latest: the writer commits them at open and aborts its
// lingering ones. A sink's parallelism must be the checkpoint's: the
// prepared transactions of writers that would no longer exist would be
// left to time out.
func restoreSinkFromJob(ctx context.Context, job *jobBinding, cfg *sink.Config) error {
	if job == nil {
		return nil
	}
	states, ok, err := job.latest(ctx)
	if err != nil || !ok {
		return jobStatus(err)
	}
	for _, st := range states {
		if st.Parallelism != cfg.Parallelism {
			return status.Errorf(codes.FailedPrecondition, "open.parallelism: operator %q of job %q was checkpointed (checkpoint %d) with %d writers; a sink restores with the same parallelism",
				job.operator, job.job, job.restoredID, st.Parallelism)
		}
		if st.Index != cfg.WriterIndex {
			continue
		}
		var mine ferryv1.SinkState
		if err := proto.Unmarshal(st.Data, &mine); err != nil {
			return status.Errorf(codes.DataLoss, "checkpoint %d of job %q: the state of operator %q index %d does not decode: %v", job.restoredID, job.job, job.operator, st.Index, err)
		}
		restore, err := sinkRestoreSpec(&mine, *cfg)
		if err != nil {
			return err
		}
		cfg.Restore = restore
	}
	return nil
}
