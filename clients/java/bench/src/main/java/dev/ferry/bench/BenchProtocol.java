package dev.ferry.bench;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * The protocol between {@code make bench} (test/bench/main.go, runClient) and its external Java
 * clients ({@link ReadBench}, {@link WriteBench}, {@link FacadeReadBench}, {@link
 * FacadeWriteBench}).
 *
 * <p>A client first does FERRY_BENCH_WARMUPS runs (0 when unset; the bench passes its
 * -client-warmups, 2 by default) in its own JVM, so that the JIT has compiled the hot paths, then
 * prints the line {@code timed} (flushed: the bench starts measuring ferry's CPU when it reads it),
 * does the measured run and prints last {@code records=N bytes=B seconds=S cpu=C cold_seconds=X}:
 * N and B are the measured run's records and value bytes, S its wall seconds, C the CPU seconds of
 * the JVM (user + system, all threads, {@code getProcessCpuTime}) during it, and X the wall seconds
 * of the first run in the JVM: the first warm-up, or the measured run itself when there is none.
 */
final class BenchProtocol {
  private BenchProtocol() {}

  /** One run: returns {records, value bytes}. */
  @FunctionalInterface
  interface Run {
    long[] run() throws Exception;
  }

  /** FERRY_BENCH_WARMUPS, 0 when unset. */
  static int warmups() {
    String s = System.getenv("FERRY_BENCH_WARMUPS");
    int n = s == null || s.isEmpty() ? 0 : Integer.parseInt(s);
    if (n < 0) {
      throw new IllegalArgumentException("FERRY_BENCH_WARMUPS must be >= 0, got " + n);
    }
    return n;
  }

  /** An environment variable that must be set. */
  static String env(String name) {
    String v = System.getenv(name);
    if (v == null || v.isEmpty()) {
      throw new IllegalArgumentException(name + " is not set");
    }
    return v;
  }

  /** An environment variable as a long, {@code def} when unset. */
  static long env(String name, long def) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? def : Long.parseLong(v);
  }

  /** Runs {@code warmup} FERRY_BENCH_WARMUPS times, prints timed, runs {@code measured}, prints its line. */
  static void main(Run warmup, Run measured) throws Exception {
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    double cold = -1;
    for (int i = 0, n = warmups(); i < n; i++) {
      long start = System.nanoTime();
      warmup.run();
      if (cold < 0) {
        cold = (System.nanoTime() - start) / 1e9;
      }
    }
    System.out.println("timed");
    System.out.flush();
    long cpu0 = os.getProcessCpuTime();
    long start = System.nanoTime();
    long[] counts = measured.run();
    double seconds = (System.nanoTime() - start) / 1e9;
    double cpu = (os.getProcessCpuTime() - cpu0) / 1e9;
    if (cold < 0) {
      cold = seconds;
    }
    System.out.printf(Locale.ROOT, "records=%d bytes=%d seconds=%.3f cpu=%.3f cold_seconds=%.3f%n",
        counts[0], counts[1], seconds, cpu, cold);
    System.out.flush();
  }
}
