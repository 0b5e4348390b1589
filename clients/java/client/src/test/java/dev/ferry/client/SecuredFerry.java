package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.fail;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * A ferry process of a test's own, started from a config file with {@code --kafka
 * $FERRY_TEST_KAFKA}, and the certificates (made with openssl) and tokens files such configs name.
 * The binary is {@code FERRY_BIN}, else {@code bin/ferry} at the repository root.
 */
final class SecuredFerry implements AutoCloseable {
  private static final long START_TIMEOUT_MS = 30_000;

  private final Process process;
  private final Path log;
  private final String address;

  private SecuredFerry(Process process, Path log, String address) {
    this.process = process;
    this.log = log;
    this.address = address;
  }

  /** The address ferry listens on (loopback). */
  String address() {
    return address;
  }

  /**
   * Starts ferry with configJson (the body of a JSON object without braces: listen and
   * health_public are added) in dir, and waits until its health check, over a channel with
   * healthCredentials, says SERVING.
   */
  static SecuredFerry start(Path dir, String configJson, Ferry.Credentials healthCredentials) throws Exception {
    Files.createDirectories(dir);
    Path config = Files.writeString(dir.resolve("ferry.json"),
        "{\"listen\": \"127.0.0.1:0\", \"health_public\": true, " + configJson + "}");
    Path addrFile = dir.resolve("addr");
    Path log = dir.resolve("ferry.log");
    Process p = new ProcessBuilder(ferryBin(), "serve", "--config", config.toString(),
        "--kafka", TestEnv.kafkaBootstrap(), "--addr-file", addrFile.toString(), "--log-level", "warn")
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    SecuredFerry ferry = null;
    try {
      ferry = new SecuredFerry(p, log, waitServing(p, addrFile, log, healthCredentials));
      return ferry;
    } finally {
      if (ferry == null) {
        p.destroyForcibly();
      }
    }
  }

  private static String waitServing(Process p, Path addrFile, Path log, Ferry.Credentials creds) throws Exception {
    long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
    while (System.currentTimeMillis() < deadline) {
      if (!p.isAlive()) {
        fail("ferry exited " + p.exitValue() + ": " + Files.readString(log));
      }
      String addr = Files.exists(addrFile) ? Files.readString(addrFile).trim() : "";
      if (!addr.isEmpty() && serving(addr, creds)) {
        return addr;
      }
      Thread.sleep(100);
    }
    fail("ferry not SERVING within " + START_TIMEOUT_MS + " ms: " + Files.readString(log));
    return null;
  }

  /** Whether grpc.health.v1.Health/Check answers SERVING (the message {status: 1}). */
  private static boolean serving(String addr, Ferry.Credentials creds) throws InterruptedException {
    MethodDescriptor<byte[], byte[]> check = MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName("grpc.health.v1.Health/Check")
        .setRequestMarshaller(BYTES)
        .setResponseMarshaller(BYTES)
        .build();
    ManagedChannel channel = Ferry.connect(addr, creds);
    try {
      byte[] status = ClientCalls.blockingUnaryCall(
          channel, check, CallOptions.DEFAULT.withDeadlineAfter(2, TimeUnit.SECONDS), new byte[0]);
      return status.length == 2 && status[0] == 0x08 && status[1] == 0x01;
    } catch (StatusRuntimeException e) {
      return false;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  };

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(15, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
    }
  }

  @Override
  public String toString() {
    return "ferry at " + address + " (log " + log + ")";
  }

  private static String ferryBin() {
    String bin = System.getenv("FERRY_BIN");
    if (bin == null || bin.isBlank()) {
      // Maven runs the tests in a module directory: find the repository root (the one with go.mod).
      Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
      while (dir.getParent() != null && !Files.exists(dir.resolve("go.mod"))) {
        dir = dir.getParent();
      }
      bin = dir.resolve("bin/ferry").toString();
    }
    if (!Files.isExecutable(Path.of(bin))) {
      fail("no ferry binary at " + bin + " (set FERRY_BIN or build bin/ferry)");
    }
    return bin;
  }

  /** Writes a tokens file (principal to token) holding "principal sha256:hex" lines. */
  static Path tokensFile(Path file, Map<String, String> tokens) throws IOException, NoSuchAlgorithmException {
    StringBuilder b = new StringBuilder();
    for (Map.Entry<String, String> e : tokens.entrySet()) {
      byte[] sum = MessageDigest.getInstance("SHA-256").digest(e.getValue().getBytes(StandardCharsets.UTF_8));
      b.append(e.getKey()).append(" sha256:").append(HexFormat.of().formatHex(sum)).append('\n');
    }
    return Files.writeString(file, b.toString());
  }

  /** A principal's rights: every cluster and group, read and write topics matching pattern. */
  static String rights(String pattern) {
    return String.format("{\"clusters\": [\"*\"], \"read_topics\": [\"%1$s\"], \"write_topics\": [\"%1$s\"],"
        + " \"groups\": [\"*\"], \"transactional_id_prefixes\": [\"*\"]}", pattern);
  }

  /** JSON object members, "name": value, of a map whose values are JSON already. */
  static String members(Map<String, String> jsonValues) {
    return jsonValues.entrySet().stream()
        .map(e -> "\"" + e.getKey() + "\": " + e.getValue())
        .collect(Collectors.joining(", "));
  }

  /** A PEM certificate and its PKCS#8 PEM private key. */
  record KeyPair(Path cert, Path key) {}

  /** A throw-away CA in a directory, issuing P-256 certificates valid for a day. */
  static final class Pki {
    private static final SecureRandom RANDOM = new SecureRandom();
    private final Path dir;
    final KeyPair ca;

    Pki(Path dir, String name) throws Exception {
      this.dir = dir;
      this.ca = new KeyPair(dir.resolve(name + "-ca.pem"), dir.resolve(name + "-ca-key.pem"));
      openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", ca.key().toString(), "-out", ca.cert().toString(), "-days", "1",
          "-subj", "/CN=" + name + " test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    /**
     * A certificate with subject CN=cn: for a server on loopback (SANs 127.0.0.1, ::1, localhost)
     * or for a client (whose principal is cn).
     */
    KeyPair issue(String cn, boolean server) throws Exception {
      KeyPair out = new KeyPair(dir.resolve(cn + ".pem"), dir.resolve(cn + "-key.pem"));
      Path csr = dir.resolve(cn + ".csr");
      Path ext = Files.writeString(dir.resolve(cn + ".ext"), server
          ? "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
          : "extendedKeyUsage=clientAuth\n");
      openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", out.key().toString(), "-out", csr.toString(), "-subj", "/CN=" + cn);
      openssl("x509", "-req", "-in", csr.toString(), "-CA", ca.cert().toString(), "-CAkey", ca.key().toString(),
          "-set_serial", Long.toString(RANDOM.nextLong() & Long.MAX_VALUE), "-days", "1",
          "-out", out.cert().toString(), "-extfile", ext.toString());
      return out;
    }

    private void openssl(String... args) throws Exception {
      String[] cmd = new String[args.length + 1];
      cmd[0] = "openssl";
      System.arraycopy(args, 0, cmd, 1, args.length);
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        fail("openssl " + String.join(" ", args) + " failed: " + output);
      }
    }
  }
}
