package local

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
)

// The rotated secret of a persistent identity with a target is the password of a login there
// (issue 16, item 4), named after the identity (engine.RotatedLoginName) for the target's own
// audit. Each version records its login (versionRecord.Login):
//
//   - one login (no strategy): staging sets the new password on it, so the previous password
//     stops at once and no overlap is possible (PromoteSecret refuses one; the plan refuses it
//     first); a rollback (DiscardSecret) sets the current version's password back.
//   - alternating: two logins, <name>_a and <name>_b, members of the group role <name> that
//     holds the scopes. Staging sets the new password on the login the current version does not
//     use; promoting makes the other stop logging in when the overlap ends (VALID UNTIL); a
//     rollback stops the staged login at once.
//
// Verification connects to the target with the staged password (authenticate).

// loginRotation is what a change to the login of a persistent identity's rotated secret works
// with: the client of the identity's target, the identity, the strategy of its rotation schedule,
// and the login and value of its current version (empty when it has none on a login).
type loginRotation struct {
	client       target.Target
	id           policy.Identity
	strategy     string
	login, value string
}

// rotationTarget reads identity's loginRotation; nil when the identity has no target.
func (e *Engine) rotationTarget(ctx context.Context, identity string) (*loginRotation, error) {
	id, err := e.GetIdentity(ctx, identity)
	if err != nil || id.Target == "" {
		return nil, err
	}
	r := &loginRotation{id: id}
	if s, err := e.GetRotationSchedule(ctx, identity); err == nil {
		r.strategy = s.Strategy
	} else if !errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	if r.login, r.value, err = e.currentLogin(ctx, identity); err != nil {
		return nil, err
	}
	if r.client, err = e.targetClient(ctx, id.Target); err != nil || r.client == nil {
		return nil, err
	}
	return r, nil
}

// set makes password the password of login (setLogin), granted the identity's scopes, or with
// alternating logins the group role that holds them.
func (r *loginRotation) set(ctx context.Context, owner, login, password string) error {
	roles := r.id.Scopes
	if r.strategy == policy.StrategyAlternating {
		roles = []string{engine.RotatedLoginName(r.id.Name)}
	}
	return engine.TargetError(r.id.Target, setLogin(ctx, r.client, login, password, roles, engine.RotatedLoginComment(owner, r.id.Name)))
}

// versionLogin is the login version of identity's secret is the password of; empty when none.
func (e *Engine) versionLogin(identity string, version int64) string {
	var login string
	_ = e.view(func(tx *bolt.Tx) error {
		if _, r, err := getVersion(tx, identity, version); err == nil {
			login = r.Login
		}
		return nil
	})
	return login
}

