package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
)

// Targets (nhi_target) on Vault: the connection, without the password, is a governance record
// in KV v2 (targets/<name>); the connection and its admin password are the connection
// configuration of Vault's database secrets engine at <mount>-database/config/<name>, which
// Vault verifies when it is written and never reads back with its password. The database
// secrets engine is mounted by the first target write.
// Credentials on targets are in database.go.

const (
	targetsFolder = "targets/"
	// databasePlugin is Vault's builtin PostgreSQL plugin of the database secrets engine.
	databasePlugin = "postgresql-database-plugin"
)

// usernameTemplate names the logins Vault makes like engine.LoginName names the local engine's:
// "nhi_" and the role's name, which starts with the identity (dynamicRole), then "_" and 8
// random characters, within PostgreSQL's 63 bytes (a longer role name keeps a digest of what is
// cut). One dynamic role makes the logins of every credential issued under the same terms, so
// each name needs its random part. (A read of creds replayed by the network layer therefore
// makes a second login, which its lease's expiry drops: see database.go.)
const usernameTemplate = `{{ printf "nhi_%s_%s" (.RoleName | truncate_sha256 50) (random 8) | lowercase }}`

// DatabaseMount returns the mount of the database secrets engine that holds the targets'
// connection configurations.
func (e *Engine) DatabaseMount() string { return e.mount + "-database" }

func (e *Engine) targetConfigPath(name string) string { return e.DatabaseMount() + "/config/" + name }

// ensureDatabaseMount mounts the database secrets engine when absent, and refuses a mount of
// that path of another type.
func (e *Engine) ensureDatabaseMount(ctx context.Context) error {
	find := func() (*api.MountOutput, error) {
		mounts, err := e.client.Sys().ListMountsWithContext(ctx)
		if err != nil {
			return nil, e.vaultErr("list", "sys/mounts", err)
		}
		return mounts[e.DatabaseMount()+"/"], nil
	}
	m, err := find()
	if err != nil {
		return err
	}
	if m == nil {
		in := &api.MountInput{Type: "database", Description: "terraform-provider-nhi targets"}
		if err := e.client.Sys().MountWithContext(ctx, e.DatabaseMount(), in); err != nil {
			if m, _ = find(); m == nil {
				return e.vaultErr("write", "sys/mounts/"+e.DatabaseMount(), err)
			}
		} else {
			e.logf("mounted the database secrets engine for targets", map[string]any{"mount": e.DatabaseMount(), "address": e.addr})
			return nil
		}
	}
	if m.Type != "database" {
		return fmt.Errorf("the Vault mount %s/ is a %s mount, not the database secrets engine: %w", e.DatabaseMount(), m.Type, engine.ErrInvalid)
	}
	return nil
}

// connectionURL is the connection_url template of a PostgreSQL target: Vault fills in the
// username and password it holds.
func connectionURL(t engine.Target) string {
	q := url.Values{}
	if t.SSLMode != "" {
		q.Set("sslmode", t.SSLMode)
	}
	u := url.URL{Scheme: "postgresql", Host: net.JoinHostPort(t.Host, strconv.FormatInt(t.Port, 10)), Path: "/" + t.Database, RawQuery: q.Encode()}
	// The template's braces must reach Vault unescaped.
	return "postgresql://{{username}}:{{password}}@" + u.Host + u.EscapedPath() + "?" + u.RawQuery
}

// PutTarget writes the target's connection configuration to the database secrets engine (Vault
// verifies the connection first and refuses a failing one, ErrInvalid), then its record.
// Without a password only the record is written, under engine.CheckTargetRewrite.
func (e *Engine) PutTarget(ctx context.Context, t engine.Target, password string) error {
	if err := engine.CheckName(engine.KindTarget, t.Name); err != nil {
		return err
	}
	if _, err := engine.OpenTarget(t.Connection, ""); err != nil {
		return err // a kind this provider does not know
	}
	if password == "" {
		have, err := e.GetTarget(ctx, t.Name)
		if err := engine.CheckTargetRewrite(have, err, t); err != nil {
			return err
		}
	} else {
		// The provider connects with the admin password itself too (the inspector login below):
		// a refused connection is ErrInvalid, as on the local engine, before anything is written.
		if err := engine.CheckNewTarget(ctx, t, password); err != nil {
			return err
		}
		if err := e.ensureMounts(ctx); err != nil {
			return err
		}
		if err := e.ensureDatabaseMount(ctx); err != nil {
			return err
		}
		_, err := e.write(ctx, e.targetConfigPath(t.Name), map[string]any{
			"plugin_name": databasePlugin, "connection_url": connectionURL(t), "username": t.Username, "password": password,
			"allowed_roles": "*", "verify_connection": true, "username_template": usernameTemplate,
		})
		if err != nil {
			return fmt.Errorf("%s %q: writing its connection configuration (Vault checks the connection): %w", engine.KindTarget, t.Name, err)
		}
		if err := e.putInspector(ctx, t, password); err != nil {
			return err
		}
	}
	return e.putGovernance(ctx, engine.KindTarget, targetsFolder, t.Name, "", t)
}

