package vault

import (
	"context"
	"fmt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Governance records are JSON in KV v2: classes/<name> and ttl-policies/<name>.

const (
	kindClass     = engine.KindClass
	kindTTLPolicy = engine.KindTTLPolicy
)

// putGovernance writes a governance record and audits the change.
func (e *Engine) putGovernance(ctx context.Context, kind, folder, name string, v any) error {
	if err := checkName(kind, name); err != nil {
		return err
	}
	if _, err := e.kvPut(ctx, folder+name, v, anyVersion); err != nil {
		return fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventGovernanceChange, Detail: "put " + kind + " " + name})
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
func (e *Engine) deleteGovernance(ctx context.Context, kind, folder, name string) error {
	if err := checkName(kind, name); err != nil {
		return err
	}
	if err := e.kvDelete(ctx, folder+name); err != nil {
		return fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventGovernanceChange, Detail: "delete " + kind + " " + name})
}

// PutClass creates or replaces a lifecycle class.
func (e *Engine) PutClass(ctx context.Context, c policy.Class) error {
	return e.putGovernance(ctx, kindClass, classesFolder, c.Name, c)
}

// GetClass reads a lifecycle class.
func (e *Engine) GetClass(ctx context.Context, name string) (policy.Class, error) {
	return getGovernance[policy.Class](ctx, e, kindClass, classesFolder, name)
}

// DeleteClass removes a lifecycle class.
func (e *Engine) DeleteClass(ctx context.Context, name string) error {
	return e.deleteGovernance(ctx, kindClass, classesFolder, name)
}

// ListClasses lists every lifecycle class, by name.
func (e *Engine) ListClasses(ctx context.Context) ([]policy.Class, error) {
	return kvGetAll[policy.Class](ctx, e, classesFolder)
}

// PutTTLPolicy creates or replaces a TTL policy, then rewrites the AppRole roles of the
// active identities under it so that Vault enforces the new terms on their next credentials.
func (e *Engine) PutTTLPolicy(ctx context.Context, p policy.TTLPolicy) error {
	if err := e.putGovernance(ctx, kindTTLPolicy, ttlPoliciesFolder, p.Name, p); err != nil {
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
	return e.deleteGovernance(ctx, kindTTLPolicy, ttlPoliciesFolder, name)
}

// ListTTLPolicies lists every TTL policy, by name.
func (e *Engine) ListTTLPolicies(ctx context.Context) ([]policy.TTLPolicy, error) {
	return kvGetAll[policy.TTLPolicy](ctx, e, ttlPoliciesFolder)
}
