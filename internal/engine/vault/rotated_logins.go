package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// The rotated secret of a persistent identity with a target (issue 16, item 4) on Vault, as on
// the local engine: the password of a login named after the identity (engine.RotatedLoginName).
// Each version records its login (versionRecord.Login), is kept as the version's value in KV
// like any rotated secret, has no AppRole secret-id (reconcileSecrets skips such versions), and
// is indexed by fingerprint (login-secrets/<fingerprint>), through which verification
// (Authenticate) finds the identity, checks the version by the engine's clock and logs in to the
// target with it. Vault alone holds the target's admin password, so every change of a role runs
// as statements Vault runs as the admin user (runStatements), and passwords go to PostgreSQL
// only as SCRAM verifiers computed here (target/postgres), never in clear.
//
//   - one login (no strategy): staging draws the password, records the version, then sets the
//     verifier on the login (creating it, granted the identity's scopes and commented, on the
//     first staging); a same-named role the engine did not make is refused (engine.OwnedRole).
//     A rollback (DiscardSecret of the staged version) sets the current version's verifier back;
//     a promotion makes sure the login holds the promoted version's password (settleLogins).
//     One login holds one password: an overlap is refused (engine.CheckLoginOverlap).
//   - alternating: two logins, <name>_a and <name>_b, members of the group role <name> that
//     holds the identity's scopes. Staging works as with one login, on the login the current
//     version does not use: the password is drawn here, recorded, then set on that login as a
//     SCRAM verifier (the group role and the login are made on the first staging). Promotion
//     switches the current login; the other stops logging in when the previous version's
//     overlap ends (VALID UNTIL), at once without one. A rollback leaves the current login
//     untouched and stops the staged login at once.
//
// Earlier versions of this engine made the alternating logins static roles of the database
// secrets engine (static-roles/_rotated.<login>, rotated by rotate-role, which sends the new
// password to PostgreSQL in clear). The next alternating staging, retire or delete of the
// identity deletes them (deleteLegacyStaticRoles); the logins themselves stay and are driven as
// above.
//
// An update of the identity grants the role that holds its scopes (the one login or the group
// role, both named engine.RotatedLoginName) exactly its scopes again (syncRotatedGroup).

// loginSecretsFolder indexes the versions of rotated logins' passwords by fingerprint:
// login-secrets/<fingerprint> = {"identity": <name>}.
const loginSecretsFolder = "login-secrets/"

type loginSecretRef struct {
	Identity string `json:"identity"`
}

// legacyStaticRolePath is the path of the static role an earlier version of this engine made
// for alternating login login.
func (e *Engine) legacyStaticRolePath(login string) string {
	return e.DatabaseMount() + "/static-roles/_rotated." + login
}

// deleteLegacyStaticRoles deletes the static roles earlier versions of this engine made for
// identity's alternating logins, so that Vault never rotates those logins by itself again;
// none is fine.
func (e *Engine) deleteLegacyStaticRoles(ctx context.Context, identity string) error {
	a, b := rotatedLogins(identity)
	for _, login := range []string{a, b} {
		if err := e.del(ctx, e.legacyStaticRolePath(login)); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("identity %q: deleting the static role of login %q: %w", identity, login, err)
		}
	}
	return nil
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

// stageLogin draws the password of a new version of id's rotated secret and returns the login
// it is for: the one login, or the alternating login the current version does not use. The
// caller records the version, then puts the password on the login (putStagedLogin), so that a
// login never holds a password the engine has not recorded.
func (e *Engine) stageLogin(ctx context.Context, id identityRecord, length int64) (login, password string, err error) {
	s, err := e.GetRotationSchedule(ctx, id.Name)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return "", "", err
	}
	login = engine.RotatedLoginName(id.Name)
	if s.Strategy == policy.StrategyAlternating {
		// Earlier builds made static roles only for alternating logins: a one-login stage has
		// none to delete (retire and delete delete them whatever the strategy).
		if err := e.deleteLegacyStaticRoles(ctx, id.Name); err != nil {
			return "", "", err
		}
		secrets, err := e.secretsOf(ctx, id)
		if err != nil {
			return "", "", err
		}
		var other string
		if login, other = rotatedLogins(id.Name); currentLoginOf(secrets) == login {
			login = other
		}
	}
	password, err = newLoginPassword(length)
	return login, password, err
}

