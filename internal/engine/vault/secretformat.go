package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// The secret format is "nhis.<identity>.<base64url, unpadded, of length random bytes>":
// identity names hold no characters outside [A-Za-z0-9._-] and base64url holds no '.', so the
// text after the last '.' is the random part and the identity (whose role to log in to) is
// what lies between the prefix and it. Vault tokens never start with "nhis.".

// secretPrefix starts every rotated secret.
const secretPrefix = "nhis."

// fingerprint is the first 16 hex digits of the SHA-256 of a secret: equal for equal values,
// and with at least 128 bits of entropy in every secret it reveals nothing of the value.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// newSecret draws length random bytes and formats them as a secret of identity.
func newSecret(identity string, length int64) (string, error) {
	b := make([]byte, length)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %v", err)
	}
	return secretPrefix + identity + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// newLoginPassword draws length random bytes and formats them as the password of a rotated
// login (base64url, unpadded): it has no '.', which tells it from a Vault token (authenticate),
// and holds ASCII only, for which the SCRAM verifier needs no SASLprep.
func newLoginPassword(length int64) (string, error) {
	b := make([]byte, length)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// secretIdentity returns the identity a rotated secret names, or false when secret is not in
// the engine's format.
func secretIdentity(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", false
	}
	identity, random := rest[:i], rest[i+1:]
	if engine.CheckName(kindIdentity, identity) != nil || random == "" {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(random); err != nil {
		return "", false
	}
	return identity, true
}
