package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// The rotated secret of a persistent identity with a target (issue 16, item 4) on Vault: the
// password of one of two logins, <name>_a and <name>_b (engine.RotatedLoginName), members of
// the group role <name> that holds the identity's scopes, as on the local engine with
// strategy = "alternating". Each login is a static role of the database secrets engine
// (static-roles/_rotated.<login>), so the password is Vault's choice and Vault holds it:
//
//   - staging rotates the static role of the login the current version does not use
//     (rotate-role) and reads its static-creds: the staged secret is that password. It is kept
//     as the version's value in KV like any rotated secret, with the version's login recorded
//     (versionRecord.Login) and no AppRole secret-id (reconcileSecrets skips such versions).
//     The logins and the group role are made on the first staging, and the staged login is
//     made valid again, by statements Vault runs as the admin user (runStatements).
//   - verification (Authenticate) finds the identity through the index login-secrets/<the
//     password's fingerprint> (a Vault-chosen password names no identity), checks the version
//     by the engine's clock, then logs in to the target with it.
//   - promotion switches the current login; the other login stops logging in when the
//     previous version's overlap ends (VALID UNTIL), at once without one.
//   - a rollback (DiscardSecret of the staged version) leaves the current login untouched and
//     stops the staged login at once.
//
// Without strategy = "alternating" the Vault engine refuses the rotation (refuseRotatedLogin):
// a static role cannot be given back its previous password, so a one-login rotation could not
// roll back a failed verification. An update of the identity grants the group role exactly its
// scopes again (syncRotatedGroup), as the local engine does.

const (
	// loginSecretsFolder indexes the versions of rotated logins' passwords by fingerprint:
	// login-secrets/<fingerprint> = {"identity": <name>}.
	loginSecretsFolder = "login-secrets/"
	// rotatedLoginPeriod is the rotation period of a rotated login's static role: the
	// provider's schedule rotates it (rotate-role), so Vault's own period is long enough never
	// to come first.
	rotatedLoginPeriod = "87600h"
)

type loginSecretRef struct {
	Identity string `json:"identity"`
}

func rotatedStaticRole(login string) string { return "_rotated." + login }

func (e *Engine) rotatedRolePath(login string) string {
	return e.DatabaseMount() + "/static-roles/" + rotatedStaticRole(login)
}

// rotatedLogins are the two logins of identity's rotated secret on its target.
func rotatedLogins(identity string) (a, b string) {
	base := engine.RotatedLoginName(identity)
	return base + "_a", base + "_b"
}

// currentLoginOf is the login of rec's current version; empty when none.
func currentLoginOf(rec secretRecord) string {
	for _, v := range rec.Versions {
		if v.State == engine.SecretCurrent {
			return v.Login
		}
	}
	return ""
}

// stageLogin makes a new password on the login of id's target that the current version does
// not use, and returns the login and its password.
func (e *Engine) stageLogin(ctx context.Context, id identityRecord) (login, password string, err error) {
	s, err := e.GetRotationSchedule(ctx, id.Name)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return "", "", err
	}
	if s.Strategy != policy.StrategyAlternating {
		return "", "", refuseRotatedLogin(id.Identity)
	}
	t, err := e.GetTarget(ctx, id.Target)
	if err != nil {
		return "", "", fmt.Errorf("identity %q: %w", id.Name, err)
	}
	secrets, err := e.secretsOf(ctx, id)
	if err != nil {
		return "", "", err
	}
	login, other := rotatedLogins(id.Name)
	if currentLoginOf(secrets) == login {
		login = other
	}
	if err := e.ensureRotatedLogin(ctx, t, id.Identity, login); err != nil {
		return "", "", err
	}
	role := rotatedStaticRole(login)
	if _, err := e.write(ctx, e.rotatedRolePath(login), map[string]any{"db_name": t.Name, "username": login, "rotation_period": rotatedLoginPeriod}); err != nil {
		return "", "", fmt.Errorf("identity %q: writing the static role of login %q: %w", id.Name, login, err)
	}
	if _, err := e.write(ctx, e.DatabaseMount()+"/rotate-role/"+role, nil); err != nil {
		return "", "", fmt.Errorf("identity %q: rotating the password of login %q: %w", id.Name, login, err)
	}
	cs, err := e.read(ctx, e.DatabaseMount()+"/static-creds/"+role)
	if err != nil {
		return "", "", fmt.Errorf("identity %q: reading the password of login %q: %w", id.Name, login, err)
	}
	password, _ = cs.Data["password"].(string)
	if password == "" {
		return "", "", fmt.Errorf("identity %q: %s/static-creds/%s returned no password: %w", id.Name, e.DatabaseMount(), role, engine.ErrUnavailable)
	}
	return login, password, nil
}

