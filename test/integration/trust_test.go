package integration

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	ferryv1 "github.com/ferrykafka/ferry/gen/ferry/v1"
)

// TestClientNamedHostIsRefusedWithoutAConnection shows that a client cannot
// make ferry connect to a host the operator did not allow: a listener of
// the test's own, on loopback, is named as bootstrap server by a source and
// a sink; both fail with PERMISSION_DENIED naming the address, the error
// says nothing a port scanner could use, and the listener sees no
// connection at all.
func TestClientNamedHostIsRefusedWithoutAConnection(t *testing.T) {
	f := startFerry(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	target := lis.Addr().String()
	cluster := &ferryv1.Cluster{BootstrapServers: []string{target}}
	open := bounded("any-topic")
	open.Spec.Cluster = cluster
	sourceSt := f.readStatus(t, openSource(open))
	sinkSt := f.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{Cluster: cluster, DefaultTopic: "any-topic"}}))
	for name, st := range map[string]interface {
		Code() codes.Code
		Message() string
	}{"source": sourceSt, "sink": sinkSt} {
		if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), target) || !strings.Contains(st.Message(), "connect to") {
			t.Errorf("%s: %v %q, want PERMISSION_DENIED naming %s", name, st.Code(), st.Message(), target)
		}
		for _, leak := range []string{"refused", "api versions", "no such host", "dial"} {
			if strings.Contains(st.Message(), leak) {
				t.Errorf("%s: the status tells about the network (%q): %q", name, leak, st.Message())
			}
		}
	}
	// A refused client and an unresolvable name are treated alike: no
	// dialling, no resolving.
	open.Spec.Cluster = &ferryv1.Cluster{BootstrapServers: []string{"no-such-host.invalid:9092"}}
	if st := f.readStatus(t, openSource(open)); st.Code() != codes.PermissionDenied || strings.Contains(st.Message(), "no such host") {
		t.Errorf("unknown host: %v %q", st.Code(), st.Message())
	}
	lis.Close()
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the test's listener saw %d connections from ferry, want none", n)
	}
}

// rssBytes is this process's resident set size (the in-process ferry's).
func rssBytes(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestServerFilesOutsideTheAllowedDirectoriesAreNotRead shows that a client
// cannot make ferry read without limit (/dev/zero) nor probe its files
// (/etc/shadow, /root): each is refused naming the property, without being
// opened (the message is the same whether the path exists or not, and RSS
// stays flat).
func TestServerFilesOutsideTheAllowedDirectoriesAreNotRead(t *testing.T) {
	f := startFerry(t)
	topic := f.createTopic(t, 1)
	runtime.GC()
	before := rssBytes(t)
	var messages []string
	for _, path := range []string{"/dev/zero", "/etc/shadow", "/root", "/no/such/file.pem"} {
		for _, key := range []string{"ssl.truststore.location", "ssl.keystore.location"} {
			props := map[string]string{"security.protocol": "SSL", key: path}
			open := bounded(topic)
			open.Spec.Properties = props
			st := f.readStatus(t, openSource(open))
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), `open.spec.properties["`+key+`"]`) ||
				!strings.Contains(st.Message(), "not under a directory the ferry operator allows") {
				t.Errorf("source %s=%s: %v %q", key, path, st.Code(), st.Message())
			}
			wst := f.writeStatus(t, openSink(&ferryv1.OpenSink{Spec: &ferryv1.SinkSpec{DefaultTopic: topic, Properties: props}}))
			if wst.Code() != codes.InvalidArgument || !strings.Contains(wst.Message(), "not under a directory the ferry operator allows") {
				t.Errorf("sink %s=%s: %v %q", key, path, wst.Code(), wst.Message())
			}
			messages = append(messages, strings.ReplaceAll(st.Message(), path, "PATH"))
		}
	}
	for _, m := range messages[2:] {
		if m != messages[0] && m != messages[1] {
			t.Errorf("messages differ by path, so they tell what exists: %q vs %q", m, messages[0])
		}
	}
	runtime.GC()
	if grew := rssBytes(t) - before; grew > 64<<20 {
		t.Errorf("RSS grew by %d MiB while refusing server files", grew>>20)
	}
}
