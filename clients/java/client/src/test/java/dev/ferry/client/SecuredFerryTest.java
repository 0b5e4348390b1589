package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Connecting to a secured ferry: TLS with a CA file, client certificates (mTLS) and bearer tokens,
 * through {@link Ferry#connect(String, Ferry.Credentials)} and the builders' setFerryTls /
 * setFerryToken, against three ferry processes of this class's own (TLS with optional client
 * certificates, TLS requiring them, plaintext on loopback) and the real Kafka broker.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SecuredFerryTest {
  private static final String TOPIC_PREFIX = "ferry-java-secured";
  private static final String TOKEN_A = "token-a-" + UUID.randomUUID();  // team-a: this class's topics
  private static final String TOKEN_B = "token-b-" + UUID.randomUUID();  // team-b: other topics only
  private static final String WRONG_TOKEN = "wrong-" + UUID.randomUUID();

  @TempDir static Path dir;
  private static Path ca;
  private static Path otherCa;
  private static SecuredFerry.KeyPair client;
  private static SecuredFerry tlsFerry;
  private static SecuredFerry mtlsFerry;
  private static SecuredFerry plainFerry;
  private static String topic;

  @BeforeAll
  static void setUp() throws Exception {
    SecuredFerry.Pki trusted = new SecuredFerry.Pki(dir, "trusted");
    ca = trusted.ca.cert();
    SecuredFerry.KeyPair server = trusted.issue("ferry-server", true);
    client = trusted.issue("team-a", false);
    otherCa = new SecuredFerry.Pki(dir, "other").ca.cert();
    Path tokens = SecuredFerry.tokensFile(dir.resolve("tokens"), Map.of("team-a", TOKEN_A, "team-b", TOKEN_B));
    String common = SecuredFerry.members(Map.of(
        "tokens_file", "\"" + tokens + "\"",
        "principals", "{" + SecuredFerry.members(Map.of(
            "team-a", SecuredFerry.rights(TOPIC_PREFIX + "-*"),
            "team-b", SecuredFerry.rights("elsewhere-*"))) + "}"));
    String tls = String.format("\"tls\": {\"cert_file\": \"%s\", \"key_file\": \"%s\", \"client_ca_file\": \"%s\", "
        + "\"require_client_cert\": %%s}", server.cert(), server.key(), ca);
    Ferry.Credentials withCert = Ferry.Credentials.tls().trustCa(ca).clientCertificate(client.cert(), client.key());
    tlsFerry = SecuredFerry.start(dir.resolve("tls"), common + ", " + String.format(tls, false), withCert);
    mtlsFerry = SecuredFerry.start(dir.resolve("mtls"), common + ", " + String.format(tls, true), withCert);
    plainFerry = SecuredFerry.start(dir.resolve("plain"), common, Ferry.Credentials.insecure());
    try (Admin admin = TestEnv.admin(TestEnv.kafkaBootstrap())) {
      topic = TestEnv.createTopic(admin, "secured", 2);
    }
  }

  @AfterAll
  static void tearDown() throws InterruptedException {
    for (SecuredFerry f : new SecuredFerry[] {tlsFerry, mtlsFerry, plainFerry}) {
      if (f != null) {
        f.close();
      }
    }
  }

  /** What configures a builder's server and credentials (both builders extend FerryClientBuilder). */
  interface Setup {
    <B extends FerryClientBuilder<B>> B apply(B builder);
  }

  /** Writes three values and reads them back with a bounded source, both configured by setup. */
  private static void roundTrip(Setup setup) {
    List<String> values = IntStream.range(0, 3).mapToObj(i -> i + "-" + UUID.randomUUID()).toList();
    KafkaSink<String> sink = setup.apply(KafkaSink.<String>builder())
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(topic)
            .setValueSerializationSchema(new SimpleStringSchema())
            .build())
        .build();
    try (SinkWriter<String> writer = sink.open()) {
      values.forEach(writer::write);
    }
    List<String> read = new ArrayList<>();
    try (SourceReader<String> reader = source(setup).open()) {
      reader.forEach(r -> read.add(r.value()));
    }
    assertTrue(read.containsAll(values), "read " + read + ", wrote " + values);
  }

  private static KafkaSource<String> source(Setup setup) {
    return setup.apply(KafkaSource.<String>builder())
        .setTopics(topic)
        .setBounded(OffsetsInitializer.latest())
        .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(new SimpleStringSchema()))
        .build();
  }

  /** Opens a bounded source and reads it to its end; returns the failure. */
  private static FerryException readFails(Setup setup) {
    return assertThrows(FerryException.class, () -> {
      try (SourceReader<String> reader = source(setup).open()) {
        reader.forEach(r -> { });
      }
    });
  }

  private static Setup tls(SecuredFerry ferry, Path trust, String token) {
    return new Setup() {
      @Override
      public <B extends FerryClientBuilder<B>> B apply(B b) {
        b.setFerryAddress(ferry.address()).setFerryTls(trust);
        return token == null ? b : b.setFerryToken(token);
      }
    };
  }

  @Test
  void tlsWithCaAndTokenRoundTrip() {
    roundTrip(tls(tlsFerry, ca, TOKEN_A));
  }

  @Test
  void clientCertificateAloneAuthenticates() {
    // A certificate from the client CA names the principal (its CN, team-a).
    roundTrip(new Setup() {
      @Override
      public <B extends FerryClientBuilder<B>> B apply(B b) {
        return b.setFerryAddress(tlsFerry.address()).setFerryTls(ca, client.cert(), client.key());
      }
    });
  }

  @Test
  void requiredMtlsWithClientCertificateRoundTrip() throws InterruptedException {
    // Through Ferry.connect and setFerryChannel: the channel carries the credentials.
    ManagedChannel channel = Ferry.connect(mtlsFerry.address(),
        Ferry.Credentials.tls().trustCa(ca).clientCertificate(client.cert(), client.key()));
    try {
      roundTrip(new Setup() {
        @Override
        public <B extends FerryClientBuilder<B>> B apply(B b) {
          return b.setFerryChannel(channel);
        }
      });
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void requiredMtlsRefusesClientWithoutCertificate() {
    assertEquals(Status.Code.UNAVAILABLE, readFails(tls(mtlsFerry, ca, TOKEN_A)).getCode());
  }

  @Test
  void wrongTokenIsUnauthenticated() {
    FerryException e = readFails(tls(tlsFerry, ca, WRONG_TOKEN));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getCode(), e.toString());
    assertFalse(e.toString().contains(WRONG_TOKEN), "the token is in " + e);
  }

  @Test
  void noTokenIsUnauthenticated() {
    assertEquals(Status.Code.UNAUTHENTICATED, readFails(tls(tlsFerry, ca, null)).getCode());
  }

  @Test
  void principalWithoutTheTopicIsPermissionDenied() {
    Setup teamB = tls(tlsFerry, ca, TOKEN_B);
    assertEquals(Status.Code.PERMISSION_DENIED, readFails(teamB).getCode());
    FerryException e = assertThrows(FerryException.class, () -> roundTrip(teamB));
    assertEquals(Status.Code.PERMISSION_DENIED, e.getCode(), e.toString());
  }

  @Test
  void untrustedServerCertificateFailsTheHandshake() {
    assertEquals(Status.Code.UNAVAILABLE, readFails(tls(tlsFerry, otherCa, TOKEN_A)).getCode());
  }

  @Test
  void tokenOverPlaintextLoopback() {
    roundTrip(new Setup() {
      @Override
      public <B extends FerryClientBuilder<B>> B apply(B b) {
        return b.setFerryAddress(plainFerry.address()).setFerryToken(TOKEN_A);
      }
    });
    FerryException e = readFails(new Setup() {
      @Override
      public <B extends FerryClientBuilder<B>> B apply(B b) {
        return b.setFerryAddress(plainFerry.address()).setFerryToken(WRONG_TOKEN);
      }
    });
    assertEquals(Status.Code.UNAUTHENTICATED, e.getCode());
  }

  @Test
  void filesAreReadAtBuild() throws Exception {
    Path notPem = Files.writeString(dir.resolve("not.pem"), "hello");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> KafkaSource.<String>builder().setFerryAddress(tlsFerry.address()).setFerryTls(notPem)
            .setTopics(topic)
            .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(new SimpleStringSchema()))
            .build());
    assertTrue(e.getMessage().startsWith("CA file " + notPem + ": no -----BEGIN block"), e.getMessage());
  }
}
