package server

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrykafka/ferry/connector"
	"github.com/ferrykafka/ferry/connector/sink"
	"github.com/ferrykafka/ferry/sessions"
)

// errShuttingDown ends open streams when the server stops.
var errShuttingDown = status.Error(codes.Unavailable, "ferry is shutting down; reopen the session on another server or after restart")

// toStatus maps an error of the layers below onto a gRPC status, keeping the
// message. Statuses pass through unchanged.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var (
		invalid     *connector.InvalidError
		denied      *connector.DeniedError
		notFound    *connector.NotFoundError
		unavailable *connector.UnavailableError
		order       *sessions.OrderError
		noOffset    *connector.NoOffsetError
		dataLoss    *sink.DataLossError
		kafkaErr    *kerr.Error
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.As(err, &dataLoss):
		return status.Error(codes.DataLoss, err.Error())
	case errors.As(err, &denied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.As(err, &invalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.As(err, &notFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, &order), errors.As(err, &noOffset):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, sessions.ErrTooManySessions), errors.Is(err, sessions.ErrMemoryBudget):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.As(err, &kafkaErr):
		return status.Error(kafkaCode(kafkaErr), err.Error())
	case connector.IsCertificateRefusal(err):
		return status.Error(codes.Unauthenticated, "Kafka refused ferry's TLS client certificate (ssl.keystore.*, or the cluster's keystore on the server): "+err.Error())
	case errors.As(err, &unavailable):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// kafkaCode maps a Kafka protocol error onto the status a client can act on.
func kafkaCode(e *kerr.Error) codes.Code {
	switch e {
	case kerr.SaslAuthenticationFailed, kerr.IllegalSaslState, kerr.UnsupportedSaslMechanism:
		return codes.Unauthenticated
	case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed:
		return codes.PermissionDenied
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID, kerr.GroupIDNotFound, kerr.TransactionalIDNotFound:
		return codes.NotFound
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage,
		kerr.InvalidTimestamp, kerr.InvalidRequiredAcks, kerr.InvalidTopicException, kerr.InvalidPartitions,
		kerr.InvalidConfig, kerr.InvalidTransactionTimeout, kerr.InvalidGroupID:
		return codes.InvalidArgument
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.TransactionCoordinatorFenced:
		return codes.Aborted
	}
	if e.Retriable {
		return codes.Unavailable
	}
	// Any other non-retriable error: the cluster refuses the request in
	// its present state or configuration (a policy, a version, a
	// transaction's state); retrying as it is will not help.
	return codes.FailedPrecondition
}
