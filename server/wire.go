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
func (m *recordsMessage) encode() mem.BufferSlice {
	sizes := make([]int, len(m.recs)) // each record's size, needed twice
	batch := 0
	for i, r := range m.recs {
		sizes[i] = recordSize(r)
		batch += sizeTag(fieldBatchRecords) + protowire.SizeBytes(sizes[i])
	}
	size := sizeTag(fieldResponseRecords) + protowire.SizeBytes(batch)
	pool := mem.DefaultBufferPool()
	bp := pool.Get(size)
	buf := (*bp)[:0]
	buf = protowire.AppendTag(buf, fieldResponseRecords, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(batch))
	for i, r := range m.recs {
		buf = protowire.AppendTag(buf, fieldBatchRecords, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(sizes[i]))
		buf = appendRecord(buf, r)
	}
	*bp = buf
	return mem.BufferSlice{mem.NewBuffer(bp, pool)}
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

func recordSize(r *kgo.Record) int {
	n := 0
	if r.Topic != "" {
		n += sizeTag(fieldTopic) + protowire.SizeBytes(len(r.Topic))
	}
	n += sizeInt(fieldPartition, int64(r.Partition))
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

func appendInt(buf []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.VarintType)
	return protowire.AppendVarint(buf, uint64(v))
}

func appendBytes(buf []byte, num protowire.Number, b []byte) []byte {
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendBytes(buf, b)
}

func appendRecord(buf []byte, r *kgo.Record) []byte {
	if r.Topic != "" {
		buf = protowire.AppendTag(buf, fieldTopic, protowire.BytesType)
		buf = protowire.AppendString(buf, r.Topic)
	}
	buf = appendInt(buf, fieldPartition, int64(r.Partition))
	buf = appendInt(buf, fieldOffset, r.Offset)
	buf = appendInt(buf, fieldTimestampMs, r.Timestamp.UnixMilli())
	tt := int64(timestampTypeCreate)
	if r.Attrs.TimestampType() == 1 {
		tt = timestampTypeLogAppend
	}
	buf = appendInt(buf, fieldTimestampType, tt)
	if r.Key != nil {
		buf = appendBytes(buf, fieldKey, r.Key)
	}
	if r.Value != nil {
		buf = appendBytes(buf, fieldValue, r.Value)
	}
	for i := range r.Headers {
		h := &r.Headers[i]
		buf = protowire.AppendTag(buf, fieldHeaders, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(headerSize(h)))
		if h.Key != "" {
			buf = protowire.AppendTag(buf, fieldHeaderKey, protowire.BytesType)
			buf = protowire.AppendString(buf, h.Key)
		}
		if h.Value != nil {
			buf = appendBytes(buf, fieldHeaderValue, h.Value)
		}
	}
	return appendInt(buf, fieldLeaderEpoch, int64(r.LeaderEpoch))
}
