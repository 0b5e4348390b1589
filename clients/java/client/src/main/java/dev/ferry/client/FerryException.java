package dev.ferry.client;

import io.grpc.Status;

/**
 * An error reported by a ferry server (or by the channel to it): the gRPC status code and ferry's
 * message, which names the field and the rule for INVALID_ARGUMENT.
 */
public class FerryException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final transient Status.Code code;
  private final String ferryMessage;

  public FerryException(Status.Code code, String ferryMessage, Throwable cause) {
    super(code + (ferryMessage == null || ferryMessage.isEmpty() ? "" : ": " + ferryMessage), cause);
    this.code = code;
    this.ferryMessage = ferryMessage == null ? "" : ferryMessage;
  }

  /** Wraps any throwable of a gRPC call; a FerryException is returned unchanged. */
  static FerryException from(Throwable t) {
    if (t instanceof FerryException fe) {
      return fe;
    }
    Status s = Status.fromThrowable(t);
    return new FerryException(s.getCode(), s.getDescription(), t);
  }

  /** The gRPC status code, e.g. {@code INVALID_ARGUMENT}. */
  public Status.Code getCode() {
    return code;
  }

  /** ferry's status message (the description), possibly empty. */
  public String getFerryMessage() {
    return ferryMessage;
  }
}
