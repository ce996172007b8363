package local

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Rotated secrets of persistent identities.
//
// bucketVersions holds one sub-bucket per identity, keyed by the big-endian version number. The
// sub-bucket's sequence is the highest version ever staged, so a number is never reused: not
// after a discard, not after Keep destroys a version, not after DeleteIdentity (which empties the
// sub-bucket but keeps it). A record holds the version's metadata, its value sealed with the
// engine key (AES-256-GCM, bound to versionRef: "secret:<identity>/<version>") and the key of its
// bucketSecretIndex entry; the value is never stored in clear. Destroying a version deletes its
// record and index entry. Retiring the identity keeps the records for audit, all retained, but
// erases their sealed values and index entries.
//
// At most one version is current and at most one is previous: promoting a version demotes the
// current one to previous (valid for the overlap) and retains any older previous one, so no more
// than two promoted secrets authenticate at once. Staged versions left over when another version
// is promoted are discarded: a rotation's candidate never outlives the rotation.

// RotatedSecretPrefix starts every rotated secret the local engine mints, so scanners can
// recognise them.
const RotatedSecretPrefix = "nhis."

// versionRecord is what bucketVersions stores for one version.
type versionRecord struct {
	engine.SecretVersion
	// Sealed is the value sealed with the engine key and bound to versionRef; nil once erased.
	Sealed []byte `json:"sealed,omitempty"`
	// Index is the key of the version's bucketSecretIndex entry; empty once removed.
	Index string `json:"index,omitempty"`
	// Login is the login on the identity's target whose password the version is (rotated_logins.go).
	Login string `json:"login,omitempty"`
}

// fingerprint is a keyed hash of a secret value: equal values have equal fingerprints within
// one engine, and nobody without the engine key can test a guess against one.
func (e *Engine) fingerprint(value string) string {
	m := hmac.New(sha256.New, e.fpKey)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))[:16]
}

