package dev.ferry.client;

import dev.ferry.v1.SinkServiceGrpc;
import dev.ferry.v1.SourceServiceGrpc;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.regex.Pattern;

/**
 * Entry point of the ferry Java client.
 *
 * <p>This opens channels to a ferry server and returns the generated stubs of {@code
 * dev.ferry.v1} ({@link SourceServiceGrpc}, {@link SinkServiceGrpc}). The Flink-style facade is
 * {@link KafkaSource} and {@link KafkaSink}.
 */
public final class Ferry {
  /** The environment variable that names the ferry server when no address is given. */
  public static final String ADDRESS_ENV = "FERRY_ADDRESS";

  /** The address used when neither an address nor {@value #ADDRESS_ENV} is given. */
  public static final String DEFAULT_ADDRESS = "127.0.0.1:50051";

  private Ferry() {}

  /**
   * The ferry server to use when a builder or {@link #connect()} is given none: the environment
   * variable {@value #ADDRESS_ENV} when it is set and not blank, else {@value #DEFAULT_ADDRESS} (what
   * {@code make run} listens on). Read at each call.
   *
   * @return "host:port" (or any gRPC target string the variable holds)
   */
  public static String defaultAddress() {
    String env = System.getenv(ADDRESS_ENV);
    return env != null && !env.isBlank() ? env.trim() : DEFAULT_ADDRESS;
  }

  /**
   * Opens a plaintext channel to the server of {@link #defaultAddress()}.
   *
   * @return a channel; shut it down when done
   */
  public static ManagedChannel connect() {
    return connect(defaultAddress());
  }

  /**
   * Opens a plaintext (no TLS) channel to a ferry server.
   *
   * @param hostPort the server address, "host:port" (any gRPC target string works)
   * @return a channel; the caller shuts it down
   */
  public static ManagedChannel connect(String hostPort) {
    return connect(hostPort, Credentials.insecure());
  }

  /**
   * Opens a channel to a secured ferry server, e.g.
   *
   * <pre>{@code
   * Ferry.connect("ferry.example:50051", Ferry.Credentials.tls()
   *     .trustCa(Path.of("ca.pem"))
   *     .clientCertificate(Path.of("client.pem"), Path.of("client-key.pem"))  // mTLS
   *     .token(System.getenv("FERRY_TOKEN")));                              // or a token
   * }</pre>
   *
   * @param hostPort the server address, "host:port" (any gRPC target string works)
   * @param credentials TLS, client certificate and token; the files are read here
   * @return a channel; the caller shuts it down
   * @throws IllegalArgumentException when a file cannot be read or is not PEM (naming it), or a
   *     token would be sent without TLS to an address that is not a loopback one
   */
  public static ManagedChannel connect(String hostPort, Credentials credentials) {
    Objects.requireNonNull(hostPort, "hostPort");
    Objects.requireNonNull(credentials, "credentials");
    if (hostPort.isBlank()) {
      throw new IllegalArgumentException("hostPort must not be empty");
    }
    return channel(hostPort, credentials.channelCredentials(hostPort));
  }

  /** A channel to hostPort with gRPC channel credentials (parsed here by the transport). */
  static ManagedChannel channel(String hostPort, ChannelCredentials credentials) {
    try {
      return Grpc.newChannelBuilder(hostPort, credentials).build();
    } catch (IllegalArgumentException e) {
      // e.g. a certificate or key that does not parse
      throw new IllegalArgumentException("ferry channel to " + hostPort + ": " + e.getMessage(), e);
    }
  }

  /**
   * How a client proves itself to a ferry server and checks the server: TLS with the CAs to trust,
   * a client certificate (mTLS), and a bearer token (or JWT) sent as {@code authorization: Bearer
   * ...} with every call. Immutable; each method returns a new value. The token never appears in
   * {@link #toString()} or in an exception message.
   */
  public static final class Credentials {
    /** The largest PEM file read (1 MiB, as ferry's own files). */
    static final int MAX_PEM_BYTES = 1 << 20;

    private static final Pattern IP_LITERAL = Pattern.compile("[0-9.]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*");

    private final boolean tls;
    private final Path caFile;
    private final Path certFile;
    private final Path keyFile;
    private final String token;

    private Credentials(boolean tls, Path caFile, Path certFile, Path keyFile, String token) {
      this.tls = tls;
      this.caFile = caFile;
      this.certFile = certFile;
      this.keyFile = keyFile;
      this.token = token;
    }

    /** TLS, trusting the JVM's default CAs unless {@link #trustCa} names others. */
    public static Credentials tls() {
      return new Credentials(true, null, null, null, null);
    }

    /**
     * No TLS: plaintext, as {@link Ferry#connect(String)}. A {@link #token} goes with it only to a
     * loopback address (127.0.0.0/8, ::1, localhost), for development.
     */
    public static Credentials insecure() {
      return new Credentials(false, null, null, null, null);
    }

    /** Trusts the CAs of a PEM file (the CA that signed ferry's certificate) instead of the JVM's. */
    public Credentials trustCa(Path caPem) {
      requireTls("trustCa");
      return new Credentials(true, Objects.requireNonNull(caPem, "caPem"), certFile, keyFile, token);
    }

    /**
     * A client certificate for mTLS: a PEM certificate chain (leaf first) and its private key, which
     * must be an unencrypted PKCS#8 PEM key ({@code -----BEGIN PRIVATE KEY-----}); convert another
     * with {@code openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem}.
     */
    public Credentials clientCertificate(Path certPem, Path keyPem) {
      requireTls("clientCertificate");
      return new Credentials(
          true, caFile, Objects.requireNonNull(certPem, "certPem"), Objects.requireNonNull(keyPem, "keyPem"), token);
    }

