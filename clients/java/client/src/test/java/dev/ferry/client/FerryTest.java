package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Ferry's own small API; needs no server. */
class FerryTest {
  private static final String TOKEN = "secret-" + java.util.UUID.randomUUID();

  @TempDir Path dir;

  @Test
  void connectRejectsAnEmptyAddress() {
    assertThrows(NullPointerException.class, () -> Ferry.connect(null));
    assertThrows(IllegalArgumentException.class, () -> Ferry.connect(" "));
  }

  @Test
  void connectIsLazy() throws InterruptedException {
    // Building a channel does not dial: nothing listens here and this still succeeds.
    ManagedChannel channel = Ferry.connect("127.0.0.1:1");
    try {
      assertNotNull(Ferry.source(channel));
      assertNotNull(Ferry.sink(channel));
    } finally {
      shutdown(channel);
    }
  }

  private static void shutdown(ManagedChannel channel) throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void tokenWithoutTlsOffLoopbackIsRefused() {
    for (String address : List.of("ferry.example:50051", "10.1.2.3:50051", "[2001:db8::1]:50051",
        "dns:///ferry.example:443")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Ferry.connect(address, Ferry.Credentials.insecure().token(TOKEN)), address);
      assertTrue(e.getMessage().startsWith("a token needs TLS: " + address), e.getMessage());
      assertFalse(e.getMessage().contains(TOKEN));
      assertThrows(IllegalArgumentException.class, () -> KafkaSource.<String>builder()
          .setFerryAddress(address).setFerryToken(TOKEN).setTopics("t")
          .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(new SimpleStringSchema()))
          .build(), address);
    }
  }

  @Test
  void tokenWithoutTlsOnLoopbackIsAllowed() throws InterruptedException {
    for (String address : List.of("127.0.0.1:1", "127.5.6.7:1", "[::1]:1", "localhost:1", "dns:///localhost:1")) {
      shutdown(Ferry.connect(address, Ferry.Credentials.insecure().token(TOKEN)));
    }
  }

  @Test
  void badTokenIsRefusedWithoutShowingIt() {
    for (String token : List.of("", "has space", "line\nbreak")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Ferry.Credentials.tls().token(token));
      assertTrue(e.getMessage().startsWith("token must be"), e.getMessage());
      assertTrue(token.isEmpty() || !e.getMessage().contains(token), e.getMessage());
    }
    String shown = Ferry.Credentials.tls().trustCa(Path.of("ca.pem")).token(TOKEN).toString();
    assertEquals("Ferry.Credentials[tls, ca=ca.pem, token=(set)]", shown);
  }

  @Test
  void filesAreCheckedAndNamed() throws Exception {
    Path missing = dir.resolve("missing.pem");
    assertMessage("CA file " + missing + ": cannot read it", Ferry.Credentials.tls().trustCa(missing));
    assertMessage("CA file " + dir + ": not a regular file", Ferry.Credentials.tls().trustCa(dir));
    Path large = dir.resolve("large.pem");
    Files.write(large, new byte[Ferry.Credentials.MAX_PEM_BYTES + 1]);
    assertMessage("CA file " + large + ": larger than", Ferry.Credentials.tls().trustCa(large));
    Path cert = Files.writeString(dir.resolve("cert.pem"), "-----BEGIN CERTIFICATE-----\n");
    Path pkcs1 = Files.writeString(dir.resolve("key.pem"), "-----BEGIN RSA PRIVATE KEY-----\n");
    assertMessage("key file " + pkcs1 + ": no -----BEGIN PRIVATE KEY----- block in it; the key must be an"
        + " unencrypted PKCS#8 PEM key: convert it with openssl pkcs8 -topk8 -nocrypt -in " + pkcs1,
        Ferry.Credentials.tls().clientCertificate(cert, pkcs1));
  }

  private static void assertMessage(String prefix, Ferry.Credentials credentials) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Ferry.connect("127.0.0.1:1", credentials));
    assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
  }

  @Test
  void contradictingSettingsAreRefused() throws InterruptedException {
    assertThrows(IllegalStateException.class, () -> Ferry.Credentials.insecure().trustCa(Path.of("ca.pem")));
    assertThrows(IllegalStateException.class,
        () -> Ferry.Credentials.insecure().clientCertificate(Path.of("c.pem"), Path.of("k.pem")));
    ManagedChannel channel = Ferry.connect("127.0.0.1:1");
    try {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> KafkaSink.<String>builder()
          .setFerryChannel(channel).setFerryToken(TOKEN)
          .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
              .setTopic("t").setValueSerializationSchema(new SimpleStringSchema()).build())
          .build());
      assertTrue(e.getMessage().contains("carries its own credentials"), e.getMessage());
    } finally {
      shutdown(channel);
    }
  }
}
