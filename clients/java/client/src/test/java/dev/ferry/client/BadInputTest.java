package dev.ferry.client;

import static dev.ferry.client.TestEnv.TIMEOUT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.ferry.v1.Boundedness;
import dev.ferry.v1.OpenSource;
import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.SinkRecord;
import dev.ferry.v1.SourceSpec;
import dev.ferry.v1.WriteBatch;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Bad input gets the status codes the proto documents. */
class BadInputTest {
  private static ManagedChannel channel;

  @BeforeAll
  static void setUp() {
    String addr = TestEnv.ferryAddr();
    TestEnv.kafkaBootstrap(); // the server under test must be connected to the test broker
    channel = Ferry.connect(addr);
  }

  @AfterAll
  static void tearDown() throws InterruptedException {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void sourceOpenWithoutSubscriptionIsInvalidArgument() throws InterruptedException {
    StreamRecorder<ReadResponse> responses = new StreamRecorder<>("SourceService.Read");
    StreamObserver<ReadRequest> requests =
        Ferry.source(channel).withWaitForReady().read(responses);
    try {
      requests.onNext(ReadRequest.newBuilder()
          .setOpen(OpenSource.newBuilder()
              .setSpec(SourceSpec.newBuilder().setBoundedness(Boundedness.BOUNDEDNESS_BOUNDED)))
          .build());
      Status status = responses.awaitError(TIMEOUT);
      assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode(), StreamRecorder.describe(status));
      String description = String.valueOf(status.getDescription());
      assertTrue(description.toLowerCase(Locale.ROOT).contains("subscription"),
          "the description should name the missing subscription: " + StreamRecorder.describe(status));
    } finally {
      cancel(requests);
    }
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void sinkRecordsBeforeOpenIsFailedPrecondition() throws InterruptedException {
    StreamRecorder<WriteResponse> responses = new StreamRecorder<>("SinkService.Write");
    StreamObserver<WriteRequest> requests =
        Ferry.sink(channel).withWaitForReady().write(responses);
    try {
      requests.onNext(WriteRequest.newBuilder()
          .setRecords(WriteBatch.newBuilder()
              .setSequence(1)
              .addRecords(SinkRecord.newBuilder()
                  .setTopic("ferry-java-never-written")
                  .setValue(ByteString.copyFromUtf8("before open"))))
          .build());
      Status status = responses.awaitError(TIMEOUT);
      assertEquals(Status.Code.FAILED_PRECONDITION, status.getCode(), StreamRecorder.describe(status));
    } finally {
      cancel(requests);
    }
  }

  private static <T> void cancel(StreamObserver<T> requests) {
    try {
      requests.onError(Status.CANCELLED.withDescription("test over").asRuntimeException());
    } catch (RuntimeException ignored) {
      // the call is already over
    }
  }
}
