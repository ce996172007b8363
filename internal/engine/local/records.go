package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// getJSON reads key from bucket into v, or returns ErrNotFound naming what was looked for.
func getJSON(tx *bolt.Tx, bucket []byte, key string, v any) error {
	var raw []byte
	if b := tx.Bucket(bucket); b != nil { // bucketOwners may not exist yet
		raw = b.Get([]byte(key))
	}
	if raw == nil {
		return engine.NotFound(kindOf(bucket), key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %q: corrupt record: %v", kindOf(bucket), key, err)
	}
	return nil
}

func putJSON(tx *bolt.Tx, bucket []byte, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), raw)
}

func listJSON[T any](ctx context.Context, e *Engine, bucket []byte) ([]T, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	var out []T
	err := e.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil { // bucketOwners may not exist yet
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s %q: corrupt record: %v", kindOf(bucket), k, err)
			}
			out = append(out, v)
			return nil
		})
	})
	return out, none(err)
}

// none maps errEmpty, which view returns before the first write, to an empty answer.
func none(err error) error {
	if errors.Is(err, errEmpty) {
		return nil
	}
	return err
}

// bucketKinds names the kind of record each bucket holds, in messages.
var bucketKinds = map[string]string{
	string(bucketClasses): engine.KindClass, string(bucketTTLPolicies): engine.KindTTLPolicy,
	string(bucketIdentities): engine.KindIdentity, string(bucketCredentials): engine.KindCredential,
	string(bucketSchedules): engine.KindRotationSchedule, string(bucketOwners): engine.KindOwner,
}

// kindOf is the kind of record bucket holds, or the bucket's name.
func kindOf(bucket []byte) string {
	if kind, ok := bucketKinds[string(bucket)]; ok {
		return kind
	}
	return string(bucket)
}

// governanceEvent is the audit event of a change to a governance record. A rotation schedule is
// keyed by its identity, so its events are filed under that identity too.
func governanceEvent(verb string, bucket []byte, name string) engine.AuditEvent {
	ev := engine.AuditEvent{Type: engine.EventGovernanceChange, Detail: verb + " " + kindOf(bucket) + " " + name}
	if string(bucket) == string(bucketSchedules) {
		ev.Identity = name
	}
	return ev
}

// putRecord writes a governance record and audits the change.
func (e *Engine) putRecord(ctx context.Context, bucket []byte, name string, v any) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := engine.CheckName(kindOf(bucket), name); err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error {
		if err := putJSON(tx, bucket, name, v); err != nil {
			return err
		}
		return e.appendAudit(tx, governanceEvent("put", bucket, name))
	})
}

// getRecord reads the record name of bucket; engine.ErrNotFound when there is none.
func getRecord[T any](ctx context.Context, e *Engine, bucket []byte, name string) (T, error) {
	var v T
	if err := ctxErr(ctx); err != nil {
		return v, err
	}
	err := e.view(func(tx *bolt.Tx) error { return getJSON(tx, bucket, name, &v) })
	if errors.Is(err, errEmpty) {
		return v, engine.NotFound(kindOf(bucket), name)
	}
	return v, err
}

func (e *Engine) deleteRecord(ctx context.Context, bucket []byte, name string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(name)) == nil {
			return engine.NotFound(kindOf(bucket), name)
		}
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		return e.appendAudit(tx, governanceEvent("delete", bucket, name))
	})
}

// bucketRecords are the governance records of one bucket, of type T (engine.Records).
type bucketRecords[T any] struct {
	e      *Engine
	bucket []byte
}

func (r bucketRecords[T]) Put(ctx context.Context, name string, v T) error {
	return r.e.putRecord(ctx, r.bucket, name, v)
}

func (r bucketRecords[T]) Get(ctx context.Context, name string) (T, error) {
	return getRecord[T](ctx, r.e, r.bucket, name)
}

func (r bucketRecords[T]) Delete(ctx context.Context, name string) error {
	return r.e.deleteRecord(ctx, r.bucket, name)
}

func (r bucketRecords[T]) List(ctx context.Context) ([]T, error) {
	return listJSON[T](ctx, r.e, r.bucket)
}

// governanceRecords keeps e's classes, TTL policies, owners and rotation schedules in their buckets.
func (e *Engine) governanceRecords() engine.GovernanceRecords {
	return engine.NewGovernanceRecords(bucketRecords[policy.Class]{e, bucketClasses}, bucketRecords[policy.TTLPolicy]{e, bucketTTLPolicies},
		bucketRecords[policy.Owner]{e, bucketOwners}, bucketRecords[policy.RotationSchedule]{e, bucketSchedules})
}

// CreateIdentity records a new active identity, or adopts the identity of that name when it
// is active and declared exactly like id (see engine.Identities).
func (e *Engine) CreateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	if err := ctxErr(ctx); err != nil {
		return policy.Identity{}, err
	}
	if err := engine.CheckName(engine.KindIdentity, id.Name); err != nil {
		return policy.Identity{}, err
	}
	id.Status = policy.StatusActive
	id.CreatedAt = e.clock.Now()
	id.RetiredAt, id.LastUsedAt = time.Time{}, time.Time{}
	var out policy.Identity
	err := e.batch(func(tx *bolt.Tx) error {
		out = id
		if err := checkTTLPolicy(tx, id); err != nil {
			return err
		}
		cur, found, err := existingIdentity(tx, id)
		if err != nil || found {
			out = cur
			if err != nil {
				return err
			}
			return e.appendAudit(tx, engine.AdoptedEvent(engine.KindIdentity, id.Name))
		}
		if err := putJSON(tx, bucketIdentities, id.Name, id); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventIdentityCreated, Identity: id.Name})
	})
	return out, err
}

