package kafkaconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerFilesAreBoundedAndConfined checks the trust boundary of
// properties that name server files: outside the allowed directories a
// path is refused before it is looked at (so /etc/shadow and /root tell
// nothing), devices and directories are refused without a read, links may
// not lead out, and no file is read past MaxFileBytes.
func TestServerFilesAreBoundedAndConfined(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write := func(d, name string, size int) string {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := write(dir, "ca.pem", 10)
	big := write(dir, "big.pem", MaxFileBytes+1)
	secret := write(outside, "secret.pem", 10)
	if err := os.Symlink(secret, filepath.Join(dir, "link.pem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero")); err != nil {
		t.Fatal(err)
	}
	allowed := Files{Dirs: []string{dir}}
	for _, tc := range []struct {
		name, path string
		files      Files
		says       string
	}{
		{"a file outside the directories", "/etc/shadow", allowed, "not under a directory the ferry operator allows"},
		{"a directory outside", "/root", allowed, "not under a directory the ferry operator allows"},
		{"a device outside", "/dev/zero", allowed, "not under a directory the ferry operator allows"},
		{"no directories allowed", small, Files{}, "not under a directory the ferry operator allows"},
		{"a relative path", "ca.pem", allowed, "not under a directory the ferry operator allows"},
		{"dot-dot out of the directory", filepath.Join(dir, "..", filepath.Base(outside), "secret.pem"), allowed, "not under a directory the ferry operator allows"},
		{"a link out of the directory", filepath.Join(dir, "link.pem"), allowed, "not under a directory the ferry operator allows"},
		{"a link to a device", filepath.Join(dir, "zero"), allowed, "not under a directory the ferry operator allows"},
		{"a device the operator allows", "/dev/zero", Files{Dirs: []string{"/dev"}}, "not a regular file"},
		{"a directory the operator allows", dir, allowed, "not a regular file"},
		{"a file too large", big, allowed, "more than the 1048576"},
		{"a missing file", filepath.Join(dir, "none.pem"), allowed, "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := readServerFile(tc.path, tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("read %d bytes, err %v; want an error saying %q", len(b), err, tc.says)
			}
		})
	}
	if b, err := readServerFile(small, allowed); err != nil || len(b) != 10 {
		t.Fatalf("an allowed file: %d bytes, %v", len(b), err)
	}
	if b, err := readServerFile(secret, Files{Any: true}); err != nil || len(b) != 10 {
		t.Fatalf("the operator's own file: %d bytes, %v", len(b), err)
	}
	// Through Parse, the refusal names the property.
	_, err := Parse(Consumer, map[string]string{"security.protocol": "SSL", "ssl.truststore.location": "/etc/shadow"}, allowed)
	if err == nil || !strings.Contains(err.Error(), `properties["ssl.truststore.location"]`) || strings.Contains(err.Error(), "PEM") {
		t.Fatalf("Parse: %v", err)
	}
}
