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
 * bench}: prints {@code records=N bytes=B seconds=S} on its last line. Environment: FERRY_ADDR,
 * FERRY_BENCH_TOPIC.
 */
public final class ReadBench {
  private ReadBench() {}

  public static void main(String[] args) throws Exception {
    ManagedChannel channel = Ferry.connect(System.getenv("FERRY_ADDR"));
    long[] counts = new long[2];
    CompletableFuture<Void> done = new CompletableFuture<>();
    long start = System.nanoTime();
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
                            .setTopics(TopicList.newBuilder().addTopics(System.getenv("FERRY_BENCH_TOPIC")))
                            .setBoundedness(Boundedness.BOUNDEDNESS_BOUNDED)))
            .build());
    done.get();
    double seconds = (System.nanoTime() - start) / 1e9;
    channel.shutdownNow();
    System.out.printf("records=%d bytes=%d seconds=%.3f%n", counts[0], counts[1], seconds);
  }
}
