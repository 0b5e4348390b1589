package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/ferrykafka/ferry/server"
	"github.com/ferrykafka/ferry/server/authn"
)

// checkExposure enforces ferry's safe default: without TLS and
// authentication it serves loopback only, because every client that reaches
// the port may then do everything. A non-loopback address needs both (a
// bearer token in clear text would be a password on the wire), or the
// --insecure flag, which is logged loudly.
func checkExposure(listen string, auth *authn.Authenticator, insecure bool, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	secured := auth != nil && auth.Enabled() && auth.TLSConfig() != nil
	if secured || isLoopback(host) {
		return nil
	}
	if !insecure {
		return fmt.Errorf("refusing to serve %s without TLS and authentication: anyone who reaches it could read and write every topic; "+
			"configure tls and tokens_file, jwt or tls.client_ca_file in --config, listen on 127.0.0.1, or pass --insecure to accept the risk", listen)
	}
	log.Warn("INSECURE: serving a non-loopback address without TLS and authentication; every client that reaches it may read, write and commit anything",
		"listen", listen)
	return nil
}

// isLoopback reports whether host names only loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// watchPolicy reloads the policy when the config file changes, checking its
// modification time and size every second. A file that does not load keeps
// the old policy, and the reason is logged. The returned function stops it.
func watchPolicy(path string, srv *server.Server, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	stat := func() (time.Time, int64) {
		st, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return st.ModTime(), st.Size()
	}
	lastMod, lastSize := stat()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			mod, size := stat()
			if mod.Equal(lastMod) && size == lastSize {
				continue
			}
			lastMod, lastSize = mod, size
			fc, err := loadConfig(path)
			if err != nil {
				log.Error("config file reload failed; the previous policy stays in force", "path", path, "err", err)
				continue
			}
			pol, _ := fc.policy()
			srv.SetPolicy(pol)
			log.Info("policy reloaded", "path", path, "principals", pol.Principals())
		}
	}()
	return func() { close(done) }
}
