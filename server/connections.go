package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connectionLimit is the listener of Serve: it holds at most limit client
// connections at once and closes any connection beyond them as soon as it
// is accepted, so that no client can make ferry run out of file
// descriptors (which its Kafka clients need too) or of the memory each
// connection's buffers take. A client refused sees its connection closed
// before the server's preface (UNAVAILABLE). Refusals are logged once per
// minute at most, with their count.
type connectionLimit struct {
	net.Listener
	srv   *Server
	limit int64

	mu          sync.Mutex
	refused     int64     // since the last log line
	lastRefusal time.Time // of the last log line
}

// limitConnections wraps lis with the server's MaxConnections.
func (s *Server) limitConnections(lis net.Listener) net.Listener {
	return &connectionLimit{Listener: lis, srv: s, limit: int64(s.cfg.MaxConnections)}
}

// Accept returns the next connection within the limit; connections beyond
// it are closed and not returned.
func (l *connectionLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !admit(&l.srv.connections, l.limit) {
			c.Close()
			l.refuse(c.RemoteAddr())
			continue
		}
		counted := &countedConn{Conn: c, open: &l.srv.connections}
		if err := setUserTimeout(c, l.srv.cfg.KeepaliveTimeout); err != nil {
			// gRPC's server drops a connection it cannot set this on.
			l.srv.log.Warn("connection closed: setting TCP_USER_TIMEOUT failed", "from", c.RemoteAddr().String(), "err", err)
			counted.Close()
			continue
		}
		return counted, nil
	}
}

// refuse logs a refused connection, or counts it for the next line when
// one was logged less than a minute ago.
func (l *connectionLimit) refuse(from net.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused++
	if now := time.Now(); now.Sub(l.lastRefusal) >= time.Minute {
		l.srv.log.Warn("connection refused: the server holds its maximum of client connections (ferry serve --max-connections)",
			"max_connections", l.limit, "from", from.String(), "refused_since_last_line", l.refused)
		l.refused, l.lastRefusal = 0, now
	}
}

// countedConn is a connection that leaves the count of open connections
// when it is closed (the first Close only).
type countedConn struct {
	net.Conn
	open   *atomic.Int64
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}
