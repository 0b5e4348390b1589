package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ferrykafka/ferry/server/telemetry"
)

// metricsPath is where --metrics-listen serves the metrics.
const metricsPath = "/metrics"

// startTelemetry sets up ferry's OpenTelemetry providers (the OTEL_*
// variables turn on OTLP export) and, when metricsListen is set, serves the
// metrics as Prometheus text on http://metricsListen/metrics. stop shuts
// the listener and the exporters down, flushing what they hold.
func startTelemetry(metricsListen string, log *slog.Logger) (p *telemetry.Providers, stop func(), err error) {
	ctx := context.Background()
	p, err = telemetry.Setup(ctx, telemetry.Config{Prometheus: metricsListen != "", Logger: log})
	if err != nil {
		return nil, nil, err
	}
	var hs *http.Server
	if metricsListen != "" {
		lis, err := net.Listen("tcp", metricsListen)
		if err != nil {
			_ = p.Shutdown(ctx)
			return nil, nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle(metricsPath, p.MetricsHandler())
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := hs.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener failed", "err", err)
			}
		}()
		log.Info("serving metrics (Prometheus text)", "url", "http://"+lis.Addr().String()+metricsPath)
	}
	return p, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if hs != nil {
			_ = hs.Shutdown(ctx)
		}
		if err := p.Shutdown(ctx); err != nil {
			log.Warn("flushing telemetry at shutdown", "err", err)
		}
	}, nil
}
