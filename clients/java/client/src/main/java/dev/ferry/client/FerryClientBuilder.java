package dev.ferry.client;

import dev.ferry.v1.JobCheckpoints;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The settings of the ferry server that {@link KafkaSource.Builder} and {@link KafkaSink.Builder}
 * share: a channel of the caller's, or the address of a server with its credentials (TLS, a client
 * certificate, a token), for which each reader or writer opens and closes its own channel; and the
 * job whose checkpoints ferry keeps ({@link #setJob}).
 *
 * @param <B> the builder type, which every setter returns
 */
public abstract class FerryClientBuilder<B extends FerryClientBuilder<B>> {
  private ManagedChannel channel;
  private String address;
  private Ferry.Credentials tls;
  private String token;
  private final JobCheckpoints.Builder job = JobCheckpoints.newBuilder().setRestoreLatest(true);

  FerryClientBuilder() {}

  @SuppressWarnings("unchecked")
  private B self() {
    return (B) this;
  }

  /**
   * The channel to the ferry server; the caller keeps ownership and shuts it down. It carries its
   * own credentials: {@link Ferry#connect(String, Ferry.Credentials)}.
   */
  public B setFerryChannel(ManagedChannel channel) {
    this.channel = Objects.requireNonNull(channel, "channel");
    return self();
  }

  /**
   * The ferry server address; each reader or writer opens and closes its own channel. Without this
   * and without {@link #setFerryChannel}, {@link Ferry#defaultAddress()}: the environment variable
   * {@code FERRY_ADDRESS}, else 127.0.0.1:50051.
   */
  public B setFerryAddress(String hostPort) {
    this.address = Objects.requireNonNull(hostPort, "hostPort");
    return self();
  }

  /**
   * TLS to the server of {@link #setFerryAddress}, trusting the CAs of a PEM file (null trusts the
   * JVM's default CAs).
   */
  public B setFerryTls(Path caPem) {
    this.tls = trusting(caPem);
    return self();
  }

  /**
   * TLS to the server of {@link #setFerryAddress} with a client certificate (mTLS): the CA file to
   * trust (null trusts the JVM's default CAs), the certificate and its unencrypted PKCS#8 PEM key
   * (see {@link Ferry.Credentials#clientCertificate}).
   */
  public B setFerryTls(Path caPem, Path certPem, Path keyPem) {
    this.tls = trusting(caPem).clientCertificate(certPem, keyPem);
    return self();
  }

  private static Ferry.Credentials trusting(Path caPem) {
    return caPem != null ? Ferry.Credentials.tls().trustCa(caPem) : Ferry.Credentials.tls();
  }

  /**
   * A bearer token or JWT sent as {@code authorization: Bearer ...} with every call to the server of
   * {@link #setFerryAddress}; it needs {@link #setFerryTls} unless the address is a loopback one.
   */
  public B setFerryToken(String token) {
    Ferry.Credentials.insecure().token(token); // checks it
    this.token = token;
    return self();
  }

  /**
   * Checkpoints kept by ferry: the readers (or writers) are streams of operator {@code operator}
   * (Flink's operator uid) of job {@code job}. ferry stores each barrier's state (each prepared
   * state) before it answers, the job's checkpoints complete through {@link JobCoordinator} (not
   * {@link SourceReader#notifyCheckpointComplete} or {@link SinkWriter#commit}; a writer then commits,
   * see {@link SinkWriter#awaitCommitted}), and a session opened with {@code open()} restores the
   * newest completed checkpoint of the job: a reader resumes from the union of the operator's reader
   * states, whatever the parallelism was; a writer commits that checkpoint's prepared transactions
   * and aborts lingering ones. {@code restoredCheckpointId()} says which checkpoint (0 and
   * {@code restoreNote()} for a fresh start). The client keeps nothing. See
   * {@link #setRestoreLatest}.
   *
   * @throws IllegalArgumentException for an empty job or operator
   */
  public B setJob(String job, String operator) {
    JobSessions.set(this.job, job, operator);
    return self();
  }

  /**
   * With {@link #setJob}: whether a session restores the job's newest completed checkpoint (true,
   * the default) or starts fresh (a reader from the starting offsets).
   */
  public B setRestoreLatest(boolean restoreLatest) {
    job.setRestoreLatest(restoreLatest);
    return self();
  }

  /** The JobCheckpoints of {@link #setJob}; without a job, its job name is empty. */
  JobCheckpoints jobCheckpoints() {
    return job.build();
  }

  /**
   * Where the built source or sink opens sessions; the files are read here.
   *
   * @throws IllegalStateException with TLS or a token and a channel
   * @throws IllegalArgumentException as {@link Ferry#connect(String, Ferry.Credentials)}
   */
  FerryEndpoint endpoint() {
    Ferry.Credentials c = tls != null ? tls : Ferry.Credentials.insecure();
    if (token != null) {
      c = c.token(token);
    }
    if (channel != null) {
      if (c.secured()) {
        throw new IllegalStateException("setFerryTls and setFerryToken apply to setFerryAddress; a channel"
            + " from setFerryChannel carries its own credentials (Ferry.connect(hostPort, credentials))");
      }
      return new FerryEndpoint(channel, null, null);
    }
    String target = address != null ? address : Ferry.defaultAddress();
    return new FerryEndpoint(null, target, c.channelCredentials(target));
  }
}
