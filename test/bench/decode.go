package main

// The Go reader's decoding. Record batches are most of what a read
// receives, and the reader keeps nothing of a record past counting it: it
// reads each record's fields where the message's bytes lie, without
// building ferry.v1 messages or copying keys and values (protobuf-go copies
// every bytes field it decodes). Every other message is decoded by proto as
// usual.

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// Field numbers read in place (proto/ferry/v1): ReadResponse.records,
// RecordBatch.records and Record's fields.
const (
	fieldResponseRecords = 2
	fieldBatchRecords    = 1
	fieldTopic           = 1
	fieldPartition       = 2
	fieldOffset          = 3
	fieldKey             = 6
	fieldValue           = 7
)

// rawCodec is the Go reader's gRPC codec: proto for every message, except
// that a *rawResponse keeps the received bytes for the reader.
type rawCodec struct{ proto encoding.CodecV2 }

func newRawCodec() rawCodec { return rawCodec{proto: encoding.GetCodecV2(proto.Name)} }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*rawResponse); ok {
		m.set(data)
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (rawCodec) Name() string { return proto.Name }

// rawResponse is a received ReadResponse's bytes, valid until release (or
// the next receive into it).
type rawResponse struct {
	data    []byte
	held    mem.Buffer // the received buffer data is, when it is one
	scratch []byte     // reused for a message received in several buffers
}

func (m *rawResponse) set(data mem.BufferSlice) {
	m.release()
	if len(data) == 1 {
		data[0].Ref()
		m.held, m.data = data[0], data[0].ReadOnlyData()
		return
	}
	if n := data.Len(); cap(m.scratch) < n {
		m.scratch = make([]byte, n)
	} else {
		m.scratch = m.scratch[:n]
	}
	data.CopyTo(m.scratch)
	m.data = m.scratch
}

func (m *rawResponse) release() {
	if m.held != nil {
		m.held.Free()
		m.held = nil
	}
	m.data = nil
}

// recordView is a record's fields that the reader checks, read in place:
// topic and value are views of the message's bytes.
type recordView struct {
	topic     []byte
	partition int32
	offset    int64
	value     []byte
	hasValue  bool
}

// records returns the RecordBatch of a records response, or ok false for
// any other kind of response (decode it with proto).
func (m *rawResponse) records() (batch []byte, ok bool, err error) {
	b := m.data
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false, protowire.ParseError(n)
		}
		b = b[n:]
		if num != fieldResponseRecords || typ != protowire.BytesType {
			return nil, false, nil // another kind (or more than records)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, false, protowire.ParseError(n)
		}
		b = b[n:]
		batch, ok = v, true
	}
	return batch, ok, nil
}

// eachRecord calls f with each record of a RecordBatch, read in place; the
// view is valid until f returns.
func eachRecord(batch []byte, f func(*recordView) error) error {
	var r recordView
	for len(batch) > 0 {
		num, typ, n := protowire.ConsumeTag(batch)
		if n < 0 {
			return protowire.ParseError(n)
		}
		batch = batch[n:]
		if num != fieldBatchRecords || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, batch)
			if n < 0 {
				return protowire.ParseError(n)
			}
			batch = batch[n:]
			continue
		}
		rec, n := protowire.ConsumeBytes(batch)
		if n < 0 {
			return protowire.ParseError(n)
		}
		batch = batch[n:]
		r = recordView{}
		if err := parseRecord(rec, &r); err != nil {
			return err
		}
		if err := f(&r); err != nil {
			return err
		}
	}
	return nil
}

var errWireType = errors.New("unexpected wire type")

func parseRecord(b []byte, r *recordView) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		field := b[:n]
		b = b[n:]
		want := protowire.VarintType
		switch num {
		case fieldTopic, fieldKey, fieldValue:
			want = protowire.BytesType
		case fieldPartition, fieldOffset:
		default:
			continue // not read
		}
		if typ != want {
			return fmt.Errorf("record field %d: %w", num, errWireType)
		}
		// The field's value is whole (ConsumeFieldValue checked it).
		switch num {
		case fieldTopic:
			r.topic, _ = protowire.ConsumeBytes(field)
		case fieldValue:
			r.value, _ = protowire.ConsumeBytes(field)
			r.hasValue = true
		case fieldPartition:
			v, _ := protowire.ConsumeVarint(field)
			r.partition = int32(v)
		case fieldOffset:
			v, _ := protowire.ConsumeVarint(field)
			r.offset = int64(v)
		}
	}
	return nil
}

// decode decodes a response that is not a record batch.
func (m *rawResponse) decode() (*ferryv1.ReadResponse, error) {
	var resp ferryv1.ReadResponse
	if err := protov2.Unmarshal(m.data, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
