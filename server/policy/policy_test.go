package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferrykafka/ferry/connector"
)

func patterns(t *testing.T, ss ...string) Patterns {
	t.Helper()
	var out Patterns
	for _, s := range ss {
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"orders", []string{"orders"}, []string{"orders2", "order", ""}},
		{"team-a.*", []string{"team-a.", "team-a.x"}, []string{"team-a", "team-b.x"}},
		{"*", []string{"", "anything"}, nil},
		{`/team-(a|b)\..*/`, []string{"team-a.x", "team-b.y"}, []string{"team-c.x", "xteam-a.x", "team-a"}},
	} {
		p := patterns(t, tc.pattern)
		for _, n := range tc.yes {
			if !p.Match(n) {
				t.Errorf("%q does not match %q", tc.pattern, n)
			}
		}
		for _, n := range tc.no {
			if p.Match(n) {
				t.Errorf("%q matches %q", tc.pattern, n)
			}
		}
	}
	for _, bad := range []string{"", "a*b*", "*a", "/a[/"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) succeeded", bad)
		}
	}
}

// TestCheckEachResourceKind allows and denies each kind of resource, and
// checks that a denial names the principal, the operation and the resource.
func TestCheckEachResourceKind(t *testing.T) {
	p := New(map[string]Rights{
		"team-a": {
			Clusters:                patterns(t, "main"),
			ReadTopics:              patterns(t, "orders", "team-a.*"),
			WriteTopics:             patterns(t, "team-a.out"),
			Groups:                  patterns(t, "team-a-*"),
			TransactionalIDPrefixes: patterns(t, "team-a-*"),
		},
		"ops": {Admin: true},
	})
	for _, tc := range []struct {
		op             Operation
		yes, no        string
		verb, resource string
	}{
		{UseCluster, "main", "other", "use", `cluster "other"`},
		{Read, "team-a.in", "team-b.in", "read", `topic "team-b.in"`},
		{Write, "team-a.out", "orders", "write", `topic "orders"`},
		{UseGroup, "team-a-etl", "team-b-etl", "use", `consumer group "team-b-etl"`},
		{UseTransactionalIDPrefix, "team-a-sink", "team-b-sink", "use", `transactional id prefix "team-b-sink"`},
	} {
		if err := p.Check("team-a", tc.op, tc.yes); err != nil {
			t.Errorf("team-a %s %q: %v", tc.verb, tc.yes, err)
		}
		err := p.Check("team-a", tc.op, tc.no)
		var de *connector.DeniedError
		if !errors.As(err, &de) {
			t.Fatalf("team-a %s %q: %v, want a DeniedError", tc.verb, tc.no, err)
		}
		for _, s := range []string{`principal "team-a"`, tc.verb, tc.resource} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q does not say %q", err, s)
			}
		}
	}
	if err := p.Check("team-a", Administer, "reflection"); err == nil {
		t.Error("team-a is not admin")
	}
	if err := p.Check("ops", Administer, "reflection"); err != nil {
		t.Errorf("ops is admin: %v", err)
	}
	if err := p.Check("ops", Read, "orders"); err == nil {
		t.Error("admin gives no topic rights")
	}
	if err := p.Check("stranger", Read, "orders"); err == nil || !strings.Contains(err.Error(), "no rights") {
		t.Errorf("unknown principal: %v", err)
	}
	var open *Policy
	if err := open.Check("", Write, "anything"); err != nil {
		t.Errorf("a nil policy allows everything: %v", err)
	}
}