// GetTarget reads a target's record.
func (e *Engine) GetTarget(ctx context.Context, name string) (engine.Target, error) {
	return getGovernance[engine.Target](ctx, e, engine.KindTarget, targetsFolder, name)
}

// CheckTarget connects to the target as its inspector login and returns the server's version;
// ErrUnavailable when the inspector's static role is missing (a target written before this
// engine made one) or the target does not answer.
func (e *Engine) CheckTarget(ctx context.Context, name string) (string, error) {
	_, c, err := e.targetInspector(ctx, name)
	return engine.ServerVersion(ctx, name, c, err)
}

// DeleteTarget removes the target's inspector (static role and login), its connection
// configuration and its record; an active identity that names it keeps it (ErrConflict).
func (e *Engine) DeleteTarget(ctx context.Context, name string) error {
	if _, err := e.GetTarget(ctx, name); err != nil {
		return err
	}
	ids, err := e.ListIdentities(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, id := range ids {
		if id.Target == name && !id.Retired() {
			users = append(users, id.Name)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("%s %q is the target of active identities %v: retire or move them first: %w", engine.KindTarget, name, users, engine.ErrConflict)
	}
	if err := e.deleteInspector(ctx, name); err != nil {
		return err
	}
	if err := e.del(ctx, e.targetConfigPath(name)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	return e.deleteGovernance(ctx, engine.KindTarget, targetsFolder, name, "")
}

// The inspector of a target (drift on targets, issue 16 item 5): Vault holds the admin password
// and offers no read of a target's roles, and a refresh must write nothing (so it cannot mint a
// dynamic login). So when a target is written with its admin password, this engine creates the
// login engine.InspectorLoginName (LOGIN, no other privilege: pg_roles, pg_auth_members and role
// comments are readable by any login) and a static role of the database secrets engine for it,
// which rotates its password at once and every inspectorRotation. A refresh and the drift report
// read its current password from static-creds (a read) and inspect the target as it.

// inspectorRotation is the rotation period of an inspector's static role.
const inspectorRotation = "24h"

// inspectorRole names the static role of target name's inspector. Identities (and so dynamic
// roles) start with a letter or digit; the leading "_" keeps this name apart from theirs.
func inspectorRole(name string) string { return "_inspect." + name }

func (e *Engine) inspectorRolePath(name string) string {
	return e.DatabaseMount() + "/static-roles/" + inspectorRole(name)
}

func (e *Engine) inspectorCredsPath(name string) string {
	return e.DatabaseMount() + "/static-creds/" + inspectorRole(name)
}

// putInspector creates target t's inspector login with the admin password unless it exists
// (taking back any role granted to it), then writes its static role, which replaces the
// throwaway password at once.
func (e *Engine) putInspector(ctx context.Context, t engine.Target, password string) error {
	admin, err := engine.OpenTarget(t.Connection, password)
	if err != nil {
		return err
	}
	login := engine.InspectorLoginName(t.Name)
	l, err := admin.Inspect(ctx, login)
	switch {
	case err != nil:
	case l.Exists:
		err = admin.SetRoles(ctx, login, nil)
	default:
		var throwaway string
		if throwaway, err = newSecret("inspector", 32); err == nil {
			err = admin.CreateLogin(ctx, target.LoginSpec{Name: login, Password: throwaway, Comment: engine.InspectorLoginComment(e.LoginOwner(), t.Name)})
		}
	}
	if err != nil {
		return fmt.Errorf("%s %q: creating its inspector login %q: %w", engine.KindTarget, t.Name, login, engine.TargetError(t.Name, err))
	}
	e.inspectors.set(t.Name, [2]string{}) // the static role's write rotates the password
	_, err = e.write(ctx, e.inspectorRolePath(t.Name), map[string]any{"db_name": t.Name, "username": login, "rotation_period": inspectorRotation})
	if err != nil {
		return fmt.Errorf("%s %q: writing the static role of its inspector login: %w", engine.KindTarget, t.Name, err)
	}
	return nil
}

// inspectorCache keeps the inspector login of each target as static-creds last gave it, so that
// the repair of logins at each issue and close (repairLogins) costs no Vault request while the
// password works; Vault rotates it every inspectorRotation, and a password that no longer logs
// in is read again.
type inspectorCache struct {
	mu    sync.Mutex
	creds map[string][2]string // target -> username, password
}

func (c *inspectorCache) get(name string) ([2]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.creds[name]
	return v, ok
}

// set keeps creds for target name; the zero value forgets them.
func (c *inspectorCache) set(name string, creds [2]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds == nil {
		c.creds = map[string][2]string{}
	}
	if creds == ([2]string{}) {
		delete(c.creds, name)
	} else {
		c.creds[name] = creds
	}
}

// targetInspector reads target name and returns it with the client of its inspector
// (inspector); ErrNotFound when the engine holds no such target.
func (e *Engine) targetInspector(ctx context.Context, name string) (engine.Target, target.Target, error) {
	t, err := e.GetTarget(ctx, name)
	if err != nil {
		return t, nil, err
	}
	c, err := e.inspector(ctx, t)
	return t, c, err
}

// inspector returns the client of target t logged in as its inspector: with the password this
// engine read last when it still logs in, else with the one Vault holds now (one read of
// static-creds).
func (e *Engine) inspector(ctx context.Context, t engine.Target) (target.Target, error) {
	open := func(creds [2]string) (target.Target, error) {
		conn := t.Connection
		conn.Username = creds[0]
		return engine.OpenTarget(conn, creds[1])
	}
	if creds, ok := e.inspectors.get(t.Name); ok {
		if c, err := open(creds); err == nil && c.Login(ctx, creds[0], creds[1]) == nil {
			return c, nil
		}
	}
	s, err := e.read(ctx, e.inspectorCredsPath(t.Name))
	if errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrInvalid) {
		return nil, fmt.Errorf("%s %q: the static role of its inspector login (%s) is missing from Vault: move password_wo_version and apply to write it again: %w",
			engine.KindTarget, t.Name, e.inspectorRolePath(t.Name), engine.ErrUnavailable)
	}
	if err != nil {
		return nil, err
	}
	username, _ := s.Data["username"].(string)
	password, _ := s.Data["password"].(string)
	if username == "" || password == "" {
		return nil, fmt.Errorf("%s %q: %s returned no username or password: %w", engine.KindTarget, t.Name, e.inspectorCredsPath(t.Name), engine.ErrUnavailable)
	}
	creds := [2]string{username, password}
	e.inspectors.set(t.Name, creds)
	return open(creds)
}

// deleteInspector deletes the inspector's static role and drops its login (runStatements).
func (e *Engine) deleteInspector(ctx context.Context, name string) error {
	e.inspectors.set(name, [2]string{})
	if err := e.del(ctx, e.inspectorRolePath(name)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	login := pgx.Identifier{engine.InspectorLoginName(name)}.Sanitize()
	if err := e.runStatements(ctx, name, []string{"DROP ROLE IF EXISTS " + login}); err != nil {
		return fmt.Errorf("%s %q: dropping its inspector login through Vault: %w", engine.KindTarget, name, err)
	}
	return nil
}

// runStatements runs statements on target name as its admin user. Only Vault holds the admin
// password, and it runs statements only for a role's logins: so a one-off dynamic role whose
// creation statements are statements (then a throwaway NOLOGIN role) mints a login, which runs
// them in one transaction, and the revocation of its lease drops the throwaway role again. A
// target Vault no longer has a connection for is fine (nothing to run on), and so are no
// statements (no request).
func (e *Engine) runStatements(ctx context.Context, name string, statements []string) error {
	if len(statements) == 0 {
		return nil
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	oneOff := "_run." + hex.EncodeToString(suffix)
	role := e.DatabaseMount() + "/roles/" + oneOff
	_, err := e.write(ctx, role, map[string]any{
		"db_name": name, "default_ttl": 60, "max_ttl": 60,
		"creation_statements":   append(slices.Clone(statements), `CREATE ROLE "{{name}}" NOLOGIN`),
		"revocation_statements": []string{`DROP ROLE IF EXISTS "{{name}}"`},
	})
	if err == nil {
		var s *api.Secret
		if s, err = e.readCreds(ctx, oneOff); err == nil {
			err = e.revokeLease(ctx, s.LeaseID)
		}
		if derr := e.del(ctx, role); err == nil {
			err = derr
		}
	}
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	return err
}

var _ engine.LoginObserver = (*Engine)(nil)

// ObserveLogins reads, as each target's inspector, the logins this engine made on every target,
// or on identity's target: the credentials' logins, and the role that holds the scopes of each
// persistent identity's rotated secret (observeRotated).
func (e *Engine) ObserveLogins(ctx context.Context, identity string) ([]policy.LoginObservation, error) {
	var (
		targets []engine.Target
		recs    []identityRecord
	)
	if identity != "" {
		rec, _, err := e.readRecord(ctx, identity) // the record alone: one read
		switch {
		case errors.Is(err, engine.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		case rec.Target == "":
			return nil, nil
		}
		t, err := e.GetTarget(ctx, rec.Target)
		if err != nil {
			return nil, err
		}
		targets, recs = append(targets, t), append(recs, rec)
	} else {
		var err error
		if targets, err = cachedList[engine.Target](ctx, e, targetsFolder); err != nil || len(targets) == 0 {
			return nil, err
		}
		if recs, err = e.allRecords(ctx); err != nil {
			return nil, err
		}
	}
	var out []policy.LoginObservation
	for _, t := range targets {
		c, err := e.inspector(ctx, t)
		var logins []policy.LoginObservation
		if err == nil {
			logins, err = engine.TargetLogins(ctx, t.Name, c, e.LoginOwner(), identity)
		}
		for _, rec := range recs {
			if err != nil {
				break
			}
			if rec.Target == t.Name {
				var rotated []policy.LoginObservation
				rotated, err = e.observeRotated(ctx, t, c, rec)
				logins = append(logins, rotated...)
			}
		}
		if obs, ok := engine.UncheckedTarget(t.Name, identity, err); ok {
			logins = []policy.LoginObservation{obs}
		} else if err != nil {
			return nil, err
		}
		out = append(out, logins...)
	}
	return out, nil
}

// observeRotated reads, through target t's inspector c, the role that holds the scopes of the
// rotated secret of the persistent identity of rec (the one login, or the group role of
// alternating logins: both engine.RotatedLoginName): none when its current version is on no
// login. The inspector may not read password verifiers, so whether the login still holds the
// current secret is checked by logging in to the target with it (checkLoginPassword), which
// writes nothing; the current secret costs one read of KV.
func (e *Engine) observeRotated(ctx context.Context, t engine.Target, c target.Target, rec identityRecord) ([]policy.LoginObservation, error) {
	if rec.TTLPolicy != "" || rec.Retired() {
		return nil, nil
	}
	secrets, err := e.secretsOf(ctx, rec)
	if err != nil {
		return nil, err
	}
	var cur versionRecord
	for _, v := range secrets.Versions {
		if v.State == engine.SecretCurrent {
			cur = v
		}
	}
	if cur.Login == "" {
		return nil, nil
	}
	value, err := e.secretValue(ctx, rec.Name, cur.Version)
	if err != nil {
		return nil, err
	}
	obs := policy.LoginObservation{Target: t.Name, Name: cur.Login, Identity: rec.Name, Rotated: true, RolesHolder: engine.RotatedLoginName(rec.Name)}
	if obs.PasswordMatches, err = checkLoginPassword(ctx, t, cur.Login, value); err != nil {
		return nil, err
	}
	l, err := c.Inspect(ctx, obs.RolesHolder)
	if err != nil {
		return nil, engine.TargetError(t.Name, err)
	}
	obs.Roles = l.Roles
	return []policy.LoginObservation{obs}, nil
}

// checkLoginPassword tells whether login logs in to target t with password: match is false when
// the target refused the password; a target that does not answer is an error (ErrUnavailable).
func checkLoginPassword(ctx context.Context, t engine.Target, login, password string) (match bool, err error) {
	probe, err := engine.OpenTarget(t.Connection, "")
	if err != nil {
		return false, err
	}
	err = probe.Login(ctx, login, password)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, target.ErrPasswordRefused):
		return false, nil
	default:
		return false, engine.TargetError(t.Name, err)
	}
}

// vaultScopes are the scopes of id that are Vault ACL policies: none for an identity with a
// target, whose scopes are the target's roles (its AppRole role grants no Vault policy).
func vaultScopes(id policy.Identity) []string {
	if id.Target != "" {
		return nil
	}
	return id.Scopes
}
