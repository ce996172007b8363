package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
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
// "nhi_", the identity (the role's name), "_" and a random suffix, within PostgreSQL's 63 bytes.
const usernameTemplate = `{{ printf "nhi_%s_%s" (.RoleName | truncate 42) (random 16) | lowercase }}`

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
	if err := checkName(engine.KindTarget, t.Name); err != nil {
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
	}
	return e.putGovernance(ctx, engine.KindTarget, targetsFolder, t.Name, "", t)
}

// GetTarget reads a target's record.
func (e *Engine) GetTarget(ctx context.Context, name string) (engine.Target, error) {
	return getGovernance[engine.Target](ctx, e, engine.KindTarget, targetsFolder, name)
}

// CheckTarget checks that the target's connection configuration is in Vault. Vault never gives
// its password back and has no read that connects, so this engine reports no server version:
// Vault checked the connection when the configuration was written (PutTarget).
func (e *Engine) CheckTarget(ctx context.Context, name string) (string, error) {
	if _, err := e.GetTarget(ctx, name); err != nil {
		return "", err
	}
	if _, err := e.read(ctx, e.targetConfigPath(name)); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return "", fmt.Errorf("%s %q: its connection configuration %s is missing from Vault: move password_wo_version and apply to write it again: %w",
				engine.KindTarget, name, e.targetConfigPath(name), engine.ErrUnavailable)
		}
		return "", err
	}
	return "", nil
}

// DeleteTarget removes the target's connection configuration and record; an active identity
// that names it keeps it (ErrConflict).
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
	if err := e.del(ctx, e.targetConfigPath(name)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	return e.deleteGovernance(ctx, engine.KindTarget, targetsFolder, name, "")
}

// vaultScopes are the scopes of id that are Vault ACL policies: none for an identity with a
// target, whose scopes are the target's roles (its AppRole role grants no Vault policy).
func vaultScopes(id policy.Identity) []string {
	if id.Target != "" {
		return nil
	}
	return id.Scopes
}
