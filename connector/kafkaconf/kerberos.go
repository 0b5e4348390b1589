package kafkaconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"
)

// DefaultKrb5Conf is where the krb5 configuration is read from without
// sasl.kerberos.krb5.conf (KRB5_CONFIG overrides it, as for MIT Kerberos).
const DefaultKrb5Conf = "/etc/krb5.conf"

// krb5Login is a Krb5LoginModule sasl.jaas.config.
type krb5Login struct {
	useKeyTab, useTicketCache bool
	keyTab, principal         string
	ticketCache               string
}

var krb5JAASRE = regexp.MustCompile(`(?s)^\s*com\.sun\.security\.auth\.module\.Krb5LoginModule\s+required\b(.*?);?\s*$`)
var krb5OptRE = regexp.MustCompile(`(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))`)

// parseKrb5JAAS reads a Krb5LoginModule line: useKeyTab=true keyTab="..."
// principal="..." or useTicketCache=true [ticketCache="..."]
// [principal="..."]. Other Krb5LoginModule options (storeKey, debug, ...)
// are accepted and have no effect.
func parseKrb5JAAS(v string) (*krb5Login, bool, error) {
	m := krb5JAASRE.FindStringSubmatch(v)
	if m == nil {
		return nil, false, nil
	}
	l := &krb5Login{}
	for _, o := range krb5OptRE.FindAllStringSubmatch(m[1], -1) {
		val := o[3]
		if o[3] == "" {
			val = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(o[2])
		}
		switch o[1] {
		case "useKeyTab":
			l.useKeyTab = strings.EqualFold(val, "true")
		case "useTicketCache":
			l.useTicketCache = strings.EqualFold(val, "true")
		case "keyTab":
			l.keyTab = val
		case "principal":
			l.principal = val
		case "ticketCache":
			l.ticketCache = val
		}
	}
	switch {
	case l.useKeyTab && (l.keyTab == "" || l.principal == ""):
		return nil, true, errors.New(`Krb5LoginModule with useKeyTab=true must set keyTab="..." and principal="..."`)
	case !l.useKeyTab && !l.useTicketCache:
		return nil, true, errors.New(`Krb5LoginModule must set useKeyTab=true (with keyTab and principal) or useTicketCache=true: ferry cannot prompt for a password`)
	}
	return l, true, nil
}

// kerberosSettings are the sasl.kerberos.* keys.
type kerberosSettings struct {
	login       *krb5Login
	serviceName string // sasl.kerberos.service.name
	krb5Conf    string // sasl.kerberos.krb5.conf
}

// kerberosMechanism builds the GSSAPI mechanism: the keytab or ticket cache
// and the krb5 configuration are server files (readServerFile), read now,
// credentials first, so that a refused or broken file fails the open.
func (s *Settings) kerberosMechanism() (field string, m sasl.Mechanism, err error) {
	k := &s.sec.krb
	l := k.login
	if l == nil {
		return "sasl.jaas.config", nil, errors.New(`sasl.mechanism=GSSAPI needs "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"...\" principal=\"...\";" (or useTicketCache=true)`)
	}
	var (
		kt *keytab.Keytab
		cc *credentials.CCache
	)
	if l.useKeyTab {
		data, err := readServerFile(l.keyTab, s.files)
		if err != nil {
			return "sasl.jaas.config", nil, fmt.Errorf("keyTab: %v", err)
		}
		kt = keytab.New()
		if err := kt.Unmarshal(data); err != nil {
			return "sasl.jaas.config", nil, fmt.Errorf("keyTab %q is not a keytab: %v", l.keyTab, err)
		}
	} else {
		path := l.ticketCache
		if path == "" {
			path = defaultTicketCache()
		}
		data, err := readServerFile(path, s.files)
		if err != nil {
			return "sasl.jaas.config", nil, fmt.Errorf("ticketCache: %v", err)
		}
		cc = new(credentials.CCache)
		if err := cc.Unmarshal(data); err != nil {
			return "sasl.jaas.config", nil, fmt.Errorf("ticketCache %q is not a credentials cache: %v", path, err)
		}
	}

	confPath, confField := k.krb5Conf, "sasl.kerberos.krb5.conf"
	var confData []byte
	if confPath == "" {
		// The system's configuration is named by nobody: read it as Java
		// does, whoever asks.
		confPath = DefaultKrb5Conf
		if p := os.Getenv("KRB5_CONFIG"); p != "" {
			confPath = p
		}
		if confData, err = os.ReadFile(confPath); err != nil {
			return confField, nil, fmt.Errorf("is not set and the default krb5 configuration %s cannot be read: %v", confPath, errors.Unwrap(err))
		}
	} else if confData, err = readServerFile(confPath, s.files); err != nil {
		return confField, nil, err
	}
	conf, err := config.NewFromString(string(confData))
	if err != nil {
		return confField, nil, fmt.Errorf("%s is not a valid krb5 configuration: %v", confPath, err)
	}

	service := k.serviceName
	if service == "" {
		service = "kafka"
	}
	var cl *client.Client
	principal := l.principal
	if kt != nil {
		user, realm, _ := strings.Cut(principal, "@")
		if realm == "" {
			realm = conf.LibDefaults.DefaultRealm
		}
		if realm == "" {
			return "sasl.jaas.config", nil, fmt.Errorf("principal %q has no realm and the krb5 configuration %s has no default_realm", principal, confPath)
		}
		principal = user + "@" + realm
		// A keytab client logs in again by itself when its ticket-granting
		// ticket runs out, and fetches a new service ticket when the cached
		// one has, so sessions outlive any ticket lifetime (also where the
		// broker re-authenticates connections).
		cl = client.NewWithKeytab(user, realm, kt, conf, client.DisablePAFXFAST(true))
	} else {
		if cl, err = client.NewFromCCache(cc, conf, client.DisablePAFXFAST(true)); err != nil {
			return "sasl.jaas.config", nil, fmt.Errorf("ticketCache: %v", err)
		}
		if principal == "" {
			principal = cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + cc.DefaultPrincipal.Realm
		}
	}
	inner := kerberos.Auth{Client: cl, Service: service}.AsMechanismWithClose()
	return "", &krbMechanism{inner: inner, principal: principal, service: service}, nil
}

