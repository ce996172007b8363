package engine

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// UnmanagedLister is implemented by engines that can hold identities this provider did not
// create (a Vault entity made by hand, say). The local engine holds none.
type UnmanagedLister interface {
	// ListUnmanaged names the identities in the engine that this provider did not create.
	ListUnmanaged(ctx context.Context) ([]string, error)
}

// DriftReader is implemented by engines whose objects can drift from what the engine wrote for
// an identity (a Vault role or entity edited by hand). The local engine holds nothing of the
// kind.
type DriftReader interface {
	// ListIdentitiesReadBack lists every identity like ListIdentities, each with the full
	// EngineDrift that GetIdentity gives it and its live credentials (LiveCredentials);
	// policies are the TTL policies, already listed.
	ListIdentitiesReadBack(ctx context.Context, policies []policy.TTLPolicy) ([]IdentityRead, error)
}

// Observe reads everything the drift rules need from e, one list call per kind of record, and
// returns it as a policy.Fleet observed at now. On an engine that is a DriftReader, each
// identity carries the engine drift that reading it alone (GetIdentity) shows, so the report
// has every finding an identity has.
func Observe(ctx context.Context, e Engine, now time.Time) (policy.Fleet, error) {
	ctx = observing(ctx)
	f := policy.Fleet{Now: now}
	var err error
	if f.Classes, err = e.ListClasses(ctx); err != nil {
		return f, err
	}
	if f.Policies, err = e.ListTTLPolicies(ctx); err != nil {
		return f, err
	}
	if f.Owners, err = e.ListOwners(ctx); err != nil {
		return f, err
	}
	if d, ok := e.(DriftReader); ok {
		var reads []IdentityRead
		reads, err = d.ListIdentitiesReadBack(ctx, f.Policies)
		for _, r := range reads {
			f.Identities = append(f.Identities, r.Identity)
			f.Credentials = append(f.Credentials, r.Live...)
		}
	} else if f.Identities, err = e.ListIdentities(ctx); err == nil {
		f.Credentials, err = e.LiveCredentials(ctx, "")
	}
	if err != nil {
		return f, err
	}
	if f.Schedules, err = e.ListRotationSchedules(ctx); err != nil {
		return f, err
	}
	versions, err := e.ListSecretVersions(ctx, "")
	if err != nil {
		return f, err
	}
	f.Secrets = observeSecrets(versions, now)
	if u, ok := e.(UnmanagedLister); ok {
		if f.Unmanaged, err = u.ListUnmanaged(ctx); err != nil {
			return f, err
		}
	}
	if lo, ok := e.(LoginObserver); ok {
		if f.Logins, err = lo.ObserveLogins(ctx, ""); err != nil {
			return f, err
		}
	}
	return f, nil
}

// IdentityReader is implemented by engines that read an identity with what its drift rules
// need in fewer requests than GetIdentity, LiveCredentials and ListSecretVersions apart (Vault
// keeps an identity's live credentials in its record, and reads its secret versions back
// anyway).
type IdentityReader interface {
	// ReadIdentity is GetIdentity with LiveCredentials of that identity and, when it says
	// so, its ListSecretVersions.
	ReadIdentity(ctx context.Context, name string) (IdentityRead, error)
}

// IdentityRead is what IdentityReader.ReadIdentity reads.
type IdentityRead struct {
	Identity policy.Identity
	Live     []Credential
	// Versions are the identity's secret versions when VersionsRead; otherwise they were not
	// read.
	Versions     []SecretVersion
	VersionsRead bool
}

// ReadObserved reads identity name like GetIdentity, then what the drift rules need about it
// like ObserveIdentity; the identity is f.Identities[0]. It is what a refresh of nhi_identity
// costs: on Vault, at most 3 requests for an ephemeral identity without live credentials. It
// writes nothing, so the engine's reads share one snapshot (ReadOnce).
func ReadObserved(ctx context.Context, e Engine, name string, now time.Time) (policy.Fleet, error) {
	ctx = observing(ctx)
	var (
		r   IdentityRead
		err error
	)
	if reader, ok := e.(IdentityReader); ok {
		r, err = reader.ReadIdentity(ctx, name)
	} else if r.Identity, err = e.GetIdentity(ctx, name); err == nil {
		r.Live, err = e.LiveCredentials(ctx, name)
	}
	if err != nil {
		return policy.Fleet{Now: now}, err
	}
	return observeIdentity(ctx, e, r, now)
}

// ObserveIdentity reads what the drift rules need about one identity, as the caller just read or
// wrote it: its class, TTL policy, owner record, live credentials, secret versions and rotation
// schedule.
// Rules across identities (shared secrets, unmanaged identities) need Observe.
func ObserveIdentity(ctx context.Context, e Engine, id policy.Identity, now time.Time) (policy.Fleet, error) {
	creds, err := e.LiveCredentials(ctx, id.Name)
	if err != nil {
		return policy.Fleet{Now: now, Identities: []policy.Identity{id}}, err
	}
	return observeIdentity(ctx, e, IdentityRead{Identity: id, Live: creds}, now)
}

