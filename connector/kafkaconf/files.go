package kafkaconf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MaxFileBytes bounds every server file a property names (truststores,
// keystores, keytabs): 1 MiB holds any real certificate chain or store, and
// a property can never make ferry read without limit (/dev/zero).
const MaxFileBytes = 1 << 20

// Files says which files on the ferry server properties may name. A client
// must never make ferry open a file the operator did not allow: a path
// outside Dirs is refused before it is opened, looked at or resolved, so
// the error says nothing about whether it exists.
type Files struct {
	// Dirs are absolute directories whose files (at any depth) properties
	// may name. Empty (the default) refuses every path.
	Dirs []string
	// Paths are single files properties may name wherever they are: those
	// of the operator's own cluster properties, never a client's.
	Paths []string
	// Any allows any path: for the operator's own configuration, never for
	// a client's.
	Any bool
}

// allowed reports whether path lies under one of the directories, by its
// cleaned absolute form (symbolic links are checked when the file is
// opened, see readServerFile).
func (f Files) allowed(path string) bool {
	if f.Any || slices.Contains(f.Paths, path) {
		return true
	}
	if !filepath.IsAbs(path) {
		return false
	}
	path = filepath.Clean(path)
	for _, d := range f.Dirs {
		d = filepath.Clean(d)
		if path == d || strings.HasPrefix(path, d+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// readServerFile reads a file a property names: only under f's directories
// (also after resolving symbolic links), only a regular file, at most
// MaxFileBytes. Errors name the path and the rule, never the content.
func readServerFile(path string, f Files) ([]byte, error) {
	refused := fmt.Errorf("%q is not under a directory the ferry operator allows for files (ferry serve --allow-file-dir); name a cluster configured on the server instead", path)
	if !f.allowed(path) {
		return nil, refused
	}
	if !f.Any && !slices.Contains(f.Paths, path) {
		// A link inside an allowed directory must not lead out of it.
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read %q on the ferry server: %v", path, errors.Unwrap(err))
		}
		if !f.allowed(real) {
			return nil, refused
		}
		path = real
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q on the ferry server: %v", path, errors.Unwrap(err))
	}
	defer fh.Close()
	st, err := fh.Stat()
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read %q on the ferry server: %v", path, err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%q is not a regular file", path)
	case st.Size() > MaxFileBytes:
		return nil, fmt.Errorf("%q has %d bytes, more than the %d a store or key file may have", path, st.Size(), MaxFileBytes)
	}
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q on the ferry server: %v", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%q has more than the %d bytes a store or key file may have", path, MaxFileBytes)
	}
	return b, nil
}

// IsSecurity reports whether key configures how clients authenticate to
// Kafka or reach it (security.protocol, sasl.*, ssl.*): keys a client may
// not set on a cluster whose security the operator configured.
func IsSecurity(key string) bool {
	return key == "security.protocol" || strings.HasPrefix(key, "sasl.") || strings.HasPrefix(key, "ssl.")
}
