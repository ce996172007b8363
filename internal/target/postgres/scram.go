package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// Verifier returns the SCRAM-SHA-256 verifier of password with a fresh salt, in the form
// PostgreSQL stores in pg_authid.rolpassword (RFC 5802 / RFC 7677):
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// Passwords the provider makes are ASCII, for which SASLprep is the identity.
func Verifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return verifier(password, salt, scramIterations)
}

func verifier(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// VerifierMatches reports whether stored (a SCRAM-SHA-256 verifier read from pg_authid) is a
// verifier of password: the drift check of a persistent login's password. ok is false when
// stored is not a SCRAM-SHA-256 verifier (an md5 hash, say), which cannot be checked here.
func VerifierMatches(stored, password string) (match, ok bool) {
	rest, found := strings.CutPrefix(stored, "SCRAM-SHA-256$")
	if !found {
		return false, false
	}
	params, _, found := strings.Cut(rest, "$")
	if !found {
		return false, false
	}
	iter, saltB64, found := strings.Cut(params, ":")
	if !found {
		return false, false
	}
	iterations, err := strconv.Atoi(iter)
	if err != nil || iterations <= 0 {
		return false, false
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil {
		return false, false
	}
	want, err := verifier(password, salt, iterations)
	if err != nil {
		return false, false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(stored)) == 1, true
}