// putStagedLogin puts password, just recorded as a staged version, on id's login: the one login
// (putLoginPassword), or an alternating login (putMemberPassword).
func (e *Engine) putStagedLogin(ctx context.Context, id policy.Identity, login, password string) error {
	t, c, err := e.targetInspector(ctx, id.Target)
	if err != nil {
		return fmt.Errorf("identity %q: %w", id.Name, err)
	}
	if login == engine.RotatedLoginName(id.Name) {
		return e.putLoginPassword(ctx, t, c, id, login, password)
	}
	return e.putMemberPassword(ctx, t, c, id, login, password)
}

// putLoginPassword makes password the password of id's one login on its target, valid with no
// expiry: the login is created, granted the identity's scopes and commented, when the target
// has no role of that name; a role of that name the engine did not make is refused
// (engine.OwnedRole, ErrConflict) and left alone.
func (e *Engine) putLoginPassword(ctx context.Context, t engine.Target, c target.Target, id policy.Identity, login, password string) error {
	comment := engine.RotatedLoginComment(e.LoginOwner(), id.Name)
	l, err := engine.OwnedRole(ctx, c, login, comment)
	if err != nil {
		return engine.TargetError(t.Name, err)
	}
	var stmts []string
	if !l.Exists {
		stmts, err = postgres.LoginStatements(target.LoginSpec{Name: login, Password: password, Roles: id.Scopes, Comment: comment})
	} else {
		var stmt string
		stmt, err = postgres.PasswordStatement(login, password)
		stmts = []string{stmt, postgres.ValidUntilStatement(login, time.Time{})}
	}
	if err == nil {
		err = e.runStatements(ctx, t.Name, stmts)
	}
	if err != nil {
		return fmt.Errorf("identity %q: setting the password of login %q on target %q through Vault: %w", id.Name, login, t.Name, err)
	}
	return nil
}

