package dev.ferry.examples;

import dev.ferry.client.DeliveryGuarantee;
import dev.ferry.client.KafkaRecord;
import dev.ferry.client.KafkaRecordSerializationSchema;
import dev.ferry.client.KafkaSink;
import dev.ferry.client.KafkaSource;
import dev.ferry.client.OffsetsInitializer;
import dev.ferry.client.SimpleStringSchema;
import dev.ferry.client.SinkWriter;
import dev.ferry.client.SourceReader;
import dev.ferry.v1.SinkState;
import dev.ferry.v1.SourceState;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;

/**
 * Exactly-once copy of a topic with client-side checkpoints, the way a Flink job runs the Kafka
 * connector: an unbounded source, a map (value -> "out-" + value) and an EXACTLY_ONCE sink.
 *
 * <p>Every ~200 ms it takes checkpoint n: the source's state (reader.checkpoint(n), taken after
 * every record returned so far was handed to the writer) and the sink's state (writer.prepare(n),
 * which pre-commits the transaction); both are written to a temporary file, fsynced and atomically
 * renamed over the state file. Only then are the transactions committed (writer.commit(n)) and the
 * source told (notifyCheckpointComplete(n)). A restart restores both sides from the state file:
 * the sink commits the prepared transactions of the file (they may or may not have been committed
 * before the crash) and aborts lingering ones, the source resumes where the file says.
 *
 * <p>State file: int64 last checkpoint id, then SourceState and SinkState, each as an int32 length
 * and the protobuf bytes.
 *
 * <pre>
 * java dev.ferry.examples.ExactlyOnceCopy FERRY_ADDR INPUT OUTPUT STATE_FILE TX_ID_PREFIX IDLE_EXIT_SECONDS
 * </pre>
 */
public final class ExactlyOnceCopy {
  private static final long CHECKPOINT_INTERVAL_MS = 200;

  private ExactlyOnceCopy() {}

  record Checkpoint(long id, SourceState source, SinkState sink) {}

  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: ExactlyOnceCopy FERRY_ADDR INPUT_TOPIC OUTPUT_TOPIC STATE_FILE "
          + "TX_ID_PREFIX IDLE_EXIT_SECONDS");
      System.exit(2);
    }
    String addr = args[0];
    String input = args[1];
    String output = args[2];
    Path stateFile = Path.of(args[3]);
    String txPrefix = args[4];
    long idleExitNanos = Duration.ofSeconds(Long.parseLong(args[5])).toNanos();

    Checkpoint restored = readState(stateFile);
    long checkpointId = restored == null ? 0 : restored.id();
    log("start: " + (restored == null ? "no state" : "restoring checkpoint " + checkpointId));

    KafkaSource<String> source = KafkaSource.<String>builder()
        .setFerryAddress(addr)
        .setTopics(input)
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setValueOnlyDeserializer(new SimpleStringSchema())
        .build();
    KafkaSink<String> sink = KafkaSink.<String>builder()
        .setFerryAddress(addr)
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(txPrefix)
        .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
            .setTopic(output)
            .setValueSerializationSchema(new SimpleStringSchema())
            .build())
        .build();

    // The sink first: opening it commits the transactions the state file names.
    try (SinkWriter<String> writer = sink.open(restored == null ? null : restored.sink());
        SourceReader<String> reader = source.open(restored == null ? null : restored.source())) {
      long lastInput = System.nanoTime();
      long lastCheckpoint = System.nanoTime();
      long copied = 0;
      boolean dirty = false; // records written since the last committed checkpoint
      while (true) {
        KafkaRecord<String> r = reader.poll(Duration.ofMillis(50));
        long now = System.nanoTime();
        if (r != null) {
          writer.write("out-" + r.value());
          copied++;
          dirty = true;
          lastInput = now;
        }
        boolean idle = now - lastInput >= idleExitNanos;
        if (now - lastCheckpoint >= CHECKPOINT_INTERVAL_MS * 1_000_000L || (idle && dirty)) {
          checkpointId++;
          // Every record returned so far was written: the source's position covers them.
          SourceState src = reader.checkpoint(checkpointId);
          SinkState snk = writer.prepare(checkpointId);
          writeState(stateFile, new Checkpoint(checkpointId, src, snk));
          writer.commit(checkpointId);
          reader.notifyCheckpointComplete(checkpointId);
          lastCheckpoint = System.nanoTime();
          dirty = false;
        }
        if (idle && !dirty) {
          log("idle for " + args[5] + " s after checkpoint " + checkpointId + "; copied " + copied
              + " records in this run; exiting");
          break;
        }
      }
    }
  }

  /** Reads the state file, or null when there is none. */
  static Checkpoint readState(Path file) throws IOException {
    if (!Files.exists(file)) {
      return null;
    }
    try (InputStream in = Files.newInputStream(file);
        DataInputStream d = new DataInputStream(in)) {
      long id = d.readLong();
      SourceState src = SourceState.parseFrom(readBlock(d));
      SinkState snk = SinkState.parseFrom(readBlock(d));
      return new Checkpoint(id, src, snk);
    }
  }

  private static byte[] readBlock(DataInputStream d) throws IOException {
    int n = d.readInt();
    if (n < 0) {
      throw new IOException("corrupt state file: negative length " + n);
    }
    byte[] b = new byte[n];
    d.readFully(b);
    return b;
  }

  /** Writes the state to a temporary file, fsyncs it and renames it atomically over {@code file}. */
  static void writeState(Path file, Checkpoint cp) throws IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (DataOutputStream d = new DataOutputStream(buf)) {
      d.writeLong(cp.id());
      byte[] src = cp.source().toByteArray();
      d.writeInt(src.length);
      d.write(src);
      byte[] snk = cp.sink().toByteArray();
      d.writeInt(snk.length);
      d.write(snk);
    }
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = dir.resolve(file.getFileName() + ".tmp");
    try (FileOutputStream out = new FileOutputStream(tmp.toFile())) {
      out.write(buf.toByteArray());
      out.getFD().sync();
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    // Make the rename itself durable (fsync the directory); best effort where unsupported.
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(dir,
        java.nio.file.StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // some platforms cannot open a directory
    }
  }

  private static void log(String msg) {
    System.err.println("[ExactlyOnceCopy] " + msg);
  }
}
