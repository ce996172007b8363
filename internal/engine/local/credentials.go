package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Credentials live in one sub-bucket per identity of bucketCredentials, keyed by credential ID:
// every credential ever issued, which ListCredentials and the audit log read. bucketLive holds
// a copy of each credential that has not ended (policy.Credential.Ended), in one sub-bucket per
// identity, keyed by liveKey: the moment the credential ends by expiry, then its ID. Refresh
// and the drift report (LiveCredentials) seek past the keys that ended before now, so they
// decode live credentials only, whatever the history, and a read never has to write to keep
// it so. Every write of a credential updates both; a revoked credential leaves bucketLive at
// once, one that ends by expiry at the next issue to its identity. The secret of a credential
// is never stored.
//
// bucketSecretIndex maps the SHA-256 (hex) of every secret the engine minted to a reference, so
// that Authenticate finds any secret with one look-up:
//
//	<identity>/<credential-id>      a dynamic credential (credential IDs start with "cred-")
//	secret:<identity>/<version>     a version of a persistent identity's rotated secret (rotation.go)
//
// The part after the last '/' tells them apart: a credential ID is never a decimal number.

// SecretPrefix starts every secret the local engine mints, so scanners can recognise them.
const SecretPrefix = "nhi."

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return []byte(hex.EncodeToString(h[:]))
}

// secretRef is a parsed bucketSecretIndex reference: Credential is set for a dynamic credential,
// Version (> 0) for a version of a rotated secret.
type secretRef struct {
	Identity   string
	Credential string
	Version    int64
}

func credentialRef(identity, credID string) string { return identity + "/" + credID }

// versionRef names a version of a rotated secret; it is also the additional data its sealed
// value is bound to.
func versionRef(identity string, version int64) string {
	return versionRefPrefix + identity + "/" + strconv.FormatInt(version, 10)
}

const versionRefPrefix = "secret:"

func parseRef(raw []byte) (secretRef, bool) {
	ref := string(raw)
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 || i == len(ref)-1 {
		return secretRef{}, false
	}
	head, tail := ref[:i], ref[i+1:]
	if name, ok := strings.CutPrefix(head, versionRefPrefix); ok && name != "" {
		if v, err := strconv.ParseInt(tail, 10, 64); err == nil && v > 0 {
			return secretRef{Identity: name, Version: v}, true
		}
	}
	return secretRef{Identity: head, Credential: tail}, true
}

// lookupSecret finds what a secret belongs to.
func lookupSecret(tx *bolt.Tx, secret string) (secretRef, bool) {
	raw := tx.Bucket(bucketSecretIndex).Get(hashSecret(secret))
	if raw == nil {
		return secretRef{}, false
	}
	return parseRef(raw)
}

func newSecret() (id, secret string, err error) {
	raw := make([]byte, 40)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	return "cred-" + hex.EncodeToString(raw[:8]), SecretPrefix + base64.RawURLEncoding.EncodeToString(raw[8:]), nil
}

func credBucket(tx *bolt.Tx, identity string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(bucketCredentials)
	if create {
		return root.CreateBucketIfNotExists([]byte(identity))
	}
	return root.Bucket([]byte(identity)), nil
}

func getCredential(tx *bolt.Tx, identity, id string) (engine.Credential, error) {
	var c engine.Credential
	b, _ := credBucket(tx, identity, false)
	var raw []byte
	if b != nil {
		raw = b.Get([]byte(id))
	}
	if raw == nil {
		return c, engine.NotFound(engine.KindCredential, id)
	}
	return c, json.Unmarshal(raw, &c)
}

// putCredential writes c, and keeps it in bucketLive while it has not ended by now.
func putCredential(tx *bolt.Tx, c engine.Credential, now time.Time) error {
	b, err := credBucket(tx, c.Identity, true)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(c.ID), raw); err != nil {
		return err
	}
	live, err := tx.Bucket(bucketLive).CreateBucketIfNotExists([]byte(c.Identity))
	if err != nil {
		return err
	}
	if c.Ended(now) {
		return live.Delete(liveKey(c))
	}
	return live.Put(liveKey(c), raw)
}

