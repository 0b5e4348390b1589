package authn

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// tokenHashPrefix names the hash function in the tokens file.
const tokenHashPrefix = "sha256:"

// HashToken returns the form in which the tokens file stores a token:
// "sha256:" and the 64 lower-case hex digits of the token's SHA-256. An
// operator's command prints "<principal> " + HashToken(token) as the line to
// add; the token itself is given to the client and stored nowhere by ferry.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenHashPrefix + hex.EncodeToString(sum[:])
}

// tokenTable is a parsed tokens file.
type tokenTable struct {
	entries    []tokenEntry
	principals int // distinct principals, for the log
}

type tokenEntry struct {
	principal string
	hash      [sha256.Size]byte
}

// parseTokens parses the tokens file: one line per token,
//
//	<principal> sha256:<64 hex digits>   # optional comment
//
// with blank lines and lines starting with # ignored. A principal may have
// several tokens (to rotate them); one hash on two lines is an error, since
// it would make the principal of a token ambiguous. Errors name the line,
// never its hash.
func parseTokens(data [][]byte) (*tokenTable, error) {
	t := &tokenTable{}
	seen := map[[sha256.Size]byte]int{}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data[0]))
	sc.Buffer(make([]byte, 0, 4096), maxFileBytes)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 || len(f) > 2 && !strings.HasPrefix(f[2], "#") {
			return nil, fmt.Errorf("line %d: want \"<principal> sha256:<64 hex digits>\"", n)
		}
		hexHash, ok := strings.CutPrefix(f[1], tokenHashPrefix)
		raw, err := hex.DecodeString(hexHash)
		if !ok || err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("line %d (principal %q): the second field must be sha256:<64 hex digits>; the file holds hashes of tokens, never tokens", n, f[0])
		}
		e := tokenEntry{principal: f[0], hash: [sha256.Size]byte(raw)}
		if prev, dup := seen[e.hash]; dup {
			return nil, fmt.Errorf("line %d (principal %q): same token hash as line %d", n, f[0], prev)
		}
		seen[e.hash] = n
		names[e.principal] = true
		t.entries = append(t.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	t.principals = len(names)
	return t, nil
}

func describeTokens(t *tokenTable) []any {
	return []any{"tokens", len(t.entries), "principals", t.principals}
}

// lookup returns the principal of token. It compares the token's hash with
// every entry in constant time and does not stop at a match, so the time it
// takes says nothing about which entry, if any, matched.
func (t *tokenTable) lookup(token string) (principal string, ok bool) {
	sum := sha256.Sum256([]byte(token))
	for i := range t.entries {
		if subtle.ConstantTimeCompare(t.entries[i].hash[:], sum[:]) == 1 {
			principal, ok = t.entries[i].principal, true
		}
	}
	return principal, ok
}
