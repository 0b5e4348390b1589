package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// transportOptions are the gRPC server's transport settings and codec.
// Record batches are large: fewer, larger socket writes and reads cost less
// CPU than gRPC's 32 KiB defaults (from 256 KiB on, larger write buffers
// measure the same: BenchmarkReadHop). A connection takes its write buffer
// from a pool for each flush and gives it back after, so that an idle
// connection holds none (same CPU, measured). Record batches are encoded
// straight from the fetched records (see recordsMessage); everything else
// is plain proto.
func transportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.WriteBufferSize(512 << 10),
		grpc.SharedWriteBuffer(true),
		grpc.ReadBufferSize(512 << 10),
		grpc.InitialWindowSize(4 << 20),
		grpc.InitialConnWindowSize(16 << 20),
		grpc.ForceServerCodecV2(newWireCodec()),
	}
}

// Field numbers of the messages that recordsMessage encodes; they must
// match proto/ferry/v1 (TestRecordsMessageEncodesLikeProto checks them
// against the generated code).
const (
	fieldResponseRecords = 2 // ReadResponse.records
	fieldBatchRecords    = 1 // RecordBatch.records

	fieldTopic         = 1
	fieldPartition     = 2
	fieldOffset        = 3
	fieldTimestampMs   = 4
	fieldTimestampType = 5
	fieldKey           = 6
	fieldValue         = 7
	fieldHeaders       = 8
	fieldLeaderEpoch   = 9

	fieldHeaderKey   = 1
	fieldHeaderValue = 2

	timestampTypeCreate    = 1 // TIMESTAMP_TYPE_CREATE_TIME
	timestampTypeLogAppend = 2 // TIMESTAMP_TYPE_LOG_APPEND_TIME
)

// recordsMessage is a ReadResponse whose kind is a RecordBatch of recs. It
// is sent with SendMsg and encoded by wireCodec straight from the fetched
// records into a pooled buffer, giving exactly the bytes proto.Marshal gives
// for the equivalent *ferryv1.ReadResponse without building that message
// (one allocation per message instead of one per record and header, and no
// reflection).
type recordsMessage struct {
	recs []*kgo.Record
}

// wireCodec is the server's gRPC codec: proto for every message, except
// that recordsMessage is encoded by its own encode.
type wireCodec struct {
	proto encoding.CodecV2
}

func newWireCodec() wireCodec {
	return wireCodec{proto: encoding.GetCodecV2(proto.Name)}
}

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*recordsMessage); ok {
		return m.encode(), nil
	}
	return c.proto.Marshal(v)
}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *recordsMessage:
		return fmt.Errorf("server: recordsMessage is only sent")
	case *undecoded:
		data.Ref()
		m.data = data
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// undecoded holds a received message's bytes until decodeStream decodes
// them. gRPC answers a codec error with INTERNAL on its own, before the
// handler can say otherwise; bytes that do not decode (malformed protobuf,
// invalid UTF-8 in a string) are the client's fault, INVALID_ARGUMENT.
type undecoded struct{ data mem.BufferSlice }

// decodeStream makes a stream's RecvMsg decode outside the codec, so that a
// decoding failure is INVALID_ARGUMENT naming the message type.
type decodeStream struct{ grpc.ServerStream }

