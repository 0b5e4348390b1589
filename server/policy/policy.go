// Package policy says what each authenticated principal may do with ferry:
// which clusters it may use, which topics it may read and write, which
// consumer groups it may commit for and which transactional id prefixes it
// may own, and whether it may use the operator's services (reflection,
// administration). The operator writes it in ferry's config file; the server
// checks it when a session opens and for every topic or group a session
// names later.
//
// A denial is a *connector.DeniedError, which the server maps to
// PERMISSION_DENIED naming the principal, the operation and the resource.
// This is what stops one tenant from committing another's consumer group or
// fencing another's exactly-once writer.
package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/ferrykafka/ferry/connector"
)

// Pattern matches names (topics, groups, transactional id prefixes), written
// as Kafka's resource patterns are:
//   - "orders": the literal name (Kafka's LITERAL);
//   - "team-a.*": every name that starts with "team-a." (Kafka's PREFIXED);
//   - "*": every name;
//   - "/^team-(a|b)\..*$/": an RE2 expression between slashes, matched
//     against the whole name.
type Pattern struct {
	text     string
	isPrefix bool           // "…*": prefix holds the part before '*'
	prefix   string         //
	any      bool           // "*"
	re       *regexp.Regexp // "/…/"
}

// ParsePattern parses one pattern; an empty one or a bad expression is an
// error.
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{text: s}
	switch {
	case s == "":
		return p, fmt.Errorf("empty pattern (use \"*\" for every name)")
	case s == "*":
		p.any = true
	case len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/':
		re, err := regexp.Compile(`^(?:` + s[1:len(s)-1] + `)$`)
		if err != nil {
			return p, fmt.Errorf("pattern %q is not a valid RE2 expression: %v", s, err)
		}
		p.re = re
	case strings.HasSuffix(s, "*"):
		p.isPrefix, p.prefix = true, strings.TrimSuffix(s, "*")
		if strings.Contains(p.prefix, "*") {
			return p, fmt.Errorf("pattern %q: '*' may only end a prefix", s)
		}
	case strings.Contains(s, "*"):
		return p, fmt.Errorf("pattern %q: '*' may only end a prefix", s)
	}
	return p, nil
}

// Match reports whether name matches the pattern.
func (p Pattern) Match(name string) bool {
	switch {
	case p.any:
		return true
	case p.re != nil:
		return p.re.MatchString(name)
	case p.isPrefix:
		return strings.HasPrefix(name, p.prefix)
	}
	return name == p.text
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.text }

// Patterns is a list of patterns; a name matches when any pattern does.
type Patterns []Pattern

// Match reports whether any pattern matches name.
func (ps Patterns) Match(name string) bool {
	for _, p := range ps {
		if p.Match(name) {
			return true
		}
	}
	return false
}

// Rights are what one principal may do. The zero value may do nothing.
type Rights struct {
	// Clusters are the names of configured clusters it may use ("*" for
	// all). Client-named bootstrap servers count as the cluster "".
	Clusters Patterns
	// ReadTopics are the topics its sources may read; a topic pattern
	// subscription and partition discovery see only these.
	ReadTopics Patterns
	// WriteTopics are the topics its sinks may write.
	WriteTopics Patterns
	// Groups are the consumer groups it may read committed offsets of and
	// commit offsets to (from a source, or inside a sink's transaction).
	Groups Patterns
	// TransactionalIDPrefixes are the transactional id prefixes its
	// EXACTLY_ONCE sinks may use: owning a prefix is what lets a writer
	// commit, abort and fence the transactions under it.
	TransactionalIDPrefixes Patterns
	// Jobs are the jobs whose checkpoints ferry keeps that it may use: open
	// sessions of, restore and complete (JobCheckpoints). A job's stored
	// states hold offsets and transactions, so it belongs to principals as
	// a group or a transactional id prefix does.
	Jobs Patterns
	// Admin allows the operator's services: server reflection and
	// administrative RPCs.
	Admin bool
}

// Policy maps principals to their rights. A nil *Policy allows everything:
// it is what ferry uses when no authentication is configured (and then it
// serves on loopback only). A Policy is immutable; the server swaps in a new
// one when the config file changes.
type Policy struct {
	rights map[string]Rights
}

// New returns a policy of rights by principal name.
func New(rights map[string]Rights) *Policy {
	m := make(map[string]Rights, len(rights))
	for k, v := range rights {
		m[k] = v
	}
	return &Policy{rights: m}
}

// Principals returns the principal names the policy knows, sorted.
func (p *Policy) Principals() []string {
	names := make([]string, 0, len(p.rights))
	for n := range p.rights {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Operation is something a principal asks to do to a resource.
type Operation int

const (
	// UseCluster is opening a session on a cluster.
	UseCluster Operation = iota
	// Read is reading a topic.
	Read
	// Write is writing a topic.
	Write
	// UseGroup is reading or committing a consumer group's offsets.
	UseGroup
	// UseTransactionalIDPrefix is owning the transactions of a prefix.
	UseTransactionalIDPrefix
	// Administer is using reflection or an administrative RPC.
	Administer
	// UseJob is using the checkpoints ferry keeps for a job.
	UseJob
)

var operations = [...]struct{ verb, kind string }{
	UseCluster:               {"use", "cluster"},
	Read:                     {"read", "topic"},
	Write:                    {"write", "topic"},
	UseGroup:                 {"use", "consumer group"},
	UseTransactionalIDPrefix: {"use", "transactional id prefix"},
	Administer:               {"use", "service"},
	UseJob:                   {"use", "job"},
}

// Check returns nil when principal may do op to resource, else a
// *connector.DeniedError naming the three.
func (p *Policy) Check(principal string, op Operation, resource string) error {
	if p == nil {
		return nil
	}
	r, known := p.rights[principal]
	var ok bool
	switch op {
	case UseCluster:
		ok = r.Clusters.Match(resource)
	case Read:
		ok = r.ReadTopics.Match(resource)
	case Write:
		ok = r.WriteTopics.Match(resource)
	case UseGroup:
		ok = r.Groups.Match(resource)
	case UseTransactionalIDPrefix:
		ok = r.TransactionalIDPrefixes.Match(resource)
	case Administer:
		ok = r.Admin
	case UseJob:
		ok = r.Jobs.Match(resource)
	}
	if ok {
		return nil
	}
	o := operations[op]
	err := &connector.DeniedError{Principal: principal, Operation: o.verb, Resource: fmt.Sprintf("%s %q", o.kind, resource)}
	if !known {
		err.Reason = "the policy gives this principal no rights"
	}
	return err
}

// Allows reports whether principal may do op to resource.
func (p *Policy) Allows(principal string, op Operation, resource string) bool {
	return p.Check(principal, op, resource) == nil
}