func newRotatedSecret(length int64) (string, error) {
	raw := make([]byte, length)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return RotatedSecretPrefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

func versionBucket(tx *bolt.Tx, identity string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(bucketVersions)
	if create {
		return root.CreateBucketIfNotExists([]byte(identity))
	}
	return root.Bucket([]byte(identity)), nil
}

// readVersions reads every version in b, oldest first; none when b is nil.
func readVersions(identity string, b *bolt.Bucket) ([]versionRecord, error) {
	if b == nil {
		return nil, nil
	}
	var out []versionRecord
	err := b.ForEach(func(k, raw []byte) error {
		var r versionRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("identity %q: secret version record %x: corrupt record: %v", identity, k, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

func versionNotFound(identity string, version int64) error {
	return fmt.Errorf("identity %q has no secret version %d (never staged, discarded or destroyed): %w", identity, version, engine.ErrNotFound)
}

// getVersion reads one version and the bucket that holds it.
func getVersion(tx *bolt.Tx, identity string, version int64) (*bolt.Bucket, versionRecord, error) {
	var r versionRecord
	b, _ := versionBucket(tx, identity, false)
	if b == nil || version <= 0 {
		return nil, r, versionNotFound(identity, version)
	}
	raw := b.Get(seqKey(uint64(version)))
	if raw == nil {
		return nil, r, versionNotFound(identity, version)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, r, fmt.Errorf("identity %q: secret version %d: corrupt record: %v", identity, version, err)
	}
	return b, r, nil
}

func putVersion(b *bolt.Bucket, r versionRecord) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(seqKey(uint64(r.Version)), raw)
}

// dropIndex removes the version's bucketSecretIndex entry, so its value no longer authenticates.
func dropIndex(tx *bolt.Tx, r *versionRecord) error {
	if r.Index == "" {
		return nil
	}
	idx := tx.Bucket(bucketSecretIndex)
	if string(idx.Get([]byte(r.Index))) == versionRef(r.Identity, r.Version) {
		if err := idx.Delete([]byte(r.Index)); err != nil {
			return err
		}
	}
	r.Index = ""
	return nil
}

// destroyVersion deletes a version's record and index entry.
func destroyVersion(tx *bolt.Tx, b *bolt.Bucket, r versionRecord) error {
	if err := dropIndex(tx, &r); err != nil {
		return err
	}
	return b.Delete(seqKey(uint64(r.Version)))
}

// public returns the versions' metadata.
func public(all []versionRecord) []engine.SecretVersion {
	out := make([]engine.SecretVersion, len(all))
	for i, r := range all {
		out[i] = r.SecretVersion
	}
	return out
}

// apply writes the transition t of the versions all (in bucket b): the versions that stay get
// their new states, the removed ones are destroyed.
func apply(tx *bolt.Tx, b *bolt.Bucket, all []versionRecord, t policy.Transition) error {
	byVersion := make(map[int64]versionRecord, len(all))
	for _, r := range all {
		byVersion[r.Version] = r
	}
	for _, v := range t.Removed() {
		if err := destroyVersion(tx, b, byVersion[v]); err != nil {
			return err
		}
	}
	for _, v := range t.Versions {
		r, ok := byVersion[v.Version]
		if !ok || r.SecretVersion == v {
			continue // a new version is the caller's to write
		}
		r.SecretVersion = v
		if err := putVersion(b, r); err != nil {
			return err
		}
	}
	return nil
}

// transition applies the policy transition step to the versions of the identity's secret
// inside tx (see apply); a refused transition is mapped by engine.TransitionError.
func transition(tx *bolt.Tx, identity string, step func([]engine.SecretVersion) (policy.Transition, error)) (policy.Transition, error) {
	b, _ := versionBucket(tx, identity, false)
	all, err := readVersions(identity, b)
	if err != nil {
		return policy.Transition{}, err
	}
	t, err := step(public(all))
	if err != nil || t.Unchanged {
		return t, engine.TransitionError(identity, err)
	}
	return t, apply(tx, b, all, t)
}

// activeIdentity reads an identity that must exist and be active.
func activeIdentity(tx *bolt.Tx, name string) (policy.Identity, error) {
	var id policy.Identity
	if err := getJSON(tx, bucketIdentities, name, &id); err != nil {
		return id, err
	}
	if id.Retired() {
		return id, fmt.Errorf("identity %q: %w", name, engine.ErrRetired)
	}
	return id, nil
}

// StageSecret mints a new version of a persistent identity's secret. It authenticates at once
// but is not current until promoted.
func (e *Engine) StageSecret(ctx context.Context, identity string, length int64) (engine.SecretVersion, string, error) {
	if err := ctxErr(ctx); err != nil {
		return engine.SecretVersion{}, "", err
	}
	var (
		rec   versionRecord
		value string
	)
	err := e.update(func(tx *bolt.Tx) error {
		id, err := activeIdentity(tx, identity)
		if err != nil {
			return err
		}
		var class policy.Class
		classErr := getJSON(tx, bucketClasses, id.Class, &class)
		if err := engine.CheckStage(identity, class, classErr, length); err != nil {
			return err
		}
		if value, err = newRotatedSecret(length); err != nil {
			return err
		}
		fp := e.fingerprint(value) // the key exists from here on
		b, err := versionBucket(tx, identity, true)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		version := int64(seq)
		ref := versionRef(identity, version)
		sealed, err := e.seal([]byte(value), []byte(ref))
		if err != nil {
			return err
		}
		index := hashSecret(value)
		if tx.Bucket(bucketSecretIndex).Get(index) != nil {
			return engine.VersionTaken(identity, version)
		}
		all, err := readVersions(identity, b)
		if err != nil {
			return err
		}
		t := policy.Stage(public(all), engine.SecretVersion{Identity: identity, Version: version, Fingerprint: fp}, e.clock.Now())
		rec = versionRecord{SecretVersion: t.Versions[len(t.Versions)-1], Sealed: sealed, Index: string(index)}
		if err := apply(tx, b, all, t); err != nil {
			return err
		}
		if err := putVersion(b, rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSecretIndex).Put(index, []byte(ref)); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventSecretStaged, Identity: identity,
			Detail: engine.StagedDetail(version, fp, length)})
	})
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	if err := e.stageLogin(ctx, identity, rec.Version, value); err != nil {
		if derr := e.DiscardSecret(context.WithoutCancel(ctx), identity, rec.Version); derr != nil {
			err = fmt.Errorf("%w (discarding the staged version failed too: %v)", err, derr)
		}
		return engine.SecretVersion{}, "", err
	}
	return rec.SecretVersion, value, nil
}

// PromoteSecret applies policy.Promote: version becomes current, the current one previous for
// the overlap, leftover staged versions are discarded and Keep destroys the oldest retained
// versions. Promoting the current version changes nothing.
func (e *Engine) PromoteSecret(ctx context.Context, identity string, version int64, p engine.PromoteOptions) (engine.SecretVersion, error) {
	if err := ctxErr(ctx); err != nil {
		return engine.SecretVersion{}, err
	}
	if err := engine.CheckLoginOverlap(ctx, e, identity, p.Overlap); err != nil {
		return engine.SecretVersion{}, err
	}
	var (
		out      engine.SecretVersion
		previous *engine.SecretVersion
	)
	err := e.update(func(tx *bolt.Tx) error {
		if _, err := activeIdentity(tx, identity); err != nil {
			return err
		}
		t, err := transition(tx, identity, func(versions []engine.SecretVersion) (policy.Transition, error) {
			return policy.Promote(versions, version, p, e.clock.Now())
		})
		if err != nil {
			return err
		}
		out = t.Versions[slices.IndexFunc(t.Versions, func(v engine.SecretVersion) bool { return v.Version == version })]
		if t.Unchanged {
			return nil
		}
		previous = t.Previous
		for _, d := range t.Discarded {
			if err := e.appendAudit(tx, engine.AuditEvent{Type: engine.EventSecretDiscarded, Identity: identity, Detail: engine.DiscardDetail(d, version)}); err != nil {
				return err
			}
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventSecretPromoted, Identity: identity, Detail: engine.PromotionDetail(version, t, p)})
	})
	if err != nil {
		return engine.SecretVersion{}, err
	}
	return out, e.promoteLogin(ctx, identity, version, previous)
}

// DiscardSecret destroys a staged version: the rollback of a failed rotation.
func (e *Engine) DiscardSecret(ctx context.Context, identity string, version int64) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	staged := e.versionLogin(identity, version)
	err := e.update(func(tx *bolt.Tx) error {
		if err := getJSON(tx, bucketIdentities, identity, new(policy.Identity)); err != nil {
			return err
		}
		_, err := transition(tx, identity, func(versions []engine.SecretVersion) (policy.Transition, error) {
			return policy.Discard(versions, version)
		})
		if err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventSecretDiscarded, Identity: identity,
			Detail: engine.RollbackDetail(version)})
	})
	if err != nil {
		return err
	}
	return e.restoreLogin(ctx, identity, staged)
}