func (s decodeStream) RecvMsg(m any) error {
	pm, ok := m.(protoadapt.MessageV2)
	if !ok {
		return s.ServerStream.RecvMsg(m)
	}
	var u undecoded
	if err := s.ServerStream.RecvMsg(&u); err != nil {
		return err
	}
	defer u.data.Free()
	buf := u.data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := protov2.Unmarshal(buf.ReadOnlyData(), pm); err != nil {
		return status.Errorf(codes.InvalidArgument, "the message's bytes do not decode as %s: %v", pm.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// decodeStreams is the stream interceptor that installs decodeStream.
func decodeStreams(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	return next(srv, decodeStream{ss})
}

func (wireCodec) Name() string { return proto.Name }

// encode writes the message into one buffer from gRPC's pool, which gRPC
// returns to the pool once the message is written out.
//
// Keys and values are copied into it. Referencing them where the fetch
// left them instead (a mem.BufferSlice alternating the framing with the
// fetched bytes, so that gRPC's transport copies them once, into its write
// buffer) was measured and costs more CPU than the copy saves with values
// of 1 to 64 KiB (BenchmarkReadHop): the transport handles each piece of a
// message on its own (length, reference count, peek, discard, write).
func (m *recordsMessage) encode() mem.BufferSlice {
	sizes := make([]int, len(m.recs)) // each record's size, needed twice
	batch := 0
	var h splitHead
	for i, r := range m.recs {
		sizes[i] = recordSize(r, &h)
		batch += 1 + protowire.SizeVarint(uint64(sizes[i])) + sizes[i]
	}
	size := 1 + protowire.SizeVarint(uint64(batch)) + batch
	pool := mem.DefaultBufferPool()
	bp := pool.Get(size)
	buf := (*bp)[:0]
	buf = append(buf, tagResponseRecords)
	buf = appendVarint(buf, uint64(batch))
	for i, r := range m.recs {
		buf = append(buf, tagBatchRecords)
		buf = appendVarint(buf, uint64(sizes[i]))
		buf = appendRecord(buf, r, &h)
	}
	*bp = buf
	return mem.BufferSlice{mem.NewBuffer(bp, pool)}
}

// Tags of the fields written, all single bytes (field numbers below 16):
// the field number shifted left by three, ORed with the wire type. The
// sizes above count them as one byte each.
const (
	tagResponseRecords = fieldResponseRecords<<3 | byte(protowire.BytesType)
	tagBatchRecords    = fieldBatchRecords<<3 | byte(protowire.BytesType)
	tagTopic           = fieldTopic<<3 | byte(protowire.BytesType)
	tagPartition       = fieldPartition<<3 | byte(protowire.VarintType)
	tagOffset          = fieldOffset<<3 | byte(protowire.VarintType)
	tagTimestampMs     = fieldTimestampMs<<3 | byte(protowire.VarintType)
	tagTimestampType   = fieldTimestampType<<3 | byte(protowire.VarintType)
	tagKey             = fieldKey<<3 | byte(protowire.BytesType)
	tagValue           = fieldValue<<3 | byte(protowire.BytesType)
	tagHeaders         = fieldHeaders<<3 | byte(protowire.BytesType)
	tagLeaderEpoch     = fieldLeaderEpoch<<3 | byte(protowire.VarintType)
	tagHeaderKey       = fieldHeaderKey<<3 | byte(protowire.BytesType)
	tagHeaderValue     = fieldHeaderValue<<3 | byte(protowire.BytesType)
)

// appendVarint is protowire.AppendVarint with the one- and two-byte cases
// (tags, lengths, partitions) inlined.
func appendVarint(buf []byte, v uint64) []byte {
	switch {
	case v < 1<<7:
		return append(buf, byte(v))
	case v < 1<<14:
		return append(buf, byte(v)|0x80, byte(v>>7))
	}
	return protowire.AppendVarint(buf, v)
}

func sizeTag(num protowire.Number) int { return protowire.SizeTag(num) }

// sizeInt is the size of a non-zero int32 or int64 field: negative values
// take ten bytes, as protobuf sign-extends them.
func sizeInt(num protowire.Number, v int64) int {
	if v == 0 {
		return 0
	}
	return sizeTag(num) + protowire.SizeVarint(uint64(v))
}

// splitHead holds the encoding of the fields that the records of one split
// share, topic and partition (a record's first two fields), for a run of
// records of the same split.
type splitHead struct {
	topic     string
	partition int32
	ok        bool
	b         []byte
}

// of returns the encoded topic and partition of r.
func (h *splitHead) of(r *kgo.Record) []byte {
	if h.ok && r.Partition == h.partition && r.Topic == h.topic {
		return h.b
	}
	b := h.b[:0]
	if r.Topic != "" {
		b = append(b, tagTopic)
		b = appendVarint(b, uint64(len(r.Topic)))
		b = append(b, r.Topic...)
	}
	b = appendInt(b, tagPartition, int64(r.Partition))
	h.topic, h.partition, h.ok, h.b = r.Topic, r.Partition, true, b
	return b
}

func recordSize(r *kgo.Record, h *splitHead) int {
	n := len(h.of(r))
	n += sizeInt(fieldOffset, r.Offset)
	n += sizeInt(fieldTimestampMs, r.Timestamp.UnixMilli())
	n += sizeTag(fieldTimestampType) + 1
	if r.Key != nil {
		n += sizeTag(fieldKey) + protowire.SizeBytes(len(r.Key))
	}
	if r.Value != nil {
		n += sizeTag(fieldValue) + protowire.SizeBytes(len(r.Value))
	}
	for i := range r.Headers {
		n += sizeTag(fieldHeaders) + protowire.SizeBytes(headerSize(&r.Headers[i]))
	}
	n += sizeInt(fieldLeaderEpoch, int64(r.LeaderEpoch))
	return n
}

func headerSize(h *kgo.RecordHeader) int {
	n := 0
	if h.Key != "" {
		n += sizeTag(fieldHeaderKey) + protowire.SizeBytes(len(h.Key))
	}
	if h.Value != nil {
		n += sizeTag(fieldHeaderValue) + protowire.SizeBytes(len(h.Value))
	}
	return n
}

func appendInt(buf []byte, tag byte, v int64) []byte {
	if v == 0 {
		return buf
	}
	return appendVarint(append(buf, tag), uint64(v))
}

func appendBytes(buf []byte, tag byte, b []byte) []byte {
	buf = appendVarint(append(buf, tag), uint64(len(b)))
	return append(buf, b...)
}

func appendRecord(buf []byte, r *kgo.Record, h *splitHead) []byte {
	buf = append(buf, h.of(r)...)
	buf = appendInt(buf, tagOffset, r.Offset)
	buf = appendInt(buf, tagTimestampMs, r.Timestamp.UnixMilli())
	tt := byte(timestampTypeCreate)
	if r.Attrs.TimestampType() == 1 {
		tt = timestampTypeLogAppend
	}
	buf = append(buf, tagTimestampType, tt)
	if r.Key != nil {
		buf = appendBytes(buf, tagKey, r.Key)
	}
	if r.Value != nil {
		buf = appendBytes(buf, tagValue, r.Value)
	}
	for i := range r.Headers {
		h := &r.Headers[i]
		buf = append(buf, tagHeaders)
		buf = appendVarint(buf, uint64(headerSize(h)))
		if h.Key != "" {
			buf = append(buf, tagHeaderKey)
			buf = appendVarint(buf, uint64(len(h.Key)))
			buf = append(buf, h.Key...)
		}
		if h.Value != nil {
			buf = appendBytes(buf, tagHeaderValue, h.Value)
		}
	}
	return appendInt(buf, tagLeaderEpoch, int64(r.LeaderEpoch))
}
