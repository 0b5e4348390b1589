// Package connector is ferry's Kafka core: the parts of Apache Flink's Kafka
// connector that do not depend on how a client talks to ferry.
//
// The work is split by job:
//
//   - package source reads splits (one split = one topic partition) with
//     franz-go direct partition consumption, resolving start and stop offsets
//     when a reader opens and tracking the next offset of every split.
//   - package sink writes records with a delivery guarantee.
//   - package kafkaconf maps Java-named Kafka properties onto franz-go options
//     through one documented table.
//
// This package holds what they share: the cluster address and the errors that
// the layers above map to their own error codes. Nothing here knows of gRPC or
// protobuf.
package connector
