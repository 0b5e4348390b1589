package authn

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReloaderPollsAtMostOncePerInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, []byte("one"))
	now := time.Now()
	log, _ := newLog()
	r := &reloader[string]{what: "f", paths: []string{path}, fields: []string{"f"}, log: log, now: func() time.Time { return now },
		parse: func(d [][]byte) (*string, error) { s := string(d[0]); return &s, nil }}
	if err := r.load(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte("two!"))
	if got := *r.get(); got != "one" {
		t.Errorf("before the interval: %q, want one", got)
	}
	now = now.Add(pollInterval)
	if got := *r.get(); got != "two!" {
		t.Errorf("after the interval: %q, want two!", got)
	}

	// Another file in its place, of the same size and modification time.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".new", []byte("TWO!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path+".new", fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(pollInterval)
	if got := *r.get(); got != "TWO!" {
		t.Errorf("after a rename: %q, want TWO!", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(pollInterval)
	if got := *r.get(); got != "TWO!" {
		t.Errorf("file gone: %q, want the last value TWO!", got)
	}
	writeFile(t, path, []byte("three"))
	r.close()
	now = now.Add(pollInterval)
	if got := *r.get(); got != "TWO!" {
		t.Errorf("after close: %q, want the last value TWO!", got)
	}
}