// putMemberPassword makes password the password of alternating login login of id, valid with
// no expiry, in one transaction: the group role and the login are made when the target lacks
// them (the inspector c looks), and a group role that logs in (the one login before the schedule
// turned alternating) becomes a group. A role of either name the engine did not make is refused
// (engine.OwnedRole) and left alone.
func (e *Engine) putMemberPassword(ctx context.Context, t engine.Target, c target.Target, id policy.Identity, login, password string) error {
	base, comment := engine.RotatedLoginName(id.Name), engine.RotatedLoginComment(e.LoginOwner(), id.Name)
	var stmts []string
	g, err := engine.OwnedRole(ctx, c, base, comment)
	switch {
	case err != nil:
		return engine.TargetError(t.Name, err)
	case !g.Exists:
		stmts = append(stmts, postgres.GroupStatements(base, id.Scopes, comment)...)
	case g.CanLogin:
		stmts = append(stmts, postgres.NoLoginStatement(base))
	}
	if l, err := engine.OwnedRole(ctx, c, login, comment); err != nil {
		return engine.TargetError(t.Name, err)
	} else if !l.Exists {
		stmts = append(stmts, postgres.MemberLoginStatements(login, base, comment)...)
	}
	stmt, err := postgres.PasswordStatement(login, password)
	if err == nil {
		err = e.runStatements(ctx, t.Name, append(stmts, stmt, postgres.ValidUntilStatement(login, time.Time{})))
	}
	if err != nil {
		return fmt.Errorf("identity %q: setting the password of login %q on target %q through Vault: %w", id.Name, login, t.Name, err)
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
// a discard. One login: it holds the current version's password (a rollback sets it back), and
// stops logging in at once when the discarded version was on it and no current one is. The
// alternating logins: one with a staged version, or with the current one, keeps logging in; the
// other stops when the previous version on it ends its overlap, or at once. Nothing when the
// identity has no version on a login and none was discarded.
func (e *Engine) settleLogins(ctx context.Context, identity string, rec secretRecord, discarded string) error {
	var cur versionRecord
	for _, v := range rec.Versions {
		if v.State == engine.SecretCurrent {
			cur = v
		}
	}
	current := cur.Login
	if current == "" && discarded == "" {
		return nil
	}
	id, err := e.readIdentity(ctx, identity)
	if err != nil {
		return err
	}
	t, c, err := e.targetInspector(ctx, id.Target)
	if err != nil {
		return err
	}
	if current == engine.RotatedLoginName(identity) {
		if err := e.holdCurrent(ctx, t, c, id, cur); err != nil {
			return err
		}
	}
	now := e.clock.Now()
	a, b := rotatedLogins(identity)
	settle := []string{a, b}
	if base := engine.RotatedLoginName(identity); discarded == base && current != base {
		settle = append(settle, base) // the one login of a discarded version that never became current
	}
	var stmts []string
logins:
	for _, login := range settle {
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
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: ending its logins not in use on target %q through Vault: %w", identity, t.Name, err)
	}
	return nil
}

// holdCurrent makes the one login of id hold the password of version cur, the current one: the
// password is put back (putLoginPassword) unless it logs in already.
func (e *Engine) holdCurrent(ctx context.Context, t engine.Target, c target.Target, id policy.Identity, cur versionRecord) error {
	value, err := e.secretValue(ctx, id.Name, cur.Version)
	if err != nil {
		return err
	}
	if match, err := checkLoginPassword(ctx, t, cur.Login, value); err != nil || match {
		return err
	}
	return e.putLoginPassword(ctx, t, c, id, cur.Login, value)
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
		return authGrant{}, true, engine.IdentityGone(ref.Identity)
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

// dropRotatedLogins drops identity's rotated logins and their group role that this engine made,
// and deletes what static roles earlier versions made for them (cutOff: retire and delete).
func (e *Engine) dropRotatedLogins(ctx context.Context, identity string) error {
	rec, _, ok := e.lastWritten(identity)
	if !ok || rec.Target == "" || rec.TTLPolicy != "" {
		return nil
	}
	if err := e.deleteLegacyStaticRoles(ctx, identity); err != nil {
		return err
	}
	a, b := rotatedLogins(identity)
	t, c, err := e.targetInspector(ctx, rec.Target)
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	comment := engine.RotatedLoginComment(e.LoginOwner(), identity)
	var stmts []string
	for _, role := range []string{a, b, engine.RotatedLoginName(identity)} {
		l, err := engine.OwnedRole(ctx, c, role, comment)
		if errors.Is(err, engine.ErrConflict) {
			continue // not this engine's: left alone
		}
		if err != nil {
			return engine.TargetError(t.Name, err)
		}
		if l.Exists {
			stmts = append(stmts, postgres.DropStatements(role)...)
		}
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
	t, c, err := e.targetInspector(ctx, id.Target)
	if err != nil {
		return fmt.Errorf("identity %q: %w", id.Name, err)
	}
	base := engine.RotatedLoginName(id.Name)
	g, err := c.Inspect(ctx, base)
	if err != nil || !g.Exists {
		return engine.TargetError(t.Name, err)
	}
	stmts := postgres.RoleStatements(base, g.Roles, id.Scopes)
	if err := e.runStatements(ctx, t.Name, stmts); err != nil {
		return fmt.Errorf("identity %q: granting group role %q its scopes on target %q through Vault: %w", id.Name, base, t.Name, err)
	}
	return nil
}
