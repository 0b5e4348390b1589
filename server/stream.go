package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/kafkaconf"
)

// This file holds what both bidirectional RPCs share: the open preamble,
// the goroutine that turns Recv into a channel, and the mapping of Recv
// errors. Each RPC then has the same shape (see Read and Write): open, then
// a loop that hands each client message kind to one method.

// openStream is the preamble of both RPCs. The first client message must be
// open, else the stream fails with FAILED_PRECONDITION naming what came
// instead (kind). start turns the open into a session: it checks the spec,
// opens the session and sends opened, and closes the session itself when
// sending fails. Every error returned is a status.
func openStream[Req, Open, Sess any](recv func() (Req, error), rpc string, getOpen func(Req) *Open, kind func(Req) string,
	start func(*Open) (Sess, error)) (Sess, error) {
	var none Sess
	first, err := recv()
	if err != nil {
		return none, recvStatus(err)
	}
	open := getOpen(first)
	if open == nil {
		return none, status.Errorf(codes.FailedPrecondition, "%s before open: the first message on a %s stream must be open", kind(first), rpc)
	}
	sess, err := start(open)
	if err != nil {
		return none, toStatus(specField(err))
	}
	return sess, nil
}

// errAlreadyOpen answers a second open on a stream.
var errAlreadyOpen = status.Error(codes.FailedPrecondition, "open: the session is already open (one open per stream)")

// errNoKind answers a client message that sets no kind.
var errNoKind = status.Error(codes.InvalidArgument, "kind: the message sets no kind")

// logIgnored tells, once per session, which properties were accepted but
// have no effect (as in Flink, e.g. value.deserializer). It names keys only:
// values may be secrets.
func (s *Server) logIgnored(ctx context.Context, log *slog.Logger, st *kafkaconf.Settings) {
	if st != nil && len(st.Ignored) > 0 {
		log.InfoContext(ctx, "properties accepted without effect, as in Flink", "keys", st.Ignored)
	}
}

// sessionLog returns the logger of one session: every line carries the
// session id, the principal and the cluster, and attrs (topics, group,
// prefix) where they are set. The gRPC call's own start and finish lines
// get the same fields.
func (s *Server) sessionLog(ctx context.Context, id, principal string, cl connector.Cluster, attrs ...string) *slog.Logger {
	fields := logging.Fields{"session", id, "cluster", clusterName(cl)}
	if principal != "" {
		fields = append(fields, "principal", principal)
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			fields = append(fields, attrs[i], attrs[i+1])
		}
	}
	logging.AddFields(ctx, fields)
	return s.log.With(fields...)
}

// receive pumps client messages into a channel so that the handler can wait
// for them together with other events. The goroutine ends with the stream.
func receive[T any](ctx context.Context, recv func() (T, error)) (<-chan T, <-chan error) {
	msgs, errc := make(chan T), make(chan error, 1)
	go func() {
		for {
			m, err := recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, errc
}

// recvStatus maps an error from Recv: the client's cancellation keeps its
// code, anything else is what gRPC (or decodeStream) reported.
func recvStatus(err error) error {
	if errors.Is(err, io.EOF) {
		return status.Error(codes.FailedPrecondition, "the stream ended before open")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return toStatus(err)
}

// specField prefixes the field of an *connector.InvalidError from the
// connector, which names fields relative to the spec, with "open.spec.".
func specField(err error) error {
	var ie *connector.InvalidError
	if errors.As(err, &ie) && !strings.HasPrefix(ie.Field, "open.") {
		return connector.Invalid("open.spec."+ie.Field, "%s", ie.Rule)
	}
	return err
}

// contextStatus is the status of a stream whose context ended: CANCELLED
// when the client went away, DEADLINE_EXCEEDED past its deadline.
func contextStatus(ctx context.Context) error { return status.FromContextError(ctx.Err()).Err() }
