package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/ferrykafka/ferry/server/telemetry"
	"github.com/ferrykafka/ferry/sessions"
)

// otlpMetrics keeps the metric points exporters send it, over gRPC and
// HTTP: name -> the session_id attributes seen.
type otlpMetrics struct {
	collectormetrics.UnimplementedMetricsServiceServer
	mu   sync.Mutex
	seen map[string][]string
}

func (o *otlpMetrics) Export(_ context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				var points []*metricspb.NumberDataPoint
				points = append(points, m.GetSum().GetDataPoints()...)
				points = append(points, m.GetGauge().GetDataPoints()...)
				for _, p := range points {
					for _, a := range p.GetAttributes() {
						if a.GetKey() == "session_id" {
							o.seen[m.GetName()] = append(o.seen[m.GetName()], a.GetValue().GetStringValue())
						}
					}
				}
			}
		}
	}
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

func (o *otlpMetrics) sessions(name string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen[name]...)
}

// TestMetricsOverOTLP: with an OTLP endpoint in the environment, the
// session metrics are pushed to it, over grpc (the default) and
// http/protobuf.
func TestMetricsOverOTLP(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			recv := &otlpMetrics{seen: map[string][]string{}}
			// The signal's own endpoint is a URL used as it is; the
			// general one is a base to which the HTTP exporter adds
			// /v1/metrics.
			if protocol == "grpc" {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				collectormetrics.RegisterMetricsServiceServer(gs, recv)
				go gs.Serve(lis)
				t.Cleanup(gs.Stop)
				t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://"+lis.Addr().String())
			} else {
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					req := &collectormetrics.ExportMetricsServiceRequest{}
					if r.URL.Path != "/v1/metrics" || proto.Unmarshal(body, req) != nil {
						http.Error(w, "bad request", http.StatusBadRequest)
						return
					}
					resp, _ := recv.Export(r.Context(), req)
					out, _ := proto.Marshal(resp)
					w.Header().Set("Content-Type", "application/x-protobuf")
					_, _ = w.Write(out)
				}))
				t.Cleanup(hs.Close)
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", hs.URL)
				t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
			}
			t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "50")
			p, err := telemetry.Setup(context.Background(), telemetry.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			if !p.MetricsOn || p.MetricsHandler() != nil {
				t.Fatalf("OTLP only: metrics on %v, Prometheus handler %v", p.MetricsOn, p.MetricsHandler())
			}
			l := &live{}
			l.set(telemetry.Session{ID: "source-otlp", Source: fakeSource{sessions.SourceStats{RecordsIn: 3}}})
			if _, err := telemetry.NewMetrics(p.Meter, telemetry.Server{Sessions: l.get}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(recv.sessions("ferry.source.records_in")) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("nothing arrived over OTLP (%s)", protocol)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := recv.sessions("ferry.source.records_in"); got[0] != "source-otlp" {
				t.Errorf("records_in of sessions %v", got)
			}
		})
	}
}

// TestUnknownOTLPProtocol: a protocol ferry does not speak fails Setup.
func TestUnknownOTLPProtocol(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json")
	if _, err := telemetry.Setup(context.Background(), telemetry.Config{}); err == nil {
		t.Fatal("Setup accepted OTLP over http/json")
	}
}