    /**
     * A bearer token or JWT sent as {@code authorization: Bearer <token>} with every call.
     *
     * @throws IllegalArgumentException unless it is printable ASCII without spaces (the message does
     *     not show it)
     */
    public Credentials token(String token) {
      Objects.requireNonNull(token, "token");
      if (token.isEmpty() || !token.chars().allMatch(c -> c > ' ' && c <= '~')) {
        throw new IllegalArgumentException(
            "token must be non-empty printable ASCII without spaces (the token is not shown)");
      }
      return new Credentials(tls, caFile, certFile, keyFile, token);
    }

    private void requireTls(String what) {
      if (!tls) {
        throw new IllegalStateException(what + " needs TLS: start from Ferry.Credentials.tls()");
      }
    }

    /** Whether this is TLS or has a token, i.e. anything but a plain channel. */
    boolean secured() {
      return tls || token != null;
    }

    /**
     * The gRPC channel credentials for a channel to hostPort; reads the files.
     *
     * @throws IllegalArgumentException naming the file when one cannot be read or is not the PEM
     *     expected, and for a token without TLS to an address that is not a loopback one
     */
    ChannelCredentials channelCredentials(String hostPort) {
      ChannelCredentials base = InsecureChannelCredentials.create();
      if (tls) {
        TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
        try {
          if (caFile != null) {
            b.trustManager(pem("CA file", caFile, "-----BEGIN "));
          }
          if (certFile != null) {
            b.keyManager(pem("certificate file", certFile, "-----BEGIN "),
                pem("key file", keyFile, "-----BEGIN PRIVATE KEY-----"));
          }
        } catch (IOException e) {
          throw new UncheckedIOException(e); // reading a byte array does not fail
        }
        base = b.build();
      }
      if (token == null) {
        return base;
      }
      if (!tls && !isLoopback(hostPort)) {
        throw new IllegalArgumentException("a token needs TLS: " + hostPort
            + " is not a loopback address, and the token would cross the network in clear;"
            + " use Ferry.Credentials.tls()");
      }
      return CompositeChannelCredentials.create(base, new BearerToken(token));
    }

    /**
     * A PEM file of at most {@link #MAX_PEM_BYTES} that contains marker, as a stream.
     *
     * @throws IllegalArgumentException naming what and the file otherwise
     */
    static InputStream pem(String what, Path file, String marker) {
      byte[] data;
      try {
        if (!Files.readAttributes(file, BasicFileAttributes.class).isRegularFile()) {
          throw new IllegalArgumentException(what + " " + file + ": not a regular file");
        }
        try (InputStream in = Files.newInputStream(file)) {
          data = in.readNBytes(MAX_PEM_BYTES + 1);
        }
      } catch (IOException e) {
        throw new IllegalArgumentException(what + " " + file + ": cannot read it: " + e, e);
      }
      if (data.length > MAX_PEM_BYTES) {
        throw new IllegalArgumentException(what + " " + file + ": larger than " + MAX_PEM_BYTES + " bytes");
      }
      String text = new String(data, StandardCharsets.US_ASCII);
      if (!text.contains(marker)) {
        throw new IllegalArgumentException(what + " " + file + ": no " + marker.trim() + " block in it"
            + (marker.contains("PRIVATE KEY")
                ? "; the key must be an unencrypted PKCS#8 PEM key: convert it with"
                    + " openssl pkcs8 -topk8 -nocrypt -in " + file + " -out key-pkcs8.pem"
                : ""));
      }
      return new ByteArrayInputStream(data);
    }

    /**
     * Whether a gRPC target names this machine only: a loopback IP literal (127.0.0.0/8, ::1),
     * {@code localhost}, or a Unix socket. Other host names are not resolved and count as remote.
     */
    static boolean isLoopback(String target) {
      if (target.startsWith("unix:") || target.startsWith("unix-abstract:")) {
        return true;
      }
      String host = target;
      for (String scheme : new String[] {"dns:///", "dns:"}) {
        if (host.startsWith(scheme)) {
          host = host.substring(scheme.length());
          break;
        }
      }
      if (host.startsWith("[")) {
        int end = host.indexOf(']');
        host = end < 0 ? host.substring(1) : host.substring(1, end);
      } else if (host.indexOf(':') >= 0 && host.indexOf(':') == host.lastIndexOf(':')) {
        host = host.substring(0, host.indexOf(':'));
      }
      if (host.equalsIgnoreCase("localhost")) {
        return true;
      }
      if (!IP_LITERAL.matcher(host).matches()) {
        return false;
      }
      try {
        return InetAddress.getByName(host).isLoopbackAddress(); // a literal: no lookup
      } catch (UnknownHostException e) {
        return false;
      }
    }

    /** Says what is set; the token only as "token=(set)". */
    @Override
    public String toString() {
      return "Ferry.Credentials[" + (tls ? "tls" : "insecure")
          + (caFile != null ? ", ca=" + caFile : "")
          + (certFile != null ? ", cert=" + certFile + ", key=" + keyFile : "")
          + (token != null ? ", token=(set)" : "") + "]";
    }
  }

  /** Sends {@code authorization: Bearer <token>} with every call. */
  private static final class BearerToken extends CallCredentials {
    private static final Metadata.Key<String> AUTHORIZATION =
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final String header;

    BearerToken(String token) {
      this.header = "Bearer " + token;
    }

    @Override
    public void applyRequestMetadata(RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
      Metadata headers = new Metadata();
      headers.put(AUTHORIZATION, header);
      applier.apply(headers);
    }

    @Override
    public String toString() {
      return "BearerToken[(hidden)]";
    }
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
