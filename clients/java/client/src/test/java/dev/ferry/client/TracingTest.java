package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.SinkClosed;
import dev.ferry.v1.SinkOpened;
import dev.ferry.v1.SinkServiceGrpc;
import dev.ferry.v1.SourceOpened;
import dev.ferry.v1.SourceServiceGrpc;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.baggage.Baggage;
import io.opentelemetry.api.baggage.propagation.W3CBaggagePropagator;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The facade carries the caller's OpenTelemetry trace context to ferry: a session's call sends
 * {@code traceparent} (and {@code baggage}) in its metadata when a span is current, nothing when none
 * is; without the OpenTelemetry API on the classpath nothing is loaded. Checked against a scripted
 * server that keeps the metadata of each call (ferry's side, the spans it makes under that context,
 * is tested in Go: test/integration/trace_test.go).
 */
@Timeout(60)
class TracingTest {
  private static final Metadata.Key<String> TRACEPARENT = key("traceparent");
  private static final Metadata.Key<String> BAGGAGE = key("baggage");

  private static final List<Metadata> calls = new CopyOnWriteArrayList<>();
  private static Server server;
  private static ManagedChannel channel;
  private static OpenTelemetrySdk otel;

  @BeforeAll
  static void setUp() throws IOException {
    ServerInterceptor keep = new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        calls.add(headers);
        return next.startCall(call, headers);
      }
    };
    server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
        .addService(ServerInterceptors.intercept(new ScriptedSink(), keep))
        .addService(ServerInterceptors.intercept(new ScriptedSource(), keep))
        .build()
        .start();
    channel = Ferry.connect("127.0.0.1:" + server.getPort());
    GlobalOpenTelemetry.resetForTest();
    otel = OpenTelemetrySdk.builder()
        // A provider without a processor makes no spans at all.
        .setTracerProvider(SdkTracerProvider.builder()
            .addSpanProcessor(SimpleSpanProcessor.create(InMemorySpanExporter.create())).build())
        .setPropagators(ContextPropagators.create(TextMapPropagator.composite(
            W3CTraceContextPropagator.getInstance(), W3CBaggagePropagator.getInstance())))
        .buildAndRegisterGlobal();
  }

  @AfterAll
  static void tearDown() throws InterruptedException {
    channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    otel.close();
    GlobalOpenTelemetry.resetForTest();
  }

  @BeforeEach
  void clear() {
    calls.clear();
  }

  @Test
  void sinkSessionCarriesTheCurrentSpan() {
    Span span = otel.getTracer("test").spanBuilder("caller").startSpan();
    try (Scope s = span.makeCurrent(); Scope b = Baggage.builder().put("job", "copy-7").build().makeCurrent()) {
      writeSession();
    } finally {
      span.end();
    }
    assertEquals(traceparent(span.getSpanContext()), calls.get(0).get(TRACEPARENT));
    assertEquals("job=copy-7", calls.get(0).get(BAGGAGE));
  }

  @Test
  void sourceSessionCarriesTheCurrentSpan() {
    Span span = otel.getTracer("test").spanBuilder("caller").startSpan();
    try (Scope s = span.makeCurrent()) {
      readSession();
    } finally {
      span.end();
    }
    assertEquals(traceparent(span.getSpanContext()), calls.get(0).get(TRACEPARENT));
  }

  @Test
  void withoutACurrentSpanNothingIsAdded() {
    writeSession();
    readSession();
    assertEquals(2, calls.size());
    for (Metadata m : calls) {
      assertNull(m.get(TRACEPARENT));
      assertNull(m.get(BAGGAGE));
    }
  }

  @Test
  void withoutTheOpenTelemetryApiNothingIsLoaded() {
    assertNotNull(Tracing.load(TracingTest.class.getClassLoader()));
    ClassLoader withoutOtel = new ClassLoader(TracingTest.class.getClassLoader()) {
      @Override
      protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (name.startsWith("io.opentelemetry.")) {
          throw new ClassNotFoundException(name);
        }
        return super.loadClass(name, resolve);
      }
    };
    assertNull(Tracing.load(withoutOtel));
  }

  private static void writeSession() {
    KafkaSink<String> sink = KafkaSink.<String>builder()
        .setFerryChannel(channel)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic("t").setValueSerializationSchema(new SimpleStringSchema()).build())
        .build();
    sink.open().close();
  }

  private static void readSession() {
    KafkaSource<String> source = KafkaSource.<String>builder()
        .setFerryChannel(channel)
        .setTopics("t")
        .setValueOnlyDeserializer(new SimpleStringSchema())
        .build();
    source.open().close();
  }

  private static String traceparent(SpanContext sc) {
    return "00-" + sc.getTraceId() + "-" + sc.getSpanId() + "-" + sc.getTraceFlags().asHex();
  }

  private static Metadata.Key<String> key(String name) {
    return Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER);
  }

  /** Answers open and close like ferry. */
  private static final class ScriptedSink extends SinkServiceGrpc.SinkServiceImplBase {
    @Override
    public StreamObserver<WriteRequest> write(StreamObserver<WriteResponse> out) {
      return new StreamObserver<>() {
        @Override
        public void onNext(WriteRequest req) {
          if (req.hasOpen()) {
            out.onNext(WriteResponse.newBuilder().setOpened(SinkOpened.newBuilder().setSessionId("scripted")).build());
          } else if (req.hasClose()) {
            out.onNext(WriteResponse.newBuilder().setClosed(SinkClosed.getDefaultInstance()).build());
            out.onCompleted();
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
      };
    }
  }

  /** Answers open, then ends the stream OK when the client closes. */
  private static final class ScriptedSource extends SourceServiceGrpc.SourceServiceImplBase {
    @Override
    public StreamObserver<ReadRequest> read(StreamObserver<ReadResponse> out) {
      return new StreamObserver<>() {
        @Override
        public void onNext(ReadRequest req) {
          if (req.hasOpen()) {
            out.onNext(ReadResponse.newBuilder().setOpened(SourceOpened.newBuilder().setSessionId("scripted")).build());
          } else if (req.hasClose()) {
            out.onCompleted();
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
      };
    }
  }
}
