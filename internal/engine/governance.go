package engine

import (
	"context"
	"fmt"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Records keeps the governance records of one kind, of type T, by name (a rotation schedule by
// its identity's name). An engine implements it once, generically, over its storage, and hands
// GovernanceRecords one per kind.
type Records[T any] interface {
	// Put creates or replaces the record and audits the change.
	Put(ctx context.Context, name string, v T) error
	// Get reads the record, or returns ErrNotFound.
	Get(ctx context.Context, name string) (T, error)
	// Delete removes the record and audits the change, or returns ErrNotFound.
	Delete(ctx context.Context, name string) error
	// List lists every record of the kind, by name.
	List(ctx context.Context) ([]T, error)
}

// GovernanceRecords implements Governance and the rotation schedules of Rotations over one
// Records per kind of record, so that each engine writes its storage once rather than once per
// kind. An engine embeds it and defines again the methods whose kind needs more than storage.
type GovernanceRecords struct {
	classes     Records[policy.Class]
	ttlPolicies Records[policy.TTLPolicy]
	owners      Records[policy.Owner]
	schedules   Records[policy.RotationSchedule]
}

// NewGovernanceRecords keeps classes, TTL policies, owners and rotation schedules in the
// Records given.
func NewGovernanceRecords(classes Records[policy.Class], ttlPolicies Records[policy.TTLPolicy], owners Records[policy.Owner],
	schedules Records[policy.RotationSchedule]) GovernanceRecords {
	return GovernanceRecords{classes: classes, ttlPolicies: ttlPolicies, owners: owners, schedules: schedules}
}

// PutClass creates or replaces a lifecycle class.
func (g GovernanceRecords) PutClass(ctx context.Context, c policy.Class) error {
	return g.classes.Put(ctx, c.Name, c)
}

// GetClass reads a lifecycle class.
func (g GovernanceRecords) GetClass(ctx context.Context, name string) (policy.Class, error) {
	return g.classes.Get(ctx, name)
}

// DeleteClass removes a lifecycle class.
func (g GovernanceRecords) DeleteClass(ctx context.Context, name string) error {
	return g.classes.Delete(ctx, name)
}

// ListClasses lists every lifecycle class, by name.
func (g GovernanceRecords) ListClasses(ctx context.Context) ([]policy.Class, error) {
	return g.classes.List(ctx)
}

// PutTTLPolicy creates or replaces a TTL policy.
func (g GovernanceRecords) PutTTLPolicy(ctx context.Context, p policy.TTLPolicy) error {
	return g.ttlPolicies.Put(ctx, p.Name, p)
}

// GetTTLPolicy reads a TTL policy.
func (g GovernanceRecords) GetTTLPolicy(ctx context.Context, name string) (policy.TTLPolicy, error) {
	return g.ttlPolicies.Get(ctx, name)
}

// DeleteTTLPolicy removes a TTL policy.
func (g GovernanceRecords) DeleteTTLPolicy(ctx context.Context, name string) error {
	return g.ttlPolicies.Delete(ctx, name)
}

// ListTTLPolicies lists every TTL policy, by name.
func (g GovernanceRecords) ListTTLPolicies(ctx context.Context) ([]policy.TTLPolicy, error) {
	return g.ttlPolicies.List(ctx)
}

// PutOwner creates or replaces an owner record; an invalid one is ErrInvalid.
func (g GovernanceRecords) PutOwner(ctx context.Context, o policy.Owner) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	return g.owners.Put(ctx, o.Name, o)
}

// GetOwner reads an owner record.
func (g GovernanceRecords) GetOwner(ctx context.Context, name string) (policy.Owner, error) {
	return g.owners.Get(ctx, name)
}

// DeleteOwner removes an owner record.
func (g GovernanceRecords) DeleteOwner(ctx context.Context, name string) error {
	return g.owners.Delete(ctx, name)
}

// ListOwners lists every owner record, by name.
func (g GovernanceRecords) ListOwners(ctx context.Context) ([]policy.Owner, error) {
	return g.owners.List(ctx)
}

// PutRotationSchedule creates or replaces the rotation schedule of an identity.
func (g GovernanceRecords) PutRotationSchedule(ctx context.Context, s policy.RotationSchedule) error {
	return g.schedules.Put(ctx, s.Identity, s)
}

// GetRotationSchedule reads the rotation schedule of an identity.
func (g GovernanceRecords) GetRotationSchedule(ctx context.Context, identity string) (policy.RotationSchedule, error) {
	return g.schedules.Get(ctx, identity)
}

// DeleteRotationSchedule removes the rotation schedule of an identity. Its secret versions stay.
func (g GovernanceRecords) DeleteRotationSchedule(ctx context.Context, identity string) error {
	return g.schedules.Delete(ctx, identity)
}

// ListRotationSchedules lists every rotation schedule, by identity.
func (g GovernanceRecords) ListRotationSchedules(ctx context.Context) ([]policy.RotationSchedule, error) {
	return g.schedules.List(ctx)
}
