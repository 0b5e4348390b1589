package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Ferry's own small API; needs no server. */
class FerryTest {
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
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
