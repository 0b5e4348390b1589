// Package telemetry sets up ferry's OpenTelemetry: the meter provider whose
// metrics are served as Prometheus text and exported over OTLP, the tracer
// provider and the propagator of trace context, and the instruments ferry
// records its sessions with.
//
// Setup returns the Providers every part of ferry takes its meter and
// tracer from; Disabled returns providers that record nothing. Each signal
// has its own files (metrics*.go, meter*.go for metrics; trace*.go for
// traces) and registers its setup with Setup from them.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/stats"
)

// Config says which telemetry ferry exports.
type Config struct {
	// Prometheus serves metrics as Prometheus text through
	// Providers.MetricsHandler (ferry serve --metrics-listen).
	Prometheus bool
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Providers are where ferry's parts take their meter, tracer and
// propagator from. Every field is usable: a signal that is off has a
// provider that records nothing.
type Providers struct {
	// Meter provides the meters of ferry's metrics and of the Kafka
	// clients' (kotel).
	Meter metric.MeterProvider
	// Tracer provides the tracers of ferry's spans and of the Kafka
	// clients'.
	Tracer trace.TracerProvider
	// Propagator carries trace context in and out of gRPC metadata and
	// Kafka record headers (W3C trace context and baggage).
	Propagator propagation.TextMapPropagator
	// Resource describes this process (service.name ferry unless
	// OTEL_SERVICE_NAME says otherwise).
	Resource *resource.Resource
	// MetricsOn is true when metrics go anywhere (Prometheus or OTLP).
	MetricsOn bool

	metricsHandler http.Handler
	kafkaMeter     kgo.Hook // kotel's meter of the Kafka clients; nil when metrics are off
	shutdown       []func(context.Context) error
}

// signalSetup sets up one signal on p from cfg, adding what Shutdown must
// end to p.shutdown.
type signalSetup func(ctx context.Context, cfg Config, p *Providers) error

// signals are the setups of each signal, registered by their files' init.
var signals []signalSetup

// Disabled returns providers that record nothing.
func Disabled() *Providers {
	return &Providers{
		Meter:      metricnoop.NewMeterProvider(),
		Tracer:     tracenoop.NewTracerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Resource:   resource.Empty(),
	}
}

// Setup builds the providers cfg and the standard OTEL_* variables ask
// for: OTLP export of a signal when OTEL_EXPORTER_OTLP_ENDPOINT or the
// signal's own endpoint is set (the exporters read the other
// OTEL_EXPORTER_OTLP_* variables: headers, TLS, timeouts),
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. On an
// error it shuts down what it had started.
func Setup(ctx context.Context, cfg Config) (*Providers, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := Disabled()
	res, err := newResource(ctx)
	if err != nil {
		return nil, err
	}
	p.Resource = res
	for _, setup := range signals {
		if err := setup(ctx, cfg, p); err != nil {
			_ = p.Shutdown(ctx)
			return nil, err
		}
	}
	return p, nil
}

// newResource describes this process: service.name ferry, then what
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say, the process and host.
func newResource(ctx context.Context) (*resource.Resource, error) {
	return resource.New(ctx, resource.WithAttributes(semconv.ServiceName("ferry")), resource.WithFromEnv(),
		resource.WithProcessPID(), resource.WithHost())
}

// MetricsHandler serves the metrics as Prometheus text; nil unless
// Config.Prometheus.
func (p *Providers) MetricsHandler() http.Handler { return p.metricsHandler }

// GRPCServerHandler is the gRPC stats handler that records the server's
// RPC metrics and spans (otelgrpc) with p's providers and propagator.
func (p *Providers) GRPCServerHandler() stats.Handler {
	return otelgrpc.NewServerHandler(otelgrpc.WithMeterProvider(p.Meter), otelgrpc.WithTracerProvider(p.Tracer),
		otelgrpc.WithPropagators(p.Propagator))
}

// KafkaHooks are the franz-go hooks of a session's Kafka clients: the
// client metrics (kotel's meter) when metrics are on and clientMetrics
// (register.consumer.metrics, register.producer.metrics) is true.
func (p *Providers) KafkaHooks(clientMetrics bool) []kgo.Hook {
	var hooks []kgo.Hook
	if clientMetrics && p.kafkaMeter != nil {
		hooks = append(hooks, p.kafkaMeter)
	}
	return hooks
}

// Shutdown flushes and stops the exporters.
func (p *Providers) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(p.shutdown) - 1; i >= 0; i-- {
		errs = append(errs, p.shutdown[i](ctx))
	}
	p.shutdown = nil
	return errors.Join(errs...)
}

// otlpProtocol is the OTLP protocol of signal ("METRICS", "TRACES"):
// OTEL_EXPORTER_OTLP_{signal}_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
// else grpc. It returns an error for one ferry does not speak.
func otlpProtocol(signal string) (string, error) {
	v := os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	if v == "" {
		v = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch v {
	case "", "grpc":
		return "grpc", nil
	case "http/protobuf":
		return v, nil
	}
	return "", fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: ferry exports OTLP over grpc or http/protobuf", v)
}

// otlpEnabled reports whether signal ("METRICS", "TRACES") is exported over
// OTLP: an endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or the signal's
// own) and OTEL_{signal}_EXPORTER does not say none.
func otlpEnabled(signal string) bool {
	if strings.TrimSpace(os.Getenv("OTEL_"+signal+"_EXPORTER")) == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}
