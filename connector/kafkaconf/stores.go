package kafkaconf

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// The store formats of ssl.truststore.type and ssl.keystore.type.
const (
	storePEM    = "PEM"
	storeJKS    = "JKS"
	storePKCS12 = "PKCS12"
)

// jksMagic starts every JKS file.
const jksMagic = 0xFEEDFEED

// store is what ssl.truststore.* or ssl.keystore.* say about one store: the
// file ssl.*.location named (read through readServerFile when the property
// was parsed), its declared type and its password. Passwords never appear
// in an error: errors name the property and the rule.
type store struct {
	prefix      string // "ssl.truststore" or "ssl.keystore"
	typ         string // ssl.*.type, upper case; empty when not given
	location    string // ssl.*.location; empty when not given
	data        []byte // the file's contents
	password    string // ssl.*.password
	passwordSet bool
}

// The apply functions of a store's type, location and password.
func storeType(st func(*security) *store) func(string, *Settings) error {
	return func(v string, s *Settings) error {
		switch t := strings.ToUpper(v); t {
		case storePEM, storeJKS, storePKCS12:
			st(&s.sec).typ = t
			return nil
		}
		return fmt.Errorf("must be PEM, JKS or PKCS12, not %q", v)
	}
}

func storeLocation(st func(*security) *store) func(string, *Settings) error {
	return func(v string, s *Settings) (err error) {
		st(&s.sec).location = v
		st(&s.sec).data, err = readServerFile(v, s.files)
		return err
	}
}

func storePassword(st func(*security) *store) func(string, *Settings) error {
	return func(v string, s *Settings) error {
		st(&s.sec).password, st(&s.sec).passwordSet = v, true
		return nil
	}
}

// trustStore and keyStore return the two stores, named by their prefix.
func trustStore(sec *security) *store { sec.trust.prefix = "ssl.truststore"; return &sec.trust }
func keyStore(sec *security) *store   { sec.keys.prefix = "ssl.keystore"; return &sec.keys }

func (st *store) field(suffix string) string { return st.prefix + "." + suffix }

// format says how to read the store's file. A declared PEM must be PEM. A
// declared JKS or PKCS12 opens either binary format, as Java's JKS and
// PKCS12 key stores do (keystore.type.compat). Without a declared type the
// file is recognized by its content: ferry's default is PEM, Kafka's is JKS,
// and the Flink documentation's examples name .jks files without a type.
func (st *store) format() (format, field string, err error) {
	isJKS := len(st.data) >= 4 && binary.BigEndian.Uint32(st.data) == jksMagic
	isPEM := !isJKS && bytes.Contains(st.data, []byte("-----BEGIN "))
	switch {
	case st.typ == storePEM && !isPEM:
		return "", st.field("location"), fmt.Errorf("%q is not a PEM file (%s=PEM); set %s to JKS or PKCS12 for a Java store", st.location, st.field("type"), st.field("type"))
	case st.typ == storePEM || (st.typ == "" && isPEM):
		return storePEM, "", nil
	case isPEM:
		return "", st.field("type"), fmt.Errorf("is %s but %q is a PEM file; set it to PEM", st.typ, st.location)
	case isJKS:
		return storeJKS, "", nil
	}
	return storePKCS12, "", nil
}

// open returns the format of the store's file and the password that opens
// it.
func (st *store) open() (format, password, field string, err error) {
	if format, field, err = st.format(); err == nil {
		password, field, err = st.passwordFor(format)
	}
	return format, password, field, err
}

// passwordFor checks the password rules of a store in format and returns
// the password that opens it. PEM stores have no password, as in Kafka; JKS
// and PKCS12 stores need one (ferry checks a store's integrity with it).
func (st *store) passwordFor(format string) (password, field string, err error) {
	switch {
	case format == storePEM && st.passwordSet:
		return "", st.field("password"), fmt.Errorf("cannot be set for a PEM %s: PEM files have no store password (as in Kafka)", st.what())
	case format != storePEM && !st.passwordSet:
		return "", st.field("password"), fmt.Errorf("is required to open the %s %s %q", format, st.what(), st.location)
	}
	return st.password, "", nil
}

func (st *store) what() string { return strings.TrimPrefix(st.prefix, "ssl.") }

// wrongPassword is the error of a store the password does not open.
func (st *store) wrongPassword(format string) (string, error) {
	return st.field("password"), fmt.Errorf("does not open the %s store %q", format, st.location)
}