// liveKey is c's key in bucketLive: when it ends by expiry (its hard expiry plus
// policy.EndedGrace; never, for a credential without one), 8 bytes big-endian, then its ID. The
// hard expiry is fixed at issue, so every write of a credential finds its key again.
func liveKey(c engine.Credential) []byte {
	end := uint64(math.MaxUint64)
	if !c.HardExpiresAt.IsZero() {
		end = liveEnd(c.HardExpiresAt.Add(policy.EndedGrace))
	}
	return append(binary.BigEndian.AppendUint64(nil, end), c.ID...)
}

// liveEnd is the 8-byte key prefix of time t (nanoseconds since 1970; earlier times are 0).
func liveEnd(t time.Time) uint64 { return uint64(max(t.UnixNano(), 0)) }

// liveFrom is the first key of bucketLive that has not ended at now: Ended holds after the end,
// so a credential ending exactly at now is still live.
func liveFrom(now time.Time) []byte { return binary.BigEndian.AppendUint64(nil, liveEnd(now)) }

// pruneLive removes the credentials of identity that ended by now from bucketLive: the keys
// before liveFrom(now), without decoding them.
func pruneLive(tx *bolt.Tx, identity string, now time.Time) error {
	live := tx.Bucket(bucketLive).Bucket([]byte(identity))
	if live == nil {
		return nil
	}
	from := liveFrom(now)
	c := live.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, from) < 0; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// indexLive creates bucketLive when absent, filled with the credentials that have not ended:
// the migration of a database written before it existed.
func (e *Engine) indexLive(tx *bolt.Tx) error {
	if tx.Bucket(bucketLive) != nil {
		return nil
	}
	if tx.Bucket(bucketLiveByID) != nil {
		if err := tx.DeleteBucket(bucketLiveByID); err != nil {
			return err
		}
	}
	if _, err := tx.CreateBucket(bucketLive); err != nil {
		return err
	}
	now := e.clock.Now()
	root := tx.Bucket(bucketCredentials)
	var creds []engine.Credential
	err := root.ForEachBucket(func(k []byte) error {
		return root.Bucket(k).ForEach(func(_, raw []byte) error {
			var c engine.Credential
			if err := json.Unmarshal(raw, &c); err != nil {
				return err
			}
			creds = append(creds, c)
			return nil
		})
	})
	for _, c := range creds {
		if err == nil {
			err = putCredential(tx, c, now)
		}
	}
	return err
}

// identityOf finds which identity a credential ID belongs to.
func identityOf(tx *bolt.Tx, id string) (string, error) {
	var found string
	err := tx.Bucket(bucketCredentials).ForEachBucket(func(k []byte) error {
		if found == "" && tx.Bucket(bucketCredentials).Bucket(k).Get([]byte(id)) != nil {
			found = string(k)
		}
		return nil
	})
	if err == nil && found == "" {
		err = engine.NotFound(engine.KindCredential, id)
	}
	return found, err
}

// IssueCredential mints a credential within the identity's TTL policy.
func (e *Engine) IssueCredential(ctx context.Context, req engine.CredentialRequest) (engine.Credential, string, error) {
	if err := ctxErr(ctx); err != nil {
		return engine.Credential{}, "", err
	}
	credID, secret, err := newSecret()
	if err != nil {
		return engine.Credential{}, "", err
	}
	var cred engine.Credential
	err = e.batch(func(tx *bolt.Tx) error {
		var id policy.Identity
		if err := getJSON(tx, bucketIdentities, req.Identity, &id); err != nil {
			return err
		}
		if id.Retired() {
			return fmt.Errorf("identity %q: %w", id.Name, engine.ErrRetired)
		}
		if id.TTLPolicy == "" {
			return fmt.Errorf("identity %q has no TTL policy, so it gets no dynamic credentials (persistent identities use a rotated secret): %w", id.Name, engine.ErrInvalid)
		}
		var p policy.TTLPolicy
		if err := getJSON(tx, bucketTTLPolicies, id.TTLPolicy, &p); err != nil {
			return err
		}
		grant, err := policy.GrantCredential(p, req.TTL)
		if err != nil {
			return fmt.Errorf("identity %q: %v: %w", id.Name, err, engine.ErrInvalid)
		}
		now := e.clock.Now()
		cred = grant.Issue(credID, id, req.Requester, req.Purpose, now)
		if err := targetLogin(tx, id, &cred); err != nil {
			return err
		}
		if err := pruneLive(tx, id.Name, now); err != nil {
			return err
		}
		if err := putCredential(tx, cred, now); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSecretIndex).Put(hashSecret(secret), []byte(credentialRef(id.Name, credID))); err != nil {
			return err
		}
		if err := e.appendAudit(tx, engine.AuditEvent{Type: engine.EventIssued, Identity: id.Name, Credential: credID,
			Requester: req.Requester, Purpose: req.Purpose, Detail: "expires " + cred.ExpiresAt.Format(time.RFC3339)}); err != nil {
			return err
		}
		// Minting a credential is a use of the identity, as on Vault, where it is a login.
		return e.recordUse(tx, id, now, engine.AuditEvent{Type: engine.EventUsed, Identity: id.Name, Credential: credID,
			Requester: req.Requester, Purpose: req.Purpose, Detail: "credential issued"})
	})
	if err != nil {
		return engine.Credential{}, "", err
	}
	if err := e.createLogin(ctx, cred, secret); err != nil {
		return engine.Credential{}, "", err
	}
	if cred.Target != "" {
		// The issue also repairs the identity's other logins. The new credential is returned
		// whatever that gives: a login left unrepaired stays a drift finding until a later issue
		// or close repairs it.
		_ = e.repairLogins(ctx, cred.Identity)
	}
	return cred, secret, nil
}