// ensureRotatedLogin makes the group role and login on target t when the target lacks them
// (the inspector looks), and lets login log in with no expiry.
func (e *Engine) ensureRotatedLogin(ctx context.Context, t engine.Target, id policy.Identity, login string) error {
	c, err := e.inspector(ctx, t)
	if err != nil {
		return err
	}
	base, comment := engine.RotatedLoginName(id.Name), engine.RotatedLoginComment(e.LoginOwner(), id.Name)
	var stmts []string
	if g, err := c.Inspect(ctx, base); err != nil {
		return engine.TargetError(t.Name, err)
	} else if !g.Exists {
		stmts = append(stmts, postgres.GroupStatements(base, id.Scopes, comment)...)
	}
	if l, err := c.Inspect(ctx, login); err != nil {
		return engine.TargetError(t.Name, err)
	} else if !l.Exists {
		stmts = append(stmts, postgres.MemberLoginStatements(login, base, comment)...)
	}
	stmts = append(stmts, postgres.ValidUntilStatement(login, time.Time{}))
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: making login %q on target %q through Vault: %w", id.Name, login, t.Name, err)
	}
	return nil
}

// indexLoginSecret records which identity a login's password belongs to.
func (e *Engine) indexLoginSecret(ctx context.Context, identity, fp string) error {
	_, err := e.kvPut(ctx, loginSecretsFolder+fp, loginSecretRef{Identity: identity}, anyVersion)
	return err
}

// unindexLoginSecret removes the index entry of a destroyed version; none is fine.
func (e *Engine) unindexLoginSecret(ctx context.Context, fp string) error {
	if err := e.kvDelete(ctx, loginSecretsFolder+fp); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	return nil
}

// settleLogins makes the logins of identity's target follow its versions after a promotion or
// a discard: a login with a staged version, or with the current one, keeps logging in; the
// other stops when the previous version on it ends its overlap, or at once. Nothing when the
// identity has no version on a login and none was discarded.
func (e *Engine) settleLogins(ctx context.Context, identity string, rec secretRecord, discarded string) error {
	current := currentLoginOf(rec)
	if current == "" && discarded == "" {
		return nil
	}
	id, err := e.readIdentity(ctx, identity)
	if err != nil {
		return err
	}
	t, err := e.GetTarget(ctx, id.Target)
	if err != nil {
		return err
	}
	c, err := e.inspector(ctx, t)
	if err != nil {
		return err
	}
	now := e.clock.Now()
	a, b := rotatedLogins(identity)
	var stmts []string
logins:
	for _, login := range []string{a, b} {
		if login == current {
			continue
		}
		until := now // never no expiry: the zero time is 'infinity'
		for _, v := range rec.Versions {
			switch {
			case v.Login != login || !v.Authenticates(now):
			case v.ExpiresAt.IsZero():
				continue logins // a staged version: it must log in
			case v.ExpiresAt.After(until):
				until = v.ExpiresAt
			}
		}
		l, err := c.Inspect(ctx, login)
		if err != nil {
			return engine.TargetError(t.Name, err)
		}
		if l.Exists {
			stmts = append(stmts, postgres.ValidUntilStatement(login, until))
		}
	}
	if len(stmts) == 0 {
		return nil
	}
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: ending its logins not in use on target %q through Vault: %w", identity, t.Name, err)
	}
	return nil
}

