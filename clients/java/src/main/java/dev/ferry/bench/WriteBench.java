package dev.ferry.bench;

import com.google.protobuf.UnsafeByteOperations;
import dev.ferry.client.Ferry;
import dev.ferry.v1.Close;
import dev.ferry.v1.DeliveryGuarantee;
import dev.ferry.v1.OpenSink;
import dev.ferry.v1.SinkRecord;
import dev.ferry.v1.SinkServiceGrpc;
import dev.ferry.v1.SinkSpec;
import dev.ferry.v1.WriteBatch;
import dev.ferry.v1.WriteRequest;
import dev.ferry.v1.WriteResponse;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.Collections;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

/**
 * AT_LEAST_ONCE write of FERRY_BENCH_N records through ferry with the Java client's generated
 * stubs, for {@code make bench}: prints {@code records=N bytes=B seconds=S} on its last line, N
 * being the count of ferry's closed answer. Environment: FERRY_ADDR, FERRY_BENCH_TOPIC,
 * FERRY_BENCH_N, FERRY_BENCH_VALUE_SIZE, FERRY_BENCH_BATCH (records per request, default 1000).
 *
 * <p>The value and each request's batch of records are built once; every request only sets its
 * sequence number on them (which shares the record list). Sending follows gRPC flow control
 * ({@code isReady}), so the client never buffers more than the transport accepts.
 */
public final class WriteBench {
  private WriteBench() {}

  public static void main(String[] args) throws Exception {
    String topic = System.getenv("FERRY_BENCH_TOPIC");
    long n = Long.parseLong(System.getenv("FERRY_BENCH_N"));
    int size = Integer.parseInt(System.getenv("FERRY_BENCH_VALUE_SIZE"));
    String batchEnv = System.getenv("FERRY_BENCH_BATCH");
    int batch = batchEnv == null ? 1000 : Integer.parseInt(batchEnv);
    byte[] bytes = new byte[size];
    new Random().nextBytes(bytes);
    SinkRecord record =
        SinkRecord.newBuilder().setValue(UnsafeByteOperations.unsafeWrap(bytes)).build();
    WriteBatch full =
        WriteBatch.newBuilder()
            .addAllRecords(Collections.nCopies((int) Math.min(batch, n), record))
            .build();
    WriteBatch tail =
        WriteBatch.newBuilder().addAllRecords(Collections.nCopies((int) (n % batch), record)).build();

    ManagedChannel channel = Ferry.connect(System.getenv("FERRY_ADDR"));
    Object ready = new Object();
    CompletableFuture<Long> closed = new CompletableFuture<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    @SuppressWarnings("unchecked")
    ClientCallStreamObserver<WriteRequest>[] holder = new ClientCallStreamObserver[1];
    long start = System.nanoTime();
    SinkServiceGrpc.newStub(channel)
        .write(
            new ClientResponseObserver<WriteRequest, WriteResponse>() {
              @Override
              public void beforeStart(ClientCallStreamObserver<WriteRequest> stream) {
                holder[0] = stream;
                stream.setOnReadyHandler(() -> wake());
              }

              @Override
              public void onNext(WriteResponse r) {
                if (r.hasClosed()) {
                  closed.complete(r.getClosed().getRecordsWritten());
                }
              }

              @Override
              public void onError(Throwable t) {
                closed.completeExceptionally(t);
                done.completeExceptionally(t);
                wake();
              }

              @Override
              public void onCompleted() {
                closed.completeExceptionally(
                    new IllegalStateException("the stream ended before closed"));
                done.complete(null);
                wake();
              }

              private void wake() {
                synchronized (ready) {
                  ready.notifyAll();
                }
              }
            });
    ClientCallStreamObserver<WriteRequest> requests = holder[0];
    requests.onNext(
        WriteRequest.newBuilder()
            .setOpen(
                OpenSink.newBuilder()
                    .setSpec(
                        SinkSpec.newBuilder()
                            .setDeliveryGuarantee(
                                DeliveryGuarantee.DELIVERY_GUARANTEE_AT_LEAST_ONCE)
                            .setDefaultTopic(topic)))
            .build());
    long sent = 0;
    for (long seq = 0; sent < n; seq++) {
      WriteBatch b = n - sent >= full.getRecordsCount() ? full : tail;
      synchronized (ready) {
        while (!requests.isReady() && !done.isDone()) {
          ready.wait(10);
        }
      }
      if (done.isDone()) {
        break; // closed.get() below reports why
      }
      requests.onNext(WriteRequest.newBuilder().setRecords(b.toBuilder().setSequence(seq)).build());
      sent += b.getRecordsCount();
    }
    if (!done.isDone()) {
      requests.onNext(WriteRequest.newBuilder().setClose(Close.getDefaultInstance()).build());
    }
    long written = closed.get();
    double seconds = (System.nanoTime() - start) / 1e9;
    requests.onCompleted();
    done.get();
    channel.shutdownNow();
    System.out.printf("records=%d bytes=%d seconds=%.3f%n", written, sent * size, seconds);
  }
}