// RenewCredential extends a live credential by its TTL, within its renewal budget and hard
// expiry. A credential on a target is renewed there first, and the renewal recorded only when
// the target took the new VALID UNTIL: a renewal the target refuses spends none of the budget.
func (e *Engine) RenewCredential(ctx context.Context, credID, secret string) (engine.Credential, error) {
	if err := ctxErr(ctx); err != nil {
		return engine.Credential{}, err
	}
	now := e.clock.Now()
	var c engine.Credential
	err := e.view(func(tx *bolt.Tx) error {
		var err error
		c, err = renewal(tx, credID, secret, now)
		return err
	})
	if errors.Is(err, errEmpty) {
		err = engine.ErrSecretRefused
	}
	if err == nil {
		err = e.extendLogin(ctx, c)
	}
	if err != nil {
		return engine.Credential{}, err
	}
	var recorded engine.Credential
	err = e.update(func(tx *bolt.Tx) error {
		var err error
		if recorded, err = renewal(tx, credID, secret, now); err != nil {
			return err
		}
		if err := putCredential(tx, recorded, now); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventRenewed, Identity: recorded.Identity, Credential: credID,
			Requester: recorded.Requester, Purpose: recorded.Purpose, Detail: "expires " + recorded.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil || !recorded.ExpiresAt.Equal(c.ExpiresAt) {
		// Another renewal or a revocation came between: the login follows the record.
		if err := e.view(func(tx *bolt.Tx) error {
			var err error
			recorded, err = getCredential(tx, c.Identity, credID)
			return err
		}); err == nil && recorded.RevokedAt.IsZero() {
			_ = e.extendLogin(ctx, recorded)
		}
	}
	if err != nil {
		return engine.Credential{}, err
	}
	return recorded, nil
}

// renewal is credential credID renewed at now (policy.Renew), when secret is its own.
func renewal(tx *bolt.Tx, credID, secret string, now time.Time) (engine.Credential, error) {
	ref, ok := lookupSecret(tx, secret)
	if !ok || ref.Credential == "" { // unknown, or a rotated secret
		return engine.Credential{}, engine.ErrSecretRefused
	}
	if ref.Credential != credID {
		return engine.Credential{}, engine.NotItsSecret(credID)
	}
	c, err := getCredential(tx, ref.Identity, credID)
	if err != nil {
		return c, err
	}
	if !c.Live(now) {
		return c, engine.ErrSecretRefused
	}
	if c, err = policy.Renew(c, now); err != nil {
		return c, engine.RenewalError(err)
	}
	return c, nil
}

// RevokeCredential ends a credential at once.
func (e *Engine) RevokeCredential(ctx context.Context, credID string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	var c engine.Credential
	err := e.update(func(tx *bolt.Tx) error {
		identity, err := identityOf(tx, credID)
		if err != nil {
			return err
		}
		c, err = getCredential(tx, identity, credID)
		if err != nil || !c.RevokedAt.IsZero() {
			return err
		}
		return e.revoke(tx, c, e.clock.Now())
	})
	if err != nil {
		return err
	}
	// Dropped even when the record was revoked already: a close retried after a failed drop
	// finishes it. Then the identity's other logins are repaired (repairLogins).
	if err := e.dropLogins(ctx, loginSet{creds: []engine.Credential{c}}); err != nil || c.Target == "" {
		return err
	}
	return e.repairLogins(ctx, c.Identity)
}

func (e *Engine) revoke(tx *bolt.Tx, c engine.Credential, now time.Time) error {
	c.RevokedAt = now
	if err := putCredential(tx, c, e.clock.Now()); err != nil {
		return err
	}
	return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventRevoked, Identity: c.Identity, Credential: c.ID,
		Requester: c.Requester, Purpose: c.Purpose})
}