// CheckCreateIdentity tells what CreateIdentity(id) would do, writing nothing.
func (e *Engine) CheckCreateIdentity(ctx context.Context, id policy.Identity) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	if err := engine.CheckName(engine.KindIdentity, id.Name); err != nil {
		return false, err
	}
	var found bool
	err := e.view(func(tx *bolt.Tx) (err error) {
		_, found, err = existingIdentity(tx, id)
		return err
	})
	if errors.Is(err, errEmpty) {
		return false, nil
	}
	return found && err == nil, err
}

// checkTTLPolicy refuses a create or an update of id when the engine does not hold the TTL
// policy it names (engine.DeclaredTTLPolicy).
func checkTTLPolicy(tx *bolt.Tx, id policy.Identity) error {
	if id.TTLPolicy == "" {
		return nil
	}
	return engine.DeclaredTTLPolicy(id, getJSON(tx, bucketTTLPolicies, id.TTLPolicy, new(policy.TTLPolicy)))
}

// existingIdentity reads the identity a create of id would meet: found is false when the name
// is free; an identity that cannot be adopted is an ExistsError. Every record in the file is
// this provider's own.
func existingIdentity(tx *bolt.Tx, id policy.Identity) (cur policy.Identity, found bool, err error) {
	if tx.Bucket(bucketIdentities).Get([]byte(id.Name)) == nil {
		return cur, false, nil
	}
	if err := getJSON(tx, bucketIdentities, id.Name, &cur); err != nil {
		return cur, true, err
	}
	return cur, true, engine.AdoptableIdentity(cur, id)
}

// UpdateIdentity replaces the declared attributes of an active identity, keeping its status
// and timestamps (its last use included).
func (e *Engine) UpdateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	if err := ctxErr(ctx); err != nil {
		return policy.Identity{}, err
	}
	err := e.batch(func(tx *bolt.Tx) error {
		var cur policy.Identity
		if err := getJSON(tx, bucketIdentities, id.Name, &cur); err != nil {
			return err
		}
		if cur.Retired() {
			return fmt.Errorf("identity %q: %w", id.Name, engine.ErrRetired)
		}
		if err := engine.CheckTargetKept(cur, id); err != nil {
			return err
		}
		if err := checkTTLPolicy(tx, id); err != nil {
			return err
		}
		id.Status, id.CreatedAt, id.RetiredAt, id.LastUsedAt = cur.Status, cur.CreatedAt, cur.RetiredAt, cur.LastUsedAt
		if err := putJSON(tx, bucketIdentities, id.Name, id); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventIdentityUpdated, Identity: id.Name})
	})
	if err == nil {
		err = e.syncRotatedRoles(ctx, id)
	}
	return id, err
}

// GetIdentity reads an identity, retired or not.
func (e *Engine) GetIdentity(ctx context.Context, name string) (policy.Identity, error) {
	return getRecord[policy.Identity](ctx, e, bucketIdentities, name)
}

// ListIdentities lists every identity, retired ones included, by name.
func (e *Engine) ListIdentities(ctx context.Context) ([]policy.Identity, error) {
	ids, err := listJSON[policy.Identity](ctx, e, bucketIdentities)
	sort.Slice(ids, func(i, j int) bool { return ids[i].Name < ids[j].Name })
	return ids, err
}

// RetireIdentity revokes every credential of the identity, retires every version of its rotated
// secret (erasing the secret material, keeping the metadata) and keeps a disabled record.
// Retiring a retired identity returns it unchanged.
func (e *Engine) RetireIdentity(ctx context.Context, name string) (policy.Identity, error) {
	if err := ctxErr(ctx); err != nil {
		return policy.Identity{}, err
	}
	var id policy.Identity
	logins, err := e.identityLogins(ctx, name)
	if err != nil {
		return id, err
	}
	err = e.batch(func(tx *bolt.Tx) error {
		if err := getJSON(tx, bucketIdentities, name, &id); err != nil {
			return err
		}
		if id.Retired() {
			return nil
		}
		now := e.clock.Now()
		if err := e.revokeAll(tx, name, now); err != nil {
			return err
		}
		n, err := retireVersions(tx, name, now)
		if err != nil {
			return err
		}
		id.Status, id.RetiredAt = policy.StatusRetired, now
		if err := putJSON(tx, bucketIdentities, name, id); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventIdentityRetired, Identity: name, Detail: engine.VersionsDetail("retired", n)})
	})
	if err == nil {
		err = e.dropLogins(ctx, logins)
	}
	return id, err
}

// DeleteIdentity revokes every credential of the identity, destroys every version of its rotated
// secret and removes its record. Its credential records and audit events stay, and so does its
// secret version counter: a re-created identity of the same name never reuses a version number.
func (e *Engine) DeleteIdentity(ctx context.Context, name string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	logins, err := e.identityLogins(ctx, name)
	if err != nil {
		return err
	}
	// The logins go first, while the record stays: a delete that cannot reach the target fails
	// with nothing deleted, and the next one finds the identity (and so its logins) again.
	if err := e.dropLogins(ctx, logins); err != nil {
		return err
	}
	err = e.batch(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIdentities).Get([]byte(name)) == nil {
			return engine.NotFound(engine.KindIdentity, name)
		}
		if err := e.revokeAll(tx, name, e.clock.Now()); err != nil {
			return err
		}
		n, err := destroyVersions(tx, name)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketIdentities).Delete([]byte(name)); err != nil {
			return err
		}
		return e.appendAudit(tx, engine.AuditEvent{Type: engine.EventIdentityDeleted, Identity: name, Detail: engine.VersionsDetail("destroyed", n)})
	})
	if err != nil {
		return err
	}
	// Again: a login minted between the first drop and the revocation.
	return e.dropLogins(ctx, logins)
}
