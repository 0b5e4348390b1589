package dev.ferry.client;

import com.google.protobuf.ByteOutput;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

/**
 * Takes the bytes of a {@link ByteString} of a message that was parsed from the wire and is dropped
 * afterwards, without a copy when it can: parsing (gRPC's protobuf marshaller, which does not alias
 * its input) gives each bytes field an array of its own, exactly as long as the field, and
 * {@link #take} returns that array itself. Any other ByteString (a slice of a larger array, one
 * backed by a ByteBuffer, a concatenation) is copied, as {@link ByteString#toByteArray} does.
 *
 * <p>The array returned without a copy is still the ByteString's: take it only from a ByteString
 * that nothing reads after it, so that the array has one owner, the caller. One instance serves
 * one thread.
 */
final class WireBytes extends ByteOutput {
  private byte[] array;
  private boolean whole;
  private int pieces;

  /**
   * The bytes of {@code bytes}: its own array when it is backed by exactly one whole array, else a
   * copy. {@code bytes} must not be read afterwards.
   */
  byte[] take(ByteString bytes) {
    if (bytes.isEmpty()) {
      return bytes.toByteArray(); // protobuf's shared empty array, as before
    }
    array = null;
    whole = false;
    pieces = 0;
    try {
      UnsafeByteOperations.unsafeWriteTo(bytes, this);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // this output throws nothing
    }
    byte[] a = array;
    array = null;
    return pieces == 1 && whole ? a : bytes.toByteArray();
  }

  @Override
  public void writeLazy(byte[] value, int offset, int length) {
    pieces++;
    array = value;
    whole = offset == 0 && length == value.length;
  }

  @Override
  public void write(byte value) {
    pieces += 2; // not one array
  }

  @Override
  public void write(byte[] value, int offset, int length) {
    pieces += 2;
  }

  @Override
  public void write(ByteBuffer value) {
    pieces += 2;
  }

  @Override
  public void writeLazy(ByteBuffer value) {
    pieces += 2;
  }
}
