package telemetry

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// This file sets up the metrics signal: a meter provider read by the
// Prometheus exporter (Config.Prometheus) and by a periodic OTLP exporter
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT).

func init() { signals = append(signals, setupMetrics) }

// cardinalityLimit bounds the series of one instrument. Per-session series
// live only while their session does (see meter.go), so the bound is the
// partitions all open sessions own together; past it the SDK folds series
// into one marked otel.metric.overflow instead of growing without end.
const cardinalityLimit = 100_000

func setupMetrics(ctx context.Context, cfg Config, p *Providers) error {
	var opts []sdkmetric.Option
	if cfg.Prometheus {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return fmt.Errorf("prometheus exporter: %w", err)
		}
		opts = append(opts, sdkmetric.WithReader(exp))
		p.metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, Timeout: 10 * time.Second})
	}
	if otlpEnabled("METRICS") {
		exp, err := otlpMetricExporter(ctx)
		if err != nil {
			return err
		}
		// Pushed every OTEL_METRIC_EXPORT_INTERVAL ms (the SDK reads it;
		// 60 s by default).
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	if len(opts) == 0 {
		return nil
	}
	mp := sdkmetric.NewMeterProvider(append(opts, sdkmetric.WithResource(p.Resource), sdkmetric.WithCardinalityLimit(cardinalityLimit))...)
	p.Meter, p.MetricsOn = mp, true
	p.kafkaMeter = kotel.NewMeter(kotel.MeterProvider(mp))
	p.shutdown = append(p.shutdown, mp.Shutdown)
	return nil
}

// otlpMetricExporter is the OTLP exporter of the protocol the environment
// names; the exporter reads the endpoint, headers, TLS and timeout from the
// OTEL_EXPORTER_OTLP_* variables itself.
func otlpMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	proto, err := otlpProtocol("METRICS")
	if err != nil {
		return nil, err
	}
	var exp sdkmetric.Exporter
	if proto == "grpc" {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP metrics exporter (%s): %w", proto, err)
	}
	return exp, nil
}
