package dev.ferry.flinkdoc;

import dev.ferry.client.KafkaSink;
import dev.ferry.client.SinkWriter;
import java.util.List;

/**
 * A stand-in for Flink's DataStream in the document's snippets (test code, not part of
 * ferry-client): a finite list of elements. {@link #sinkTo} writes them at once through one writer
 * of the sink, takes one checkpoint as Flink would (which under AT_LEAST_ONCE waits until Kafka
 * acknowledged every record, and under EXACTLY_ONCE pre-commits and then commits) and closes the
 * writer.
 *
 * @param <T> the element type
 */
public final class DataStream<T> {
  private final List<T> elements;

  DataStream(List<T> elements) {
    this.elements = List.copyOf(elements);
  }

  /** The elements. */
  public List<T> elements() {
    return elements;
  }

  /** Writes the elements through the sink, as said above. */
  public void sinkTo(KafkaSink<T> sink) {
    long written;
    try (SinkWriter<T> writer = sink.open()) {
      elements.forEach(writer::write);
      writer.prepare(1);
      writer.commit(1);
      writer.close();
      written = writer.recordsWritten();
    }
    DocRun.note("stream.sinkTo(sink): " + elements.size() + " elements, Kafka acknowledged " + written);
  }
}
