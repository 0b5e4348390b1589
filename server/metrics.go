package server

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
	"github.com/ferrykafka/ferry/server/telemetry"
)

// This file wires the server into ferry's metrics (package telemetry): the
// sessions of the admin view are what the metrics observe, opens refused
// are counted by the status they fail with.

// startMetrics creates ferry's instruments when the telemetry exports
// metrics.
func (s *Server) startMetrics() error {
	if !s.tel.MetricsOn {
		return nil
	}
	m, err := telemetry.NewMetrics(s.tel.Meter, telemetry.Server{
		Sessions:       s.metricSessions,
		Usage:          s.registry.Usage,
		PendingStreams: func() int { return int(s.pending.Load()) },
		Connections:    func() int { return int(s.connections.Load()) },
	})
	if err != nil {
		return fmt.Errorf("server: metrics: %w", err)
	}
	s.metrics = m
	return nil
}

// metricSessions lists the open sessions for the metrics.
func (s *Server) metricSessions() []telemetry.Session {
	live := s.live.list()
	out := make([]telemetry.Session, 0, len(live))
	for _, l := range live {
		ts := telemetry.Session{ID: l.info.GetSessionId(), Principal: l.info.GetPrincipal(), Cluster: l.info.GetCluster(),
			Group: l.info.GetGroupId()}
		switch {
		case l.source != nil:
			ts.Source = l.source
		case l.sink != nil:
			ts.Sink = l.sink
			ts.Guarantee = guaranteeName(l.info.GetDeliveryGuarantee())
			ts.TransactionalIDPrefix = l.txnPrefix
		}
		out = append(out, ts)
	}
	return out
}

// guaranteeName is the delivery_guarantee attribute of a sink's series.
func guaranteeName(g ferryv1.DeliveryGuarantee) string {
	switch g {
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_AT_LEAST_ONCE:
		return "at_least_once"
	case ferryv1.DeliveryGuarantee_DELIVERY_GUARANTEE_EXACTLY_ONCE:
		return telemetry.ExactlyOnce
	}
	return "none"
}

// openRefused counts a stream of kind ("source", "sink") that ended
// without a session, by the status it failed with (resource_exhausted,
// permission_denied, invalid_argument, ...). A client that cancelled is
// not refused.
func (s *Server) openRefused(ctx context.Context, kind string, err error) {
	code := status.Code(err)
	if s.metrics == nil || code == codes.Canceled || code == codes.OK {
		return
	}
	s.metrics.Refused(ctx, kind, codeName(code))
}

// codeName is a status code in snake case: ResourceExhausted is
// resource_exhausted.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sessionKind is the kind of a session method's sessions.
func sessionKind(fullMethod string) string {
	if strings.HasPrefix(fullMethod, "/"+ferryv1.SinkService_ServiceDesc.ServiceName+"/") {
		return "sink"
	}
	return "source"
}
