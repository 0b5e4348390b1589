package dev.ferry.client;

import io.grpc.ClientInterceptor;
import io.grpc.stub.AbstractStub;

/**
 * Carries the caller's OpenTelemetry trace context to ferry, when the OpenTelemetry API
 * ({@code io.opentelemetry:opentelemetry-api}, an optional dependency of this jar) is on the
 * classpath: each session's call then sends what {@code GlobalOpenTelemetry}'s propagators inject
 * for the current context (by default W3C {@code traceparent} and {@code baggage}) as gRPC metadata,
 * so that ferry's spans of the session belong to the caller's trace. Without the API, or without a
 * current span, nothing is added.
 *
 * <p>The interceptor ({@link OpenTelemetryPropagation}) is the only class that names OpenTelemetry
 * types; it is loaded by name, and only when the API is there, so this jar runs without it.
 */
final class Tracing {
  private static final String API_CLASS = "io.opentelemetry.api.GlobalOpenTelemetry";
  private static final String INTERCEPTOR_CLASS = "dev.ferry.client.OpenTelemetryPropagation";

  /** The propagating interceptor, or null without the OpenTelemetry API. */
  private static final ClientInterceptor INTERCEPTOR = load(Tracing.class.getClassLoader());

  private Tracing() {}

  /** {@code stub}, carrying the current trace context with each call it starts when it can. */
  static <S extends AbstractStub<S>> S propagate(S stub) {
    return INTERCEPTOR == null ? stub : stub.withInterceptors(INTERCEPTOR);
  }

  /** The interceptor loaded through {@code loader}, or null when it has no OpenTelemetry API. */
  static ClientInterceptor load(ClassLoader loader) {
    try {
      Class.forName(API_CLASS, false, loader);
      return (ClientInterceptor) Class.forName(INTERCEPTOR_CLASS, true, loader)
          .getDeclaredConstructor().newInstance();
    } catch (ReflectiveOperationException | LinkageError e) {
      return null;
    }
  }
}
