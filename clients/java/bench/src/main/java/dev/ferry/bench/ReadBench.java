package dev.ferry.bench;

import dev.ferry.client.Ferry;
import dev.ferry.v1.Boundedness;
import dev.ferry.v1.OpenSource;
import dev.ferry.v1.ReadRequest;
import dev.ferry.v1.ReadResponse;
import dev.ferry.v1.Record;
import dev.ferry.v1.SourceServiceGrpc;
import dev.ferry.v1.SourceSpec;
import dev.ferry.v1.TopicList;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;

/**
 * Bounded read of a topic through ferry with the Java client's generated stubs, for {@code make
 * bench} (protocol in {@link BenchProtocol}): FERRY_BENCH_WARMUPS whole reads first (for the JIT),
 * then the line {@code timed}, the measured read, and last {@code records=N bytes=B seconds=S
 * cpu=C cold_seconds=X}. S runs from opening the stream to its end after end_of_input; X is the
 * first read's time. Environment: FERRY_ADDR, FERRY_BENCH_TOPIC, FERRY_BENCH_WARMUPS (default 0).
 *
 * <p>Every read is a new stream on the one channel of the JVM.
 */
public final class ReadBench {
  private ReadBench() {}

  public static void main(String[] args) throws Exception {
    ManagedChannel channel = Ferry.connect(BenchProtocol.env("FERRY_ADDR"));
    String topic = BenchProtocol.env("FERRY_BENCH_TOPIC");
    BenchProtocol.main(() -> read(channel, topic), () -> read(channel, topic));
    channel.shutdownNow();
  }

  /** Reads the topic whole; returns {records, value bytes}. */
  private static long[] read(ManagedChannel channel, String topic) throws Exception {
    long[] counts = new long[2];
    CompletableFuture<Void> done = new CompletableFuture<>();
    StreamObserver<ReadRequest> requests =
        SourceServiceGrpc.newStub(channel)
            .withMaxInboundMessageSize(64 << 20)
            .read(
                new StreamObserver<ReadResponse>() {
                  @Override
                  public void onNext(ReadResponse r) {
                    if (r.hasRecords()) {
                      for (Record rec : r.getRecords().getRecordsList()) {
                        counts[0]++;
                        counts[1] += rec.getValue().size();
                      }
                    }
                  }

                  @Override
                  public void onError(Throwable t) {
                    done.completeExceptionally(t);
                  }

                  @Override
                  public void onCompleted() {
                    done.complete(null);
                  }
                });
    requests.onNext(
        ReadRequest.newBuilder()
            .setOpen(
                OpenSource.newBuilder()
                    .setSpec(
                        SourceSpec.newBuilder()
                            .setTopics(TopicList.newBuilder().addTopics(topic))
                            .setBoundedness(Boundedness.BOUNDEDNESS_BOUNDED)))
            .build());
    done.get(); // the server ends the stream with OK after end_of_input
    return counts;
  }
}
