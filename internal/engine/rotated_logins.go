package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
)

// Rules of the rotated logins of persistent identities on targets (issue 16, item 4) that both
// engines apply the same way.

// rotationReader reads what CheckLoginOverlap needs; every Engine is one.
type rotationReader interface {
	GetIdentity(ctx context.Context, name string) (policy.Identity, error)
	GetRotationSchedule(ctx context.Context, identity string) (policy.RotationSchedule, error)
}

// CheckLoginOverlap refuses (ErrInvalid) a promotion with an overlap for an identity whose
// rotated secret is the password of one login on its target, which cannot hold two passwords:
// only alternating logins can (policy.CheckTargetRotation, the rule the plan applies first).
func CheckLoginOverlap(ctx context.Context, e rotationReader, identity string, overlap time.Duration) error {
	if overlap <= 0 {
		return nil
	}
	id, err := e.GetIdentity(ctx, identity)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // the promotion reports it
	case err != nil:
		return err
	case id.Target == "":
		return nil
	}
	s, err := e.GetRotationSchedule(ctx, identity)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	for _, f := range policy.CheckTargetRotation(policy.RotationSchedule{Identity: identity, Overlap: overlap, Strategy: s.Strategy}, id) {
		return fmt.Errorf("identity %q: %s: %w", identity, f.Observed, ErrInvalid)
	}
	return nil
}

// OwnedRole reads role name on a target through c (any login that may read the target's roles)
// and tells whether it exists; ErrConflict when it exists without comment, the mark of the
// rotated login or group role the engine made for the identity (RotatedLoginComment). A role of
// that name made by hand or by another engine is never taken over (its password set, its
// grants replaced) nor dropped.
func OwnedRole(ctx context.Context, c target.Target, name, comment string) (target.Login, error) {
	l, err := c.Inspect(ctx, name)
	switch {
	case err != nil:
		return l, err
	case l.Exists && l.Comment != comment:
		return l, fmt.Errorf("role %q exists on the target and is not the rotated login this engine made (its comment is %q); "+
			"the provider does not take over a role it did not make: rename or drop that role by hand: %w", name, l.Comment, ErrConflict)
	}
	return l, nil
}
