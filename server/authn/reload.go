package authn

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pollInterval is how often, at most, a watched file is looked at again (its
// modification time and size). Tests lower it.
var pollInterval = time.Second

// maxFileBytes bounds every read of an operator's file: certificates, keys, the
// tokens file and the JWKS are all far smaller.
const maxFileBytes = 1 << 20

// reloader holds the value parsed from one or more files and parses them again
// when a file has changed (see stamp). It looks at the files
// from the goroutine that asks for the value (get), at most once per
// pollInterval, and only one caller looks while the others take the current
// value: a TLS handshake or an RPC never waits for a reload.
//
// A reload that fails (a file missing, unreadable, or not parsing) keeps the
// previous value and is reported once per change of the files, not once per
// poll. The files of one value (a certificate and its key) are stamped together,
// so a half-finished rotation is reported and retried when the second file
// lands.
type reloader[T any] struct {
	what  string   // what the files hold, for the log: "tls certificate", "tokens file"
	paths []string // read in this order and handed to parse
	// fields are the config fields of paths ("tls.cert_file"), which errors
	// start with.
	fields []string
	parse  func(data [][]byte) (*T, error)
	// describe, when set, gives log attributes of a value (a serial number,
	// a count): what an operator checks after a rotation. Never a secret.
	describe func(*T) []any
	log      *slog.Logger
	now      func() time.Time

	cur       atomic.Pointer[T]
	nextCheck atomic.Int64 // unix nanoseconds of the next look at the files
	closed    atomic.Bool

	mu         sync.Mutex // held while looking; guards the fields below
	stamps     []stamp
	statFailed bool // the last stat failed and was reported
}

// stamp is what decides whether a file changed: another file in its place
// (a rotation by rename, as Kubernetes does with secrets), or a new
// modification time or size.
type stamp struct {
	info os.FileInfo
}

func (s stamp) same(o stamp) bool {
	return os.SameFile(s.info, o.info) && s.info.ModTime().Equal(o.info.ModTime()) && s.info.Size() == o.info.Size()
}

// load reads the files the first time. Set the fields before, except cur and
// stamps.
func (r *reloader[T]) load() error {
	if r.now == nil {
		r.now = time.Now
	}
	stamps, err := r.stat()
	if err != nil {
		return err
	}
	v, err := r.read()
	if err != nil {
		return err
	}
	r.stamps = stamps
	r.cur.Store(v)
	r.nextCheck.Store(r.now().Add(pollInterval).UnixNano())
	r.log.Info("authn: loaded "+r.what, r.attrs(v)...)
	return nil
}

// get returns the current value, after looking at the files if pollInterval
// has passed since the last look. A caller that finds another one looking does
// not wait for it.
func (r *reloader[T]) get() *T {
	if !r.closed.Load() && r.now().UnixNano() >= r.nextCheck.Load() && r.mu.TryLock() {
		if r.now().UnixNano() >= r.nextCheck.Load() {
			r.poll()
			r.nextCheck.Store(r.now().Add(pollInterval).UnixNano())
		}
		r.mu.Unlock()
	}
	return r.cur.Load()
}

// poll reloads the files if their stamps changed; r.mu is held.
func (r *reloader[T]) poll() {
	stamps, err := r.stat()
	if err != nil {
		// A file missing mid-rotation: report once, retry at every poll.
		if !r.statFailed {
			r.log.Error("authn: cannot reload, keeping the previous "+r.what, "error", err)
		}
		r.statFailed, r.stamps = true, nil
		return
	}
	r.statFailed = false
	if equalStamps(stamps, r.stamps) {
		return
	}
	r.stamps = stamps
	v, err := r.read()
	if err != nil {
		r.log.Error("authn: cannot reload, keeping the previous "+r.what, "error", err)
		return
	}
	r.cur.Store(v)
	r.log.Info("authn: reloaded "+r.what, r.attrs(v)...)
}

func (r *reloader[T]) attrs(v *T) []any {
	attrs := []any{"files", r.paths}
	if r.describe != nil {
		attrs = append(attrs, r.describe(v)...)
	}
	return attrs
}

func (r *reloader[T]) stat() ([]stamp, error) {
	stamps := make([]stamp, len(r.paths))
	for i, p := range r.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.fields[i], err)
		}
		stamps[i] = stamp{info: fi}
	}
	return stamps, nil
}

func (r *reloader[T]) read() (*T, error) {
	data := make([][]byte, len(r.paths))
	for i, p := range r.paths {
		b, err := readBounded(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.fields[i], err)
		}
		data[i] = b
	}
	v, err := r.parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(r.fields, ", "), err)
	}
	return v, nil
}

// close stops looking at the files; get keeps returning the last value.
func (r *reloader[T]) close() { r.closed.Store(true) }

func equalStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

// readBounded reads a whole file of at most maxFileBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}