// CurrentSecret returns the current version of an identity's secret and its value.
func (e *Engine) CurrentSecret(ctx context.Context, identity string) (engine.SecretVersion, string, error) {
	if err := ctxErr(ctx); err != nil {
		return engine.SecretVersion{}, "", err
	}
	var (
		cur   engine.SecretVersion
		value string
	)
	err := e.view(func(tx *bolt.Tx) error {
		if _, err := activeIdentity(tx, identity); err != nil {
			return err
		}
		b, _ := versionBucket(tx, identity, false)
		all, err := readVersions(identity, b)
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.State != engine.SecretCurrent {
				continue
			}
			plain, err := e.unseal(r.Sealed, []byte(versionRef(identity, r.Version)))
			if err != nil {
				return fmt.Errorf("identity %q: secret version %d: %w", identity, r.Version, err)
			}
			cur, value = r.SecretVersion, string(plain)
			return nil
		}
		return fmt.Errorf("identity %q has no current secret version: %w", identity, engine.ErrNotFound)
	})
	if errors.Is(err, errEmpty) {
		err = engine.NotFound(engine.KindIdentity, identity)
	}
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	return cur, value, nil
}

// ListSecretVersions lists the versions of an identity's secret, oldest first; none for an
// identity that has none, ErrNotFound for an identity the engine does not hold.
func (e *Engine) ListSecretVersions(ctx context.Context, identity string) ([]engine.SecretVersion, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	var out []engine.SecretVersion
	collect := func(tx *bolt.Tx, name string) error {
		b, _ := versionBucket(tx, name, false)
		all, err := readVersions(name, b)
		for _, r := range all {
			out = append(out, r.SecretVersion)
		}
		return err
	}
	err := e.view(func(tx *bolt.Tx) error {
		if identity != "" {
			if err := getJSON(tx, bucketIdentities, identity, new(policy.Identity)); err != nil {
				return err
			}
			return collect(tx, identity)
		}
		return tx.Bucket(bucketVersions).ForEachBucket(func(k []byte) error { return collect(tx, string(k)) })
	})
	if identity != "" && errors.Is(err, errEmpty) {
		return nil, engine.NotFound(engine.KindIdentity, identity)
	}
	return out, none(err)
}

// authenticateVersion checks, inside Authenticate, that a version still authenticates.
func (e *Engine) authenticateVersion(tx *bolt.Tx, identity string, version int64) error {
	_, r, err := getVersion(tx, identity, version)
	if err != nil || !r.Authenticates(e.clock.Now()) {
		return engine.ErrSecretRefused // destroyed, retained or expired
	}
	return nil
}

// retireVersions, inside RetireIdentity, makes every version of the identity's secret retained,
// erases its sealed value and removes its index entry. It returns how many versions it touched.
func retireVersions(tx *bolt.Tx, identity string, now time.Time) (int, error) {
	b, _ := versionBucket(tx, identity, false)
	all, err := readVersions(identity, b)
	if err != nil {
		return 0, err
	}
	for i, v := range policy.Retire(public(all), now) {
		r := all[i]
		r.SecretVersion, r.Sealed = v, nil
		if err := dropIndex(tx, &r); err != nil {
			return 0, err
		}
		if err := putVersion(b, r); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// destroyVersions, inside DeleteIdentity, destroys every version of the identity's secret. The
// emptied bucket stays, so that its sequence keeps version numbers unique.
func destroyVersions(tx *bolt.Tx, identity string) (int, error) {
	b, _ := versionBucket(tx, identity, false)
	all, err := readVersions(identity, b)
	if err != nil {
		return 0, err
	}
	for _, r := range all {
		if err := destroyVersion(tx, b, r); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}
