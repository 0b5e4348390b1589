package dev.ferry.client;

import static org.junit.jupiter.api.Assertions.fail;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Records what the server sends on a stream, in order, so that a test can wait for each event with
 * a timeout. A hung server therefore fails the test instead of hanging it.
 */
final class StreamRecorder<T> implements StreamObserver<T> {
  private static final Object COMPLETED = new Object();

  private record Failure(Throwable error) {}

  private final String name;
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();

  StreamRecorder(String name) {
    this.name = name;
  }

  @Override
  public void onNext(T value) {
    events.add(value);
  }

  @Override
  public void onError(Throwable t) {
    events.add(new Failure(t));
  }

  @Override
  public void onCompleted() {
    events.add(COMPLETED);
  }

  private Object poll(Duration timeout, String what) throws InterruptedException {
    Object event = events.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (event == null) {
      fail(name + ": nothing from the server within " + timeout + " while waiting for " + what);
    }
    return event;
  }

  /** Returns the next message; fails on a timeout, an error or the end of the stream. */
  @SuppressWarnings("unchecked")
  T next(Duration timeout, String what) throws InterruptedException {
    Object event = poll(timeout, what);
    if (event == COMPLETED) {
      fail(name + ": the stream ended with OK while waiting for " + what);
    }
    if (event instanceof Failure f) {
      fail(name + ": the stream failed with " + describe(Status.fromThrowable(f.error()))
          + " while waiting for " + what, f.error());
    }
    return (T) event;
  }

  /** Waits for the end of the stream with status OK, and no message before it. */
  void awaitCompleted(Duration timeout) throws InterruptedException {
    Object event = poll(timeout, "the end of the stream (OK)");
    if (event instanceof Failure f) {
      fail(name + ": expected the stream to end with OK, it failed with "
          + describe(Status.fromThrowable(f.error())), f.error());
    }
    if (event != COMPLETED) {
      fail(name + ": expected the stream to end with OK, got another message: " + event);
    }
  }

  /** Waits for the stream to fail, with no message before it; returns its status. */
  Status awaitError(Duration timeout) throws InterruptedException {
    Object event = poll(timeout, "an error status");
    if (event == COMPLETED) {
      fail(name + ": expected an error status, the stream ended with OK");
    }
    if (!(event instanceof Failure f)) {
      fail(name + ": expected an error status, got a message: " + event);
      throw new AssertionError(); // unreachable
    }
    return Status.fromThrowable(f.error());
  }

  static String describe(Status status) {
    return status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
  }
}