// currentLogin is the login and value of identity's current version, when it has one on a login.
func (e *Engine) currentLogin(ctx context.Context, identity string) (login, value string, err error) {
	cur, value, err := e.CurrentSecret(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	return e.versionLogin(identity, cur.Version), value, nil
}

// setLogin makes password the password of login, valid with no expiry, creating it granted roles
// when the target has none of that name (engine.OwnedRole: a role of that name it did not make
// is refused).
func setLogin(ctx context.Context, client target.Target, login, password string, roles []string, comment string) error {
	l, err := engine.OwnedRole(ctx, client, login, comment)
	if err != nil {
		return err
	}
	if !l.Exists {
		return client.CreateLogin(ctx, target.LoginSpec{Name: login, Password: password, Roles: roles, Comment: comment})
	}
	if err := client.SetPassword(ctx, login, password); err != nil {
		return err
	}
	return client.ExtendLogin(ctx, login, time.Time{})
}

// stageLogin puts the value of a just staged version on its login and records which login.
func (e *Engine) stageLogin(ctx context.Context, identity string, version int64, value string) error {
	r, err := e.rotationTarget(ctx, identity)
	if err != nil || r == nil {
		return err
	}
	login := engine.RotatedLoginName(identity)
	if r.strategy == policy.StrategyAlternating {
		base, comment := login, engine.RotatedLoginComment(e.LoginOwner(), identity)
		if _, err := engine.OwnedRole(ctx, r.client, base, comment); err != nil {
			return engine.TargetError(r.id.Target, err)
		}
		if err := r.client.EnsureGroup(ctx, base, r.id.Scopes, comment); err != nil {
			return engine.TargetError(r.id.Target, err)
		}
		login = base + "_a"
		if r.login == login {
			login = base + "_b"
		}
	}
	// The login is recorded before its password is set: killed between the two, the staged
	// version names a login that still holds what it held; killed after, a rollback (DiscardSecret,
	// restoreLogin) knows which login to put the current password back on. Set first, a kill
	// would leave the one login holding a password no version names (the current secret broken).
	err = e.update(func(tx *bolt.Tx) error {
		b, rec, err := getVersion(tx, identity, version)
		if err != nil {
			return err
		}
		rec.Login = login
		return putVersion(b, rec)
	})
	if err != nil {
		return err
	}
	e.reached("staged login recorded")
	return r.set(ctx, e.LoginOwner(), login, value)
}

// restoreLogin undoes the staging of a discarded version that was staged on login: the current
// version's password goes back on its login when it is the same (one login); any other staged
// login stops logging in at once.
func (e *Engine) restoreLogin(ctx context.Context, identity, staged string) error {
	if staged == "" {
		return nil
	}
	r, err := e.rotationTarget(ctx, identity)
	if err != nil || r == nil {
		return err
	}
	if r.login == staged {
		return r.set(ctx, e.LoginOwner(), r.login, r.value)
	}
	l, err := engine.OwnedRole(ctx, r.client, staged, engine.RotatedLoginComment(e.LoginOwner(), identity))
	switch {
	case errors.Is(err, engine.ErrConflict):
		return nil // not this engine's (the staging was refused over it): left alone
	case err == nil && !l.Exists:
		return nil // killed before its login was made: nothing to stop
	case err == nil:
		err = r.client.ExtendLogin(ctx, staged, e.clock.Now())
	}
	return engine.TargetError(r.id.Target, err)
}

// promoteLogin makes the promoted (now current) version's password work on its login (a
// rollback to a retained version sets it back), and, when the previous version is on the other
// login, makes that one stop logging in when its overlap ends.
func (e *Engine) promoteLogin(ctx context.Context, identity string, version int64, previous *engine.SecretVersion) error {
	login := e.versionLogin(identity, version)
	if login == "" {
		return nil
	}
	r, err := e.rotationTarget(ctx, identity)
	if err != nil || r == nil {
		return err
	}
	if err := r.set(ctx, e.LoginOwner(), login, r.value); err != nil {
		return err
	}
	if previous == nil {
		return nil
	}
	if prev := e.versionLogin(identity, previous.Version); prev != "" && prev != login {
		until := previous.ExpiresAt
		if until.IsZero() {
			until = e.clock.Now() // never no expiry: ExtendLogin reads zero as infinity
		}
		return engine.TargetError(r.id.Target, r.client.ExtendLogin(ctx, prev, until))
	}
	return nil
}

// rotatedRoleHolder is the role that holds the scopes of identity's rotated secret on its target:
// the group role of alternating logins, else the one login; empty when the identity has no
// rotated secret on a login yet.
func (e *Engine) rotatedRoleHolder(ctx context.Context, identity, strategy string) (string, error) {
	cur, _, err := e.currentLogin(ctx, identity)
	if err != nil || cur == "" {
		return "", err
	}
	if strategy == policy.StrategyAlternating {
		return engine.RotatedLoginName(identity), nil
	}
	return cur, nil
}

// syncRotatedRoles grants the login (or group role) of a persistent identity's rotated secret
// exactly the identity's scopes, as they are now: a rotated secret grants the identity's scopes,
// not those it had when it was set (UpdateIdentity restores them after a change by hand too).
func (e *Engine) syncRotatedRoles(ctx context.Context, id policy.Identity) error {
	if id.Target == "" || id.TTLPolicy != "" {
		return nil
	}
	r, err := e.rotationTarget(ctx, id.Name)
	if err != nil || r == nil {
		return err
	}
	holder, err := e.rotatedRoleHolder(ctx, id.Name, r.strategy)
	if err != nil || holder == "" {
		return err
	}
	return engine.TargetError(id.Target, r.client.SetRoles(ctx, holder, id.Scopes))
}