// authenticateLogin authenticates a password of a rotated login: ok is false when the secret is
// no indexed password (the caller tries it as a token).
func (e *Engine) authenticateLogin(ctx context.Context, secret string) (g authGrant, ok bool, err error) {
	fp := fingerprint(secret)
	ref, _, err := kvGet[loginSecretRef](ctx, e, loginSecretsFolder+fp)
	if errors.Is(err, engine.ErrNotFound) {
		return authGrant{}, false, nil
	}
	if err != nil {
		return authGrant{}, true, err
	}
	id, _, err := e.readRecord(ctx, ref.Identity)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && id.Retired()) {
		return authGrant{}, true, fmt.Errorf("identity %q is retired or gone: %w", ref.Identity, engine.ErrDenied)
	}
	if err != nil {
		return authGrant{}, true, err
	}
	rec, err := e.secretsOf(ctx, id)
	if err != nil {
		return authGrant{}, true, err
	}
	var v *versionRecord
	for i := range rec.Versions {
		if rec.Versions[i].Fingerprint == fp && rec.Versions[i].Login != "" {
			v = &rec.Versions[i]
		}
	}
	if v == nil || !v.Authenticates(e.clock.Now()) {
		return authGrant{}, true, fmt.Errorf("the secret is no live version of identity %q's secret: %w", id.Name, engine.ErrDenied)
	}
	t, err := e.GetTarget(ctx, id.Target)
	if err == nil {
		c, cerr := engine.OpenTarget(t.Connection, "")
		if err = cerr; err == nil {
			err = c.Login(ctx, v.Login, secret)
		}
	}
	if err != nil {
		return authGrant{}, true, fmt.Errorf("identity %q: target %q refused its secret for login %q: %v: %w", id.Name, id.Target, v.Login, err, engine.ErrDenied)
	}
	return authGrant{identity: id.Name, policies: id.Scopes, cidrs: id.BoundCIDRs}, true, nil
}

// dropRotatedLogins deletes the static roles of identity's rotated logins and drops the logins
// and their group role (cutOff: retire and delete).
func (e *Engine) dropRotatedLogins(ctx context.Context, identity string) error {
	rec, _, ok := e.lastWritten(identity)
	if !ok || rec.Target == "" || rec.TTLPolicy != "" {
		return nil
	}
	a, b := rotatedLogins(identity)
	for _, login := range []string{a, b} {
		if err := e.del(ctx, e.rotatedRolePath(login)); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("identity %q: deleting the static role of login %q: %w", identity, login, err)
		}
	}
	t, c, err := e.targetInspector(ctx, rec.Target)
	if err != nil || c == nil {
		return err
	}
	var stmts []string
	for _, role := range []string{a, b, engine.RotatedLoginName(identity)} {
		l, err := c.Inspect(ctx, role)
		if err != nil {
			return engine.TargetError(t.Name, err)
		}
		if l.Exists {
			stmts = append(stmts, postgres.DropStatements(role)...)
		}
	}
	if len(stmts) == 0 {
		return nil
	}
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: dropping its logins on target %q through Vault: %w", identity, t.Name, err)
	}
	return nil
}

// syncRotatedGroup grants the group role of a persistent identity's rotated logins exactly the
// identity's scopes, as they are now (UpdateIdentity); nothing when the target has no such role.
func (e *Engine) syncRotatedGroup(ctx context.Context, id policy.Identity) error {
	if id.Target == "" {
		return nil
	}
	t, err := e.GetTarget(ctx, id.Target)
	if err != nil {
		return fmt.Errorf("identity %q: %w", id.Name, err)
	}
	c, err := e.inspector(ctx, t)
	if err != nil {
		return err
	}
	base := engine.RotatedLoginName(id.Name)
	g, err := c.Inspect(ctx, base)
	if err != nil || !g.Exists {
		return engine.TargetError(t.Name, err)
	}
	stmts := postgres.RoleStatements(base, g.Roles, id.Scopes)
	if len(stmts) == 0 {
		return nil
	}
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: granting group role %q its scopes on target %q through Vault: %w", id.Name, base, t.Name, err)
	}
	return nil
}
