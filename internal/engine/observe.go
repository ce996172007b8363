package engine

import (
	"context"
	"errors"
	"sort"
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
	// EngineDrift that GetIdentity gives it; policies are the TTL policies, already listed.
	ListIdentitiesReadBack(ctx context.Context, policies []policy.TTLPolicy) ([]policy.Identity, error)
}

// Observe reads everything the drift rules need from e, one list call per kind of record, and
// returns it as a policy.Fleet observed at now. On an engine that is a DriftReader, each
// identity carries the engine drift that reading it alone (GetIdentity) shows, so the report
// has every finding an identity has.
func Observe(ctx context.Context, e Engine, now time.Time) (policy.Fleet, error) {
	f := policy.Fleet{Now: now}
	var err error
	if f.Classes, err = e.ListClasses(ctx); err != nil {
		return f, err
	}
	if f.Policies, err = e.ListTTLPolicies(ctx); err != nil {
		return f, err
	}
	if d, ok := e.(DriftReader); ok {
		f.Identities, err = d.ListIdentitiesReadBack(ctx, f.Policies)
	} else {
		f.Identities, err = e.ListIdentities(ctx)
	}
	if err != nil {
		return f, err
	}
	if f.Schedules, err = e.ListRotationSchedules(ctx); err != nil {
		return f, err
	}
	creds, err := e.ListCredentials(ctx, "")
	if err != nil {
		return f, err
	}
	versions, err := e.ListSecretVersions(ctx, "")
	if err != nil {
		return f, err
	}
	f.Credentials, f.Secrets = creds, observeSecrets(versions, now)
	if u, ok := e.(UnmanagedLister); ok {
		if f.Unmanaged, err = u.ListUnmanaged(ctx); err != nil {
			return f, err
		}
	}
	return f, nil
}

// ObserveIdentity reads what the drift rules need about one identity, as the caller just read or
// wrote it: its class, TTL policy, credentials, secret versions and rotation schedule. Rules
// across identities (shared secrets, unmanaged identities) need Observe.
func ObserveIdentity(ctx context.Context, e Engine, id policy.Identity, now time.Time) (policy.Fleet, error) {
	f := policy.Fleet{Now: now, Identities: []policy.Identity{id}}
	name := id.Name
	if c, err := e.GetClass(ctx, id.Class); err == nil {
		f.Classes = []policy.Class{c}
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
	if s, err := e.GetRotationSchedule(ctx, name); err == nil {
		f.Schedules = []policy.RotationSchedule{s}
	} else if !errors.Is(err, ErrNotFound) {
		return f, err
	}
	creds, err := e.ListCredentials(ctx, name)
	if err != nil {
		return f, err
	}
	versions, err := e.ListSecretVersions(ctx, name)
	if err != nil {
		return f, err
	}
	f.Credentials, f.Secrets = creds, observeSecrets(versions, now)
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

// AuditLog reads the audit events that pass f, merged with an "expired" event derived for
// every credential of f.Identity (every identity when empty) that expired by now without being
// revoked first (policy.Credential.Expired), oldest first.
func AuditLog(ctx context.Context, e Engine, f AuditFilter, now time.Time) ([]AuditEvent, error) {
	events, err := e.AuditEvents(ctx, f)
	if err != nil {
		return nil, err
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