// krbMechanism names the principal and service in every failed login and
// makes it a SASL authentication failure (UNAUTHENTICATED).
type krbMechanism struct {
	inner              sasl.Mechanism
	principal, service string
}

func (m *krbMechanism) Name() string { return m.inner.Name() }

func (m *krbMechanism) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	sess, first, err := m.inner.Authenticate(ctx, host)
	if err != nil {
		h := host
		if i := strings.LastIndexByte(h, ':'); i > 0 {
			h = h[:i]
		}
		return nil, nil, &kerberosLoginError{fmt.Sprintf("Kerberos (GSSAPI) login of principal %q for service %q (%s/%s) failed: %v",
			m.principal, m.service, m.service, h, err)}
	}
	return sess, first, nil
}

// kerberosLoginError is a failed Kerberos login: a Kafka
// SASL_AUTHENTICATION_FAILED (UNAUTHENTICATED to ferry's clients) whose
// message is the principal, the service and the KDC's reason.
type kerberosLoginError struct{ msg string }

func (e *kerberosLoginError) Error() string { return e.msg }
func (e *kerberosLoginError) Unwrap() error { return kerr.SaslAuthenticationFailed }

func (m *krbMechanism) Close() {
	if c, ok := m.inner.(sasl.ClosingMechanism); ok {
		c.Close()
	}
}

// ServerFiles are the files on the ferry server that the property key=value
// names: a *.location store, sasl.kerberos.krb5.conf, and a Krb5LoginModule
// sasl.jaas.config's keyTab and ticketCache. The server lets the operator's
// cluster properties name these anywhere (Files.Paths), never a client's.
func ServerFiles(key, value string) []string {
	switch {
	case strings.HasSuffix(key, ".location"), key == "sasl.kerberos.krb5.conf":
		return []string{value}
	case key == "sasl.jaas.config":
		l, ok, err := parseKrb5JAAS(value)
		if !ok || err != nil {
			return nil
		}
		var out []string
		for _, p := range []string{l.keyTab, l.ticketCache} {
			if p != "" {
				out = append(out, p)
			}
		}
		if l.useTicketCache && l.ticketCache == "" {
			out = append(out, defaultTicketCache())
		}
		return out
	}
	return nil
}

// defaultTicketCache is where Java and MIT Kerberos look for the ticket
// cache without ticketCache: $KRB5CCNAME (a FILE: cache), else
// /tmp/krb5cc_<uid>.
func defaultTicketCache() string {
	if p := os.Getenv("KRB5CCNAME"); p != "" {
		return strings.TrimPrefix(p, "FILE:")
	}
	return fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
}
