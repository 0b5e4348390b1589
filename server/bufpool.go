package server

import (
	"google.golang.org/grpc/experimental"

	"github.com/ferrykafka/ferry/internal/grpcbuf"
)

// init makes gRPC's marshal and receive buffers come from a pool that does
// not zero a reused buffer (see grpcbuf): gRPC's default pool clears every
// reused buffer in full, which on the source path costs as much CPU as
// encoding the records. gRPC allows this pool to be changed only while the
// program initialises.
func init() {
	experimental.SetDefaultBufferPool(grpcbuf.New())
}