// revokeAll revokes every unrevoked credential of an identity.
func (e *Engine) revokeAll(tx *bolt.Tx, identity string, now time.Time) error {
	b, _ := credBucket(tx, identity, false)
	if b == nil {
		return nil
	}
	var open []engine.Credential
	err := b.ForEach(func(_, raw []byte) error {
		var c engine.Credential
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		if c.RevokedAt.IsZero() {
			open = append(open, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range open {
		if err := e.revoke(tx, c, now); err != nil {
			return err
		}
	}
	return nil
}

// Authenticate returns the identity a live secret belongs to: a dynamic credential (spending one
// use when uses are capped) or a version of a rotated secret that still authenticates (staged,
// current before its expiry, previous inside its overlap). It records the use (see
// authenticate).
func (e *Engine) Authenticate(ctx context.Context, secret string) (string, error) {
	id, _, _, err := e.authenticate(ctx, secret, netip.Addr{})
	return id, err
}

// Authorize authenticates the secret and checks that it grants the scope to the caller: a
// credential the scopes and bound CIDRs it was issued with, a rotated secret its identity's.
func (e *Engine) Authorize(ctx context.Context, req engine.AuthorizeRequest) (string, error) {
	id, scopes, cidrs, err := e.authenticate(ctx, req.Secret, req.Caller)
	if err != nil {
		return "", err
	}
	if err := policy.CheckGrant(scopes, cidrs, req.Scope, req.Caller); err != nil {
		return "", fmt.Errorf("identity %q: %v: %w", id, err, engine.ErrDenied)
	}
	return id, nil
}

// errMustWrite stops an authentication in a read transaction that has something to write: it
// runs again in a write transaction.
var errMustWrite = errors.New("the authentication has something to write")

// authenticate returns the identity of a secret and what it grants: scopes and bound CIDRs. It
// records the use on the identity (and on the credential) as policy.RecordUse says: at most one
// write per identity per policy.UseResolution, with a "used" audit event naming the
// credential's requester (or the caller's address, when known). It checks the secret in a read
// transaction first, so that an authentication with nothing to record (a use within the minute
// of the last one, no capped uses to spend) writes nothing at all; one with something to write
// runs again, checks included, in a write transaction.
func (e *Engine) authenticate(ctx context.Context, secret string, caller netip.Addr) (identity string, scopes, cidrs []string, err error) {
	if err := ctxErr(ctx); err != nil {
		return "", nil, nil, err
	}
	var verifyTarget, verifyLogin string
	check := func(tx *bolt.Tx) error {
		ref, ok := lookupSecret(tx, secret)
		if !ok {
			return engine.ErrSecretRefused
		}
		now := e.clock.Now()
		name := ref.Identity
		var id policy.Identity
		if err := getJSON(tx, bucketIdentities, name, &id); err != nil || id.Retired() {
			return engine.IdentityGone(name)
		}
		used := engine.AuditEvent{Type: engine.EventUsed, Identity: name}
		var cred *engine.Credential
		if ref.Version > 0 {
			if err := e.authenticateVersion(tx, name, ref.Version); err != nil {
				return err
			}
			identity, scopes, cidrs = name, id.Scopes, id.BoundCIDRs
			used.Detail = "rotated secret version " + strconv.FormatInt(ref.Version, 10)
			if _, r, err := getVersion(tx, name, ref.Version); err == nil && r.Login != "" {
				verifyTarget, verifyLogin = id.Target, r.Login
			}
		} else {
			c, err := getCredential(tx, name, ref.Credential)
			if err != nil {
				return err
			}
			if !c.Live(now) {
				return engine.ErrSecretRefused
			}
			if c.UsesLeft == 0 {
				return engine.NoUsesLeft(c.ID)
			}
			identity, scopes, cidrs = name, c.Scopes, c.BoundCIDRs
			used.Credential, used.Requester, used.Purpose = c.ID, c.Requester, c.Purpose
			cred = &c
		}
		if used.Requester == "" && caller.IsValid() {
			used.Requester = caller.String()
		}
		var credChanged bool
		if cred != nil {
			cred.LastUsedAt, credChanged = policy.RecordUse(cred.LastUsedAt, now)
			if cred.UsesLeft > 0 {
				cred.UsesLeft--
				credChanged = true
			}
		}
		if _, idChanged := policy.RecordUse(id.LastUsedAt, now); !credChanged && !idChanged {
			return nil
		}
		if !tx.Writable() {
			return errMustWrite
		}
		if credChanged {
			if err := putCredential(tx, *cred, now); err != nil {
				return err
			}
		}
		return e.recordUse(tx, id, now, used)
	}
	err = e.view(check)
	switch {
	case errors.Is(err, errEmpty):
		err = engine.ErrSecretRefused
	case errors.Is(err, errMustWrite):
		err = e.update(check)
	}
	if err != nil {
		return "", nil, nil, err
	}
	if verifyLogin != "" {
		// A rotated secret that is a login's password on the identity's target authenticates
		// only when the target takes it: the verification before a promotion.
		client, err := e.targetClient(ctx, verifyTarget)
		if err == nil {
			err = client.Login(ctx, verifyLogin, secret)
		}
		if err != nil {
			return "", nil, nil, fmt.Errorf("identity %q: target %q refused its secret for login %q: %v: %w", identity, verifyTarget, verifyLogin, err, engine.ErrDenied)
		}
	}
	return identity, scopes, cidrs, nil
}

// recordUse records a use of id at now, in a write transaction, as policy.RecordUse says: when
// it is the first in policy.UseResolution, the identity's LastUsedAt moves and the "used" event
// is appended; otherwise nothing is written.
func (e *Engine) recordUse(tx *bolt.Tx, id policy.Identity, now time.Time, used engine.AuditEvent) error {
	var changed bool
	if id.LastUsedAt, changed = policy.RecordUse(id.LastUsedAt, now); !changed {
		return nil
	}
	if err := putJSON(tx, bucketIdentities, id.Name, id); err != nil {
		return err
	}
	return e.appendAudit(tx, used)
}

// LiveCredentials lists the credentials of one identity, or of all identities when empty, that
// have not ended, from bucketLive (from every credential, in a database that has none yet).
func (e *Engine) LiveCredentials(ctx context.Context, identity string) ([]engine.Credential, error) {
	now := e.clock.Now()
	creds, err := e.listCredentials(ctx, identity, bucketLive, liveFrom(now))
	return slices.DeleteFunc(creds, func(c engine.Credential) bool { return c.Ended(now) }), err
}

// ListCredentials lists the credentials of one identity, or of all identities when empty.
func (e *Engine) ListCredentials(ctx context.Context, identity string) ([]engine.Credential, error) {
	return e.listCredentials(ctx, identity, bucketCredentials, nil)
}

// listCredentials decodes the credentials in bucket (bucketCredentials, or bucketLive from the
// key from on) of one identity, or of all identities when empty.
func (e *Engine) listCredentials(ctx context.Context, identity string, bucket, from []byte) ([]engine.Credential, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	var out []engine.Credential
	err := e.view(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucket)
		if root == nil {
			root, from = tx.Bucket(bucketCredentials), nil // not migrated yet (indexLive)
		}
		return root.ForEachBucket(func(k []byte) error {
			if identity != "" && string(k) != identity {
				return nil
			}
			c := root.Bucket(k).Cursor()
			for k, raw := c.Seek(from); k != nil; k, raw = c.Next() {
				var cred engine.Credential
				if err := json.Unmarshal(raw, &cred); err != nil {
					return err
				}
				out = append(out, cred)
			}
			return nil
		})
	})
	return out, none(err)
}
