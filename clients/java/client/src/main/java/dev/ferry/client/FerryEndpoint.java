package dev.ferry.client;

import io.grpc.ChannelCredentials;
import io.grpc.ManagedChannel;
import java.util.function.Consumer;

/**
 * Where a built {@link KafkaSource} or {@link KafkaSink} opens its sessions: the caller's channel,
 * which every session shares and none shuts down, or else the address of a ferry server, for which
 * each session opens a channel of its own (with the endpoint's credentials) and shuts it down when it
 * ends. {@link FerryClientBuilder#endpoint()} makes one.
 */
final class FerryEndpoint {
  /** Starts a session on a channel; {@code ownsChannel} says the session shuts the channel down. */
  @FunctionalInterface
  interface Session<S> {
    S start(ManagedChannel channel, boolean ownsChannel);
  }

  private final ManagedChannel channel;
  private final String address;
  private final ChannelCredentials credentials;

  /**
   * The caller's channel or, when it is null, the server's address and the credentials of the
   * channels opened to it.
   */
  FerryEndpoint(ManagedChannel channel, String address, ChannelCredentials credentials) {
    this.channel = channel;
    this.address = address;
    this.credentials = credentials;
  }

  /**
   * A restore state from its bytes ({@code toByteArray()} of the state message).
   *
   * @throws IllegalArgumentException for bytes that are not such a message
   */
  static <M> M parseState(byte[] bytes, com.google.protobuf.Parser<M> parser, String what) {
    try {
      return parser.parseFrom(bytes);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("the restore state is not a serialized " + what + ": " + e.getMessage(), e);
    }
  }

  /**
   * Starts a session: passes {@code restore} to {@code setRestore} unless it is null, then returns
   * what {@code session} starts on this endpoint's channel.
   *
   * <p>As in Flink, a restored source resumes at the checkpoint's offsets and a restored sink first
   * commits the checkpoint's prepared transactions: a sink opened without that state cannot commit
   * them, and their records are lost when they are aborted. A channel opened here belongs to the
   * session, which shuts it down also when it fails to open, so none is left behind.
   */
  <R, S> S open(R restore, Consumer<R> setRestore, Session<S> session) {
    if (restore != null) {
      setRestore.accept(restore);
    }
    if (channel != null) {
      return session.start(channel, false);
    }
    return session.start(Ferry.channel(address, credentials), true);
  }
}
