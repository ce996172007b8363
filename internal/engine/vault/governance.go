package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Governance records are JSON in KV v2: classes/<name>, ttl-policies/<name>, owners/<name> and
// rotation-schedules/<identity>.
//
// They change rarely, so the engine reads each folder's key list once (one LIST) and each record
// at most once per process, and keeps them in govCache: a refresh or plan of a thousand
// identities reads each class and TTL policy once, and an identity without a rotation schedule
// costs no request to find that out. Writes through this engine update the cache; a write by
// another process is seen by the next provider process (Terraform starts one per command).
// The engine's own reads (the TTL policy that a role's settings come from) go through it too.

// govCache holds the governance records read so far, per folder.
type govCache struct {
	mu      sync.Mutex
	folders map[string]*govFolder
}

// govFolder is one folder of governance records: the keys a LIST found (plus those written
// since) and the records read or written so far.
type govFolder struct {
	keys    []string
	records map[string]any
}

// govFolder returns the cached folder, listing its keys first when it has not been yet. The lock
// is held by the caller.
func (e *Engine) govFolder(ctx context.Context, folder string) (*govFolder, error) {
	if f := e.gov.folders[folder]; f != nil {
		return f, nil
	}
	keys, err := e.kvList(ctx, folder)
	if err != nil {
		return nil, err
	}
	f := &govFolder{records: map[string]any{}}
	for _, k := range keys {
		if _, sub := subfolder(k); !sub {
			f.keys = append(f.keys, k)
		}
	}
	if e.gov.folders == nil {
		e.gov.folders = map[string]*govFolder{}
	}
	e.gov.folders[folder] = f
	return f, nil
}

// cachedGet returns the record name of folder, from the cache or read once; ErrNotFound when
// the folder has no such key.
func cachedGet[T any](ctx context.Context, e *Engine, folder, name string) (T, error) {
	var zero T
	e.gov.mu.Lock()
	defer e.gov.mu.Unlock()
	f, err := e.govFolder(ctx, folder)
	if err != nil {
		return zero, err
	}
	if v, ok := f.records[name].(T); ok {
		return v, nil
	}
	if !slices.Contains(f.keys, name) {
		return zero, fmt.Errorf("%s: %w", e.dataPath(folder+name), engine.ErrNotFound)
	}
	v, _, err := kvGet[T](ctx, e, folder+name)
	if errors.Is(err, engine.ErrNotFound) {
		f.keys = slices.DeleteFunc(f.keys, func(k string) bool { return k == name })
	}
	if err != nil {
		return zero, err
	}
	f.records[name] = v
	return v, nil
}

// cachedList returns every record of folder, in key order.
func cachedList[T any](ctx context.Context, e *Engine, folder string) ([]T, error) {
	e.gov.mu.Lock()
	f, err := e.govFolder(ctx, folder)
	var keys []string
	if f != nil {
		keys = slices.Sorted(slices.Values(f.keys))
	}
	e.gov.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return readListed(keys, func(k string) (T, error) { return cachedGet[T](ctx, e, folder, k) })
}

// cacheSet records a write (v) or a delete (v nil) of name in folder, once the folder is cached.
func (e *Engine) cacheSet(folder, name string, v any) {
	e.gov.mu.Lock()
	defer e.gov.mu.Unlock()
	f := e.gov.folders[folder]
	if f == nil {
		return
	}
	f.keys = slices.DeleteFunc(f.keys, func(k string) bool { return k == name })
	delete(f.records, name)
	if v != nil {
		f.keys = append(f.keys, name)
		f.records[name] = v
	}
}

const (
	kindClass            = engine.KindClass
	kindTTLPolicy        = engine.KindTTLPolicy
	kindRotationSchedule = engine.KindRotationSchedule
	kindOwner            = engine.KindOwner
)

// changeGovernance checks name, runs write and audits the change (verb "put" or "delete") of a
// governance record of kind; identity names the identity a record belongs to, if any.
func (e *Engine) changeGovernance(ctx context.Context, verb, kind, name, identity string, write func() error) error {
	if err := checkName(kind, name); err != nil {
		return err
	}
	if err := write(); err != nil {
		return fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventGovernanceChange, Identity: identity, Detail: verb + " " + kind + " " + name})
}