// observeIdentity completes the observation r of an identity. Engines serve classes, TTL
// policies, owners and the list of rotation schedules from memory after their first read; the rotated
// secret's versions, unless r has them, are read only for an identity whose class is
// persistent (or unknown) or that has a rotation schedule: only those can have any.
func observeIdentity(ctx context.Context, e Engine, r IdentityRead, now time.Time) (policy.Fleet, error) {
	id := r.Identity
	f := policy.Fleet{Now: now, Identities: []policy.Identity{id}, Credentials: r.Live}
	name := id.Name
	if lo, ok := e.(LoginObserver); ok && id.Target != "" {
		var err error
		if f.Logins, err = lo.ObserveLogins(ctx, name); err != nil {
			return f, err
		}
	}
	persistent := true
	if c, err := e.GetClass(ctx, id.Class); err == nil {
		f.Classes = []policy.Class{c}
		persistent = c.Kind == policy.KindPersistent
	} else if !errors.Is(err, ErrNotFound) {
		return f, err
	}
	if id.TTLPolicy != "" {
		if p, err := e.GetTTLPolicy(ctx, id.TTLPolicy); err == nil {
			f.Policies = []policy.TTLPolicy{p}
		} else if !errors.Is(err, ErrNotFound) {
			return f, err
		}
	}
	if id.Owner != "" {
		if o, err := e.GetOwner(ctx, id.Owner); err == nil {
			f.Owners = []policy.Owner{o}
		} else if !errors.Is(err, ErrNotFound) {
			return f, err
		}
	}
	if s, err := e.GetRotationSchedule(ctx, name); err == nil {
		f.Schedules = []policy.RotationSchedule{s}
		persistent = true
	} else if !errors.Is(err, ErrNotFound) {
		return f, err
	}
	versions := r.Versions
	if !r.VersionsRead {
		if !persistent {
			return f, nil
		}
		var err error
		if versions, err = e.ListSecretVersions(ctx, name); err != nil {
			return f, err
		}
	}
	f.Secrets = observeSecrets(versions, now)
	return f, nil
}

func observeSecrets(versions []SecretVersion, now time.Time) []policy.SecretObservation {
	out := make([]policy.SecretObservation, len(versions))
	for i, v := range versions {
		out[i] = policy.SecretObservation{Identity: v.Identity, Version: v.Version, Current: v.State == SecretCurrent,
			PromotedAt: v.PromotedAt, Live: v.Authenticates(now), Fingerprint: v.Fingerprint}
	}
	return out
}

// UseLog is implemented by engines that derive "used" events (EventUsed) from a log of their
// own instead of storing them (Vault's audit device); AuditLog merges them in.
type UseLog interface {
	// UseEvents returns the derived "used" events that pass f.
	UseEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// AuditLog reads the audit events that pass f, merged with the "used" events of a UseLog and
// an "expired" event derived for every credential of f.Identity (every identity when empty) that expired by now without being
// revoked first (policy.Credential.Expired), oldest first.
func AuditLog(ctx context.Context, e Engine, f AuditFilter, now time.Time) ([]AuditEvent, error) {
	events, err := e.AuditEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	if u, ok := e.(UseLog); ok {
		used, err := u.UseEvents(ctx, f)
		if err != nil {
			return nil, err
		}
		events = append(events, used...)
	}
	creds, err := e.ListCredentials(ctx, f.Identity)
	if err != nil {
		return nil, err
	}
	for _, c := range creds {
		if !c.Expired(now) {
			continue
		}
		ev := AuditEvent{Time: c.ExpiresAt, Type: EventExpired, Identity: c.Identity, Credential: c.ID,
			Requester: c.Requester, Purpose: c.Purpose}
		if f.Match(ev) {
			events = append(events, ev)
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	return events, nil
}

// observationKey keys the observation under way (Observe) in a context.
type observationKey struct{}

// observation holds what an engine read once during one Observe (ReadOnce).
type observation struct {
	mu    sync.Mutex
	reads map[string]any
}

// observing returns ctx carrying a new observation, under which ReadOnce reads each key once:
// for Observe and ReadObserved, which write nothing.
func observing(ctx context.Context) context.Context {
	return context.WithValue(ctx, observationKey{}, &observation{reads: map[string]any{}})
}

// ReadOnce returns read's answer, read once per Observe under key: within Observe (which writes
// nothing) an engine whose calls need the same records (Vault's identity records, for the
// identities, their secret versions and their logins on targets) reads them once and every call
// gets that snapshot. Outside Observe it calls read.
func ReadOnce[T any](ctx context.Context, key string, read func() (T, error)) (T, error) {
	o, ok := ctx.Value(observationKey{}).(*observation)
	if !ok {
		return read()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.reads[key].(T); ok {
		return v, nil
	}
	v, err := read()
	if err == nil {
		o.reads[key] = v
	}
	return v, err
}
