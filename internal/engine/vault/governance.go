package vault

import (
	"context"
	"fmt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Governance records are JSON in KV v2: classes/<name>, ttl-policies/<name> and
// rotation-schedules/<identity>.

const (
	kindClass            = engine.KindClass
	kindTTLPolicy        = engine.KindTTLPolicy
	kindRotationSchedule = engine.KindRotationSchedule
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
		_, err := e.kvPut(ctx, folder+name, v, anyVersion)
		return err
	})
}

// getGovernance reads a governance record, or returns ErrNotFound.
func getGovernance[T any](ctx context.Context, e *Engine, kind, folder, name string) (T, error) {
	if err := checkName(kind, name); err != nil {
		var zero T
		return zero, err
	}
	v, _, err := kvGet[T](ctx, e, folder+name)
	if err != nil {
		return v, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return v, nil
}

// deleteGovernance removes a governance record, or returns ErrNotFound, and audits the change.
func (e *Engine) deleteGovernance(ctx context.Context, kind, folder, name, identity string) error {
	return e.changeGovernance(ctx, "delete", kind, name, identity, func() error { return e.kvDelete(ctx, folder+name) })
}

// PutClass creates or replaces a lifecycle class.
func (e *Engine) PutClass(ctx context.Context, c policy.Class) error {
	return e.putGovernance(ctx, kindClass, classesFolder, c.Name, "", c)
}

// GetClass reads a lifecycle class.
func (e *Engine) GetClass(ctx context.Context, name string) (policy.Class, error) {
	return getGovernance[policy.Class](ctx, e, kindClass, classesFolder, name)
}

// DeleteClass removes a lifecycle class.
func (e *Engine) DeleteClass(ctx context.Context, name string) error {
	return e.deleteGovernance(ctx, kindClass, classesFolder, name, "")
}

// ListClasses lists every lifecycle class, by name.
func (e *Engine) ListClasses(ctx context.Context) ([]policy.Class, error) {
	return kvGetAll[policy.Class](ctx, e, classesFolder)
}

// PutTTLPolicy creates or replaces a TTL policy, then rewrites the AppRole roles of the
// active identities under it so that Vault enforces the new terms on their next credentials.
func (e *Engine) PutTTLPolicy(ctx context.Context, p policy.TTLPolicy) error {
	if err := e.putGovernance(ctx, kindTTLPolicy, ttlPoliciesFolder, p.Name, "", p); err != nil {
		return err
	}
	return e.applyTTLPolicy(ctx, p)
}

// GetTTLPolicy reads a TTL policy.
func (e *Engine) GetTTLPolicy(ctx context.Context, name string) (policy.TTLPolicy, error) {
	return getGovernance[policy.TTLPolicy](ctx, e, kindTTLPolicy, ttlPoliciesFolder, name)
}

// DeleteTTLPolicy removes a TTL policy. Roles keep the terms it last gave them.
func (e *Engine) DeleteTTLPolicy(ctx context.Context, name string) error {
	return e.deleteGovernance(ctx, kindTTLPolicy, ttlPoliciesFolder, name, "")
}

// ListTTLPolicies lists every TTL policy, by name.
func (e *Engine) ListTTLPolicies(ctx context.Context) ([]policy.TTLPolicy, error) {
	return kvGetAll[policy.TTLPolicy](ctx, e, ttlPoliciesFolder)
}

// PutRotationSchedule creates or replaces the rotation schedule of an identity.
func (e *Engine) PutRotationSchedule(ctx context.Context, s policy.RotationSchedule) error {
	if s.Interval > 0 && s.Cron != "" {
		return fmt.Errorf("%s of %q sets both interval and cron; set exactly one: %w", kindRotationSchedule, s.Identity, engine.ErrInvalid)
	}
	if _, err := s.NextRotation(e.clock.Now()); err != nil {
		return fmt.Errorf("%s: %v: %w", kindRotationSchedule, err, engine.ErrInvalid)
	}
	return e.putGovernance(ctx, kindRotationSchedule, schedulesFolder, s.Identity, s.Identity, s)
}

// GetRotationSchedule reads the rotation schedule of an identity.
func (e *Engine) GetRotationSchedule(ctx context.Context, identity string) (policy.RotationSchedule, error) {
	return getGovernance[policy.RotationSchedule](ctx, e, kindRotationSchedule, schedulesFolder, identity)
}

// DeleteRotationSchedule removes the rotation schedule of an identity. The secret stays.
func (e *Engine) DeleteRotationSchedule(ctx context.Context, identity string) error {
	return e.deleteGovernance(ctx, kindRotationSchedule, schedulesFolder, identity, identity)
}

// ListRotationSchedules lists every rotation schedule, by identity.
func (e *Engine) ListRotationSchedules(ctx context.Context) ([]policy.RotationSchedule, error) {
	return kvGetAll[policy.RotationSchedule](ctx, e, schedulesFolder)
}