// trustedCerts returns the certificates a truststore file trusts: a PEM
// file's certificates; a JKS store's trusted certificate entries and the
// first certificate of its key entries (as Java's trust managers take
// them); a PKCS12 store's certificates marked trusted (keytool -importcert).
func (st *store) trustedCerts() (*x509.CertPool, string, error) {
	format, password, field, err := st.open()
	if err != nil {
		return nil, field, err
	}
	pool := x509.NewCertPool()
	if format == storePEM {
		if !pool.AppendCertsFromPEM(st.data) {
			return nil, st.field("location"), fmt.Errorf("%q holds no PEM certificate", st.location)
		}
		return pool, "", nil
	}
	var certs []*x509.Certificate
	if format == storeJKS {
		ks, field, err := st.loadJKS(password)
		if err != nil {
			return nil, field, err
		}
		for _, alias := range ks.Aliases() {
			var der []byte
			if e, err := ks.GetTrustedCertificateEntry(alias); err == nil {
				der = e.Certificate.Content
			} else if chain, err := ks.GetPrivateKeyEntryCertificateChain(alias); err == nil && len(chain) > 0 {
				der = chain[0].Content
			} else {
				continue
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, st.field("location"), fmt.Errorf("entry %q of the JKS store %q holds a bad certificate: %v", alias, st.location, err)
			}
			certs = append(certs, c)
		}
	} else {
		certs, err = pkcs12.DecodeTrustStore(st.data, password)
		if isPKCS12PasswordError(err) {
			field, err := st.wrongPassword(format)
			return nil, field, err
		}
		if err != nil {
			return nil, st.field("location"), fmt.Errorf("%q is not a PKCS12 truststore of trusted certificates (as keytool -importcert makes): %v", st.location, err)
		}
	}
	if len(certs) == 0 {
		return nil, st.field("location"), fmt.Errorf("the %s store %q holds no certificate", format, st.location)
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, "", nil
}

// keyPairs returns the client certificates of a keystore file: a PEM file's
// unencrypted key and chain; each key entry of a JKS store (opened with
// keyPassword when set, else the store password, as Kafka does; TLS then
// presents the first one the broker accepts, as Java's key manager picks
// one); a PKCS12 store's key and chain.
func (st *store) keyPairs(keyPassword *string) ([]tls.Certificate, string, error) {
	format, password, field, err := st.open()
	if err != nil {
		return nil, field, err
	}
	switch format {
	case storePEM:
		return pemKeyPair(st.data, st.data, keyPassword, st.field("location"), strconv.Quote(st.location)+" (key and chain in one file)")
	case storeJKS:
		ks, field, err := st.loadJKS(password)
		if err != nil {
			return nil, field, err
		}
		keyField, keyPw := st.field("password"), password
		if keyPassword != nil {
			keyField, keyPw = "ssl.key.password", *keyPassword
		}
		var out []tls.Certificate
		for _, alias := range ks.Aliases() {
			if !ks.IsPrivateKeyEntry(alias) {
				continue
			}
			e, err := ks.GetPrivateKeyEntry(alias, []byte(keyPw))
			if err != nil {
				return nil, keyField, fmt.Errorf("does not open the key %q of the JKS store %q", alias, st.location)
			}
			key, err := x509.ParsePKCS8PrivateKey(e.PrivateKey)
			if err != nil {
				return nil, st.field("location"), fmt.Errorf("the key %q of the JKS store %q is not a PKCS#8 private key", alias, st.location)
			}
			chain := make([][]byte, len(e.CertificateChain))
			for i, c := range e.CertificateChain {
				chain[i] = c.Content
			}
			cert, err := keyPair(key, chain)
			if err != nil {
				return nil, st.field("location"), fmt.Errorf("the key entry %q of the JKS store %q: %v", alias, st.location, err)
			}
			out = append(out, cert)
		}
		if len(out) == 0 {
			return nil, st.field("location"), fmt.Errorf("the JKS store %q holds no private key entry", st.location)
		}
		return out, "", nil
	}
	if keyPassword != nil && *keyPassword != password {
		return nil, "ssl.key.password", fmt.Errorf("must equal %s for a PKCS12 keystore: ferry opens its key with the store password (keytool makes PKCS12 stores with one password)", st.field("password"))
	}
	key, leaf, cas, err := pkcs12.DecodeChain(st.data, password)
	if isPKCS12PasswordError(err) {
		field, err := st.wrongPassword(format)
		return nil, field, err
	}
	if err != nil {
		return nil, st.field("location"), fmt.Errorf("%q is not a PKCS12 keystore with one private key and its certificate: %v", st.location, err)
	}
	chain := [][]byte{leaf.Raw}
	for _, c := range cas {
		chain = append(chain, c.Raw)
	}
	cert, err := keyPair(key, chain)
	if err != nil {
		return nil, st.field("location"), fmt.Errorf("the PKCS12 store %q: %v", st.location, err)
	}
	return []tls.Certificate{cert}, "", nil
}

// pemKeyPair reads an unencrypted PEM private key and its certificate
// chain; field is the property that holds the key, what says where it is.
func pemKeyPair(certPEM, keyPEM []byte, keyPassword *string, field, what string) ([]tls.Certificate, string, error) {
	if keyPassword != nil {
		return nil, "ssl.key.password", errors.New("cannot be used: ferry reads unencrypted PEM keys only (decrypt the key with openssl pkcs8, or use a JKS or PKCS12 keystore)")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The key is secret: say what is wrong, not what it holds.
		return nil, field, fmt.Errorf("%s does not form a valid unencrypted PEM key pair", what)
	}
	return []tls.Certificate{cert}, "", nil
}

// rootCAs returns the certificates ssl.truststore.* trust; nil means the
// system roots. Inline certificates follow Kafka's rules: PEM only, and
// not together with a truststore file.
func (sec *security) rootCAs() (*x509.CertPool, string, error) {
	st := trustStore(sec)
	if sec.trustPEM == nil {
		if st.location == "" {
			return nil, "", nil
		}
		return st.trustedCerts()
	}
	if field, err := st.inlinePEM("ssl.truststore.certificates"); err != nil {
		return nil, field, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sec.trustPEM) {
		return nil, "ssl.truststore.certificates", errors.New("holds no PEM certificate")
	}
	return pool, "", nil
}

// clientCerts returns the client certificates ssl.keystore.* and
// ssl.keystore.key/.certificate.chain give; none means no client
// authentication.
func (sec *security) clientCerts() ([]tls.Certificate, string, error) {
	st := keyStore(sec)
	if sec.keyPEM == nil && sec.certPEM == nil {
		if st.location == "" {
			return nil, "", nil
		}
		return st.keyPairs(sec.keyPassword)
	}
	if field, err := st.inlinePEM("ssl.keystore.key"); err != nil {
		return nil, field, err
	}
	return pemKeyPair(sec.certPEM, sec.keyPEM, sec.keyPassword, "ssl.keystore.key", "with ssl.keystore.certificate.chain")
}

// inlinePEM checks a store given inline by the property inline, as Kafka
// does: its type is PEM, it has no password, and no file is named too.
func (st *store) inlinePEM(inline string) (string, error) {
	switch {
	case st.location != "":
		return inline, fmt.Errorf("cannot be set together with %s (as in Kafka)", st.field("location"))
	case st.typ != "" && st.typ != storePEM:
		return st.field("type"), fmt.Errorf("must be PEM with %s, not %s (as in Kafka)", inline, st.typ)
	}
	_, field, err := st.passwordFor(storePEM)
	return field, err
}

// loadJKS opens a JKS store, checking its integrity with password.
func (st *store) loadJKS(password string) (keystore.KeyStore, string, error) {
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
	err := ks.Load(bytes.NewReader(st.data), []byte(password))
	switch {
	case err == nil:
		return ks, "", nil
	case strings.Contains(err.Error(), "invalid digest"):
		// The store parsed, but the password does not check its digest.
		field, err := st.wrongPassword(storeJKS)
		return ks, field, err
	}
	return ks, st.field("location"), fmt.Errorf("%q is not a valid JKS store: %v", st.location, err)
}

func isPKCS12PasswordError(err error) bool {
	return errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption)
}

// keyPair makes a TLS certificate of a private key and its DER chain (leaf
// first), checking that the key belongs to the leaf.
func keyPair(key any, chain [][]byte) (tls.Certificate, error) {
	if len(chain) == 0 {
		return tls.Certificate{}, errors.New("the key has no certificate")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bad certificate: %v", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("the private key (%T) cannot sign", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, errors.New("the private key does not match its certificate")
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
