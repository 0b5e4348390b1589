package dev.ferry.client;

import dev.ferry.v1.SinkServiceGrpc;
import dev.ferry.v1.SourceServiceGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.util.Objects;

/**
 * Entry point of the ferry Java client.
 *
 * <p>This opens channels to a ferry server and returns the generated stubs of {@code
 * dev.ferry.v1} ({@link SourceServiceGrpc}, {@link SinkServiceGrpc}). The Flink-style facade is
 * {@link KafkaSource} and {@link KafkaSink}.
 */
public final class Ferry {
  private Ferry() {}

  /**
   * Opens a plaintext (no TLS) channel to a ferry server.
   *
   * @param hostPort the server address, "host:port" (any gRPC target string works)
   * @return a channel; the caller shuts it down
   */
  public static ManagedChannel connect(String hostPort) {
    Objects.requireNonNull(hostPort, "hostPort");
    if (hostPort.isBlank()) {
      throw new IllegalArgumentException("hostPort must not be empty");
    }
    return Grpc.newChannelBuilder(hostPort, InsecureChannelCredentials.create()).build();
  }

  /** Returns an asynchronous stub of {@code SourceService} on {@code channel}. */
  public static SourceServiceGrpc.SourceServiceStub source(io.grpc.Channel channel) {
    return SourceServiceGrpc.newStub(channel);
  }

  /** Returns an asynchronous stub of {@code SinkService} on {@code channel}. */
  public static SinkServiceGrpc.SinkServiceStub sink(io.grpc.Channel channel) {
    return SinkServiceGrpc.newStub(channel);
  }
}