// putGovernance writes a governance record and audits the change.
func (e *Engine) putGovernance(ctx context.Context, kind, folder, name, identity string, v any) error {
	return e.changeGovernance(ctx, "put", kind, name, identity, func() error {
		if _, err := e.kvPut(ctx, folder+name, v, anyVersion); err != nil {
			e.cacheSet(folder, name, nil) // it may or may not have been written: read it again
			return err
		}
		e.cacheSet(folder, name, v)
		return nil
	})
}

// getGovernance reads a governance record through the cache, or returns ErrNotFound.
func getGovernance[T any](ctx context.Context, e *Engine, kind, folder, name string) (T, error) {
	if err := checkName(kind, name); err != nil {
		var zero T
		return zero, err
	}
	v, err := cachedGet[T](ctx, e, folder, name)
	if err != nil {
		return v, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return v, nil
}

// deleteGovernance removes a governance record, or returns ErrNotFound, and audits the change.
func (e *Engine) deleteGovernance(ctx context.Context, kind, folder, name, identity string) error {
	return e.changeGovernance(ctx, "delete", kind, name, identity, func() error {
		defer e.cacheSet(folder, name, nil)
		return e.kvDelete(ctx, folder+name)
	})
}

// kvRecords are the governance records of kind in folder, of type T (engine.Records); the
// audit events of a record keyed by its identity (a rotation schedule) are filed under it.
type kvRecords[T any] struct {
	e          *Engine
	kind       string
	folder     string
	byIdentity bool
}

// identity is the identity the record name belongs to, if any.
func (r kvRecords[T]) identity(name string) string {
	if r.byIdentity {
		return name
	}
	return ""
}

func (r kvRecords[T]) Put(ctx context.Context, name string, v T) error {
	return r.e.putGovernance(ctx, r.kind, r.folder, name, r.identity(name), v)
}

func (r kvRecords[T]) Get(ctx context.Context, name string) (T, error) {
	return getGovernance[T](ctx, r.e, r.kind, r.folder, name)
}

func (r kvRecords[T]) Delete(ctx context.Context, name string) error {
	return r.e.deleteGovernance(ctx, r.kind, r.folder, name, r.identity(name))
}

func (r kvRecords[T]) List(ctx context.Context) ([]T, error) {
	return cachedList[T](ctx, r.e, r.folder)
}

// governanceRecords keeps e's classes, TTL policies, owners and rotation schedules in their
// folders. PutTTLPolicy, PutRotationSchedule and GetOwner below do more than store.
func (e *Engine) governanceRecords() engine.GovernanceRecords {
	return engine.NewGovernanceRecords(kvRecords[policy.Class]{e, kindClass, classesFolder, false},
		kvRecords[policy.TTLPolicy]{e, kindTTLPolicy, ttlPoliciesFolder, false}, kvRecords[policy.Owner]{e, kindOwner, ownersFolder, false},
		kvRecords[policy.RotationSchedule]{e, kindRotationSchedule, schedulesFolder, true})
}

// PutTTLPolicy creates or replaces a TTL policy, then rewrites the AppRole roles of the
// active identities under it so that Vault enforces the new terms on their next credentials.
// A deleted TTL policy leaves roles with the terms it last gave them.
func (e *Engine) PutTTLPolicy(ctx context.Context, p policy.TTLPolicy) error {
	if err := e.GovernanceRecords.PutTTLPolicy(ctx, p); err != nil {
		return err
	}
	return e.applyTTLPolicy(ctx, p)
}

// PutRotationSchedule creates or replaces the rotation schedule of an identity.
func (e *Engine) PutRotationSchedule(ctx context.Context, s policy.RotationSchedule) error {
	if s.Interval > 0 && s.Cron != "" {
		return fmt.Errorf("%s of %q sets both interval and cron; set exactly one: %w", kindRotationSchedule, s.Identity, engine.ErrInvalid)
	}
	if _, err := s.NextRotation(e.clock.Now()); err != nil {
		return fmt.Errorf("%s: %v: %w", kindRotationSchedule, err, engine.ErrInvalid)
	}
	return e.GovernanceRecords.PutRotationSchedule(ctx, s)
}

// GetOwner reads an owner record. An identity's owner is free text, so a name that no owner
// record can have is simply not found, as on the local engine.
func (e *Engine) GetOwner(ctx context.Context, name string) (policy.Owner, error) {
	if policy.CheckName(name) != nil {
		return policy.Owner{}, fmt.Errorf("%s %q: %w", kindOwner, name, engine.ErrNotFound)
	}
	return e.GovernanceRecords.GetOwner(ctx, name)
}
