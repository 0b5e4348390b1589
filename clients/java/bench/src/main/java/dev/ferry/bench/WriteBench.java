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
 * AT_LEAST_ONCE writes through ferry with the Java client's generated stubs, for {@code make bench}
 * (protocol in {@link BenchProtocol}): FERRY_BENCH_WARMUPS writes of FERRY_BENCH_WARMUP_N records
 * into FERRY_BENCH_WARMUP_TOPIC first (for the JIT), then the line {@code timed}, the measured
 * write of FERRY_BENCH_N records into FERRY_BENCH_TOPIC, and last {@code records=N bytes=B
 * seconds=S cpu=C cold_seconds=X}. N is the count of ferry's closed answer, S runs from building
 * the write's two batches and opening its stream to the stream's end after closed; X is the time of the first write in the JVM, a warm-up of
 * FERRY_BENCH_WARMUP_N records when there are warm-ups. Environment: FERRY_ADDR,
 * FERRY_BENCH_TOPIC, FERRY_BENCH_N, FERRY_BENCH_VALUE_SIZE, FERRY_BENCH_BATCH (records per request,
 * default 1000), FERRY_BENCH_WARMUPS (default 0), FERRY_BENCH_WARMUP_TOPIC (required with
 * warm-ups), FERRY_BENCH_WARMUP_N (default FERRY_BENCH_N).
 *
 * <p>The value and the record are built once, and each write's batches (a full one, the tail)
 * before its stream opens; every request only sets its sequence number on them (which shares the
 * record list). Sending follows gRPC flow control ({@code isReady}), so the client never buffers
 * more than the transport accepts. Every write is a new stream on the one channel of the JVM.
 */
public final class WriteBench {
  private WriteBench() {}

  public static void main(String[] args) throws Exception {
    String topic = BenchProtocol.env("FERRY_BENCH_TOPIC");
    long n = BenchProtocol.env("FERRY_BENCH_N", -1);
    int size = (int) BenchProtocol.env("FERRY_BENCH_VALUE_SIZE", -1);
    int batch = (int) BenchProtocol.env("FERRY_BENCH_BATCH", 1000);
    if (n < 0 || size < 0) {
      throw new IllegalArgumentException("FERRY_BENCH_N and FERRY_BENCH_VALUE_SIZE are required");
    }
    long warmN = BenchProtocol.env("FERRY_BENCH_WARMUP_N", n);
    String warmTopic = BenchProtocol.warmups() > 0 ? BenchProtocol.env("FERRY_BENCH_WARMUP_TOPIC") : null;
    byte[] bytes = new byte[size];
    new Random().nextBytes(bytes);
    SinkRecord record =
        SinkRecord.newBuilder().setValue(UnsafeByteOperations.unsafeWrap(bytes)).build();
    ManagedChannel channel = Ferry.connect(BenchProtocol.env("FERRY_ADDR"));
    BenchProtocol.main(
        () -> write(channel, warmTopic, warmN, record, batch),
        () -> write(channel, topic, n, record, batch));
    channel.shutdownNow();
  }

  /**
   * Writes {@code n} copies of {@code record} into {@code topic}, {@code batch} per request;
   * returns {records in ferry's closed answer, value bytes sent}.
   */
  private static long[] write(ManagedChannel channel, String topic, long n, SinkRecord record, int batch)
      throws Exception {
    WriteBatch full =
        WriteBatch.newBuilder()
            .addAllRecords(Collections.nCopies((int) Math.min(batch, n), record))
            .build();
    WriteBatch tail =
        WriteBatch.newBuilder().addAllRecords(Collections.nCopies((int) (n % batch), record)).build();

    Object ready = new Object();
    CompletableFuture<Long> closed = new CompletableFuture<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    @SuppressWarnings("unchecked")
    ClientCallStreamObserver<WriteRequest>[] holder = new ClientCallStreamObserver[1];
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
    for (long seq = 1; sent < n; seq++) { // batch sequences start at 1
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
    requests.onCompleted();
    done.get(); // the server ends the stream with OK after closed
    return new long[] {written, sent * record.getValue().size()};
  }
}
