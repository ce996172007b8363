package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// An identity is four things in Vault: its declared record (KV identities/<name>), an
// identity entity carrying its metadata, an AppRole role of the same name whose token settings
// carry its TTL policy, and an entity alias (the role's role_id on the AppRole mount) that
// binds every token of the role to the entity, and so to the stable identity name.

// managedBy marks the entities this provider owns; it never changes an entity without it.
const managedBy = "terraform-provider-nhi"

// secretIDTTL bounds the life of the single-use secret-id behind a dynamic credential: the
// login that spends it follows at once.
const secretIDTTL = time.Minute

// cleanupTimeout bounds the clean-up after a failed create, which runs even when the
// caller's context is cancelled.
const cleanupTimeout = 30 * time.Second

const kindIdentity = "identity"

func identityKey(name string) string { return identitiesFolder + name }

func (e *Engine) rolePath(name string) string { return "auth/" + e.approle + "/role/" + name }

// entityName is the name of an identity's entity: the identity's own name on the default
// mount. A provider on another mount (a second installation, or a test) qualifies it with the
// mount, because entities are global to a Vault namespace and two installations must never
// share one.
func (e *Engine) entityName(name string) string {
	if e.mount == DefaultMount {
		return name
	}
	return e.mount + "." + name
}

func (e *Engine) entityPath(name string) string { return "identity/entity/name/" + e.entityName(name) }

// roleSettings gives Vault the credential terms of p to enforce itself: token TTL, hard
// lifetime as explicit max TTL, number of uses, and single-use, short-lived secret-ids. A nil
// p (a persistent identity, whose secret is rotated, not minted) resets them to Vault's
// defaults. Tokens are service tokens even when p is not renewable: batch tokens have no
// accessor and cannot be revoked, and a non-renewable credential is already bounded by its
// explicit max TTL.
func roleSettings(p *policy.TTLPolicy) (map[string]any, error) {
	s := map[string]any{
		"token_type": "service", "token_period": 0, "bind_secret_id": true,
		"token_ttl": 0, "token_max_ttl": 0, "token_explicit_max_ttl": 0, "token_num_uses": 0,
		"secret_id_num_uses": 0, "secret_id_ttl": 0,
	}
	if p == nil {
		return s, nil
	}
	g, err := policy.GrantCredential(*p, 0)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %v: %w", kindTTLPolicy, p.Name, err, engine.ErrInvalid)
	}
	s["token_ttl"], s["token_max_ttl"], s["token_explicit_max_ttl"] = seconds(g.TTL), seconds(g.Lifetime), seconds(g.Lifetime)
	s["token_num_uses"] = g.MaxUses
	s["secret_id_num_uses"], s["secret_id_ttl"] = 1, seconds(secretIDTTL)
	return s, nil
}

// seconds rounds d up to whole seconds, Vault's unit for TTLs.
func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// entityMetadata is the identity as entity metadata, for operators and drift scans.
func entityMetadata(id policy.Identity) map[string]string {
	m := map[string]string{"managed-by": managedBy, "status": string(id.Status), "created_at": id.CreatedAt.Format(time.RFC3339)}
	for k, v := range map[string]string{"class": id.Class, "owner": id.Owner, "environment": id.Environment, "ttl_policy": id.TTLPolicy} {
		if v != "" {
			m[k] = v
		}
	}
	if !id.RetiredAt.IsZero() {
		m["retired_at"] = id.RetiredAt.Format(time.RFC3339)
	}
	return m
}

// ttlPolicyOf reads the TTL policy an identity names, or nil when it names none.
func (e *Engine) ttlPolicyOf(ctx context.Context, id policy.Identity) (*policy.TTLPolicy, error) {
	if id.TTLPolicy == "" {
		return nil, nil
	}
	p, err := e.GetTTLPolicy(ctx, id.TTLPolicy)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("identity %q: its ttl_policy %q does not exist in the engine, so its AppRole role would carry no limits: create the policy first: %w",
			id.Name, id.TTLPolicy, engine.ErrInvalid)
	}
	return &p, err
}

// writeRole creates or updates the identity's AppRole role with the terms of p.
func (e *Engine) writeRole(ctx context.Context, name string, p *policy.TTLPolicy) error {
	settings, err := roleSettings(p)
	if err != nil {
		return err
	}
	_, err = e.write(ctx, e.rolePath(name), settings)
	return err
}

// roleID reads the role_id of the identity's role.
func (e *Engine) roleID(ctx context.Context, name string) (string, error) {
	s, err := e.read(ctx, e.rolePath(name)+"/role-id")
	if err != nil {
		return "", err
	}
	id, _ := s.Data["role_id"].(string)
	if id == "" {
		return "", fmt.Errorf("%s/role-id: Vault returned no role_id", e.rolePath(name))
	}
	return id, nil
}

// readEntity returns the ID of the identity's entity, or "" when there is none. An entity of
// that name that the provider does not manage is ErrConflict.
func (e *Engine) readEntity(ctx context.Context, name string) (string, error) {
	s, err := e.read(ctx, e.entityPath(name))
	if errors.Is(err, engine.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if meta, _ := s.Data["metadata"].(map[string]any); meta["managed-by"] != managedBy {
		return "", fmt.Errorf("the Vault entity %q exists and is not managed by %s: rename the identity, or remove or rename the entity: %w",
			e.entityName(name), managedBy, engine.ErrConflict)
	}
	id, _ := s.Data["id"].(string)
	return id, nil
}

// writeEntity creates or updates the identity's entity, disabled once the identity is retired,
// and returns its ID.
func (e *Engine) writeEntity(ctx context.Context, id policy.Identity) (string, error) {
	entityID, err := e.readEntity(ctx, id.Name)
	if err != nil {
		return "", err
	}
	s, err := e.write(ctx, e.entityPath(id.Name), map[string]any{"metadata": entityMetadata(id), "disabled": id.Retired()})
	if err != nil || entityID != "" {
		return entityID, err
	}
	if s != nil {
		entityID, _ = s.Data["id"].(string)
	}
	if entityID == "" {
		return "", fmt.Errorf("%s: Vault returned no entity id", e.entityPath(id.Name))
	}
	return entityID, nil
}

// provision creates or updates the identity's role, entity and alias. Every step is
// idempotent, so provisioning again repairs a partly provisioned identity.
func (e *Engine) provision(ctx context.Context, id policy.Identity, p *policy.TTLPolicy) error {
	if err := e.writeRole(ctx, id.Name, p); err != nil {
		return err
	}
	roleID, err := e.roleID(ctx, id.Name)
	if err != nil {
		return err
	}
	entityID, err := e.writeEntity(ctx, id)
	if err != nil {
		return err
	}
	_, err = e.write(ctx, "identity/entity-alias", map[string]any{"name": roleID, "canonical_id": entityID, "mount_accessor": e.accessor})
	return err
}

// removeVaultObjects deletes the identity's entity (Vault deletes its alias with it) and its
// role (with the role's secret-ids). An entity the provider does not manage is left alone.
func (e *Engine) removeVaultObjects(ctx context.Context, name string) error {
	entityID, err := e.readEntity(ctx, name)
	switch {
	case errors.Is(err, engine.ErrConflict):
	case err != nil:
		return err
	case entityID != "":
		if err := e.del(ctx, "identity/entity/id/"+entityID); err != nil {
			return err
		}
	}
	return e.del(ctx, e.rolePath(name))
}

// destroySecretIDs destroys every secret-id of the identity's role, so nothing can log in as it.
func (e *Engine) destroySecretIDs(ctx context.Context, name string) error {
	accessors, err := e.list(ctx, e.rolePath(name)+"/secret-id")
	if err != nil {
		return err
	}
	for _, a := range accessors {
		if _, err := e.write(ctx, e.rolePath(name)+"/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": a}); err != nil {
			return err
		}
	}
	return nil
}

// cutOff revokes every credential of the identity, destroys every secret-id of its role (the
// rotated secret's versions included), records every version of its secret retained and
// deletes the values.
func (e *Engine) cutOff(ctx context.Context, name string) error {
	if err := e.revokeAll(ctx, name); err != nil {
		return err
	}
	if err := e.destroySecretIDs(ctx, name); err != nil {
		return err
	}
	return e.retireSecrets(ctx, name)
}

// applyTTLPolicy rewrites the roles of the active identities under p with p's terms.
func (e *Engine) applyTTLPolicy(ctx context.Context, p policy.TTLPolicy) error {
	ids, err := e.ListIdentities(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id.TTLPolicy == p.Name && !id.Retired() {
			if err := e.writeRole(ctx, id.Name, &p); err != nil {
				return fmt.Errorf("applying %s %q to identity %q: %w", kindTTLPolicy, p.Name, id.Name, err)
			}
		}
	}
	return nil
}

// CreateIdentity records a new, active identity and provisions it in Vault. The name is
// claimed first with a check-and-set write, so a taken name (retired identities included) is
// ErrConflict before anything else is touched; when provisioning then fails, everything made
// is removed again, so no partial identity is left behind.
func (e *Engine) CreateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	if err := checkName(kindIdentity, id.Name); err != nil {
		return policy.Identity{}, err
	}
	p, err := e.ttlPolicyOf(ctx, id)
	if err != nil {
		return policy.Identity{}, err
	}
	id.Status, id.CreatedAt, id.RetiredAt = policy.StatusActive, e.clock.Now(), time.Time{}
	if _, err := e.kvPut(ctx, identityKey(id.Name), id, newKey); err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return policy.Identity{}, fmt.Errorf("identity %q already exists (a retired identity keeps its name for audit; choose another name): %w", id.Name, engine.ErrConflict)
		}
		return policy.Identity{}, fmt.Errorf("identity %q: %w", id.Name, err)
	}
	if err := e.provision(ctx, id, p); err != nil {
		return policy.Identity{}, e.undoCreate(ctx, id.Name, fmt.Errorf("identity %q: provisioning in Vault: %w", id.Name, err))
	}
	return id, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityCreated, Identity: id.Name})
}

// undoCreate removes what a failed create made and returns cause, noting a failed clean-up.
// It runs even when ctx is cancelled.
func (e *Engine) undoCreate(ctx context.Context, name string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := e.removeVaultObjects(ctx, name)
	if err == nil {
		err = e.kvDelete(ctx, identityKey(name))
	}
	if err != nil {
		return fmt.Errorf("%w (removing the partial identity failed too: %v; delete identity %q before creating it again)", cause, err, name)
	}
	return cause
}

// UpdateIdentity replaces the declared attributes of an active identity, keeping its status
// and timestamps, and brings its role and entity in line.
func (e *Engine) UpdateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	if err := checkName(kindIdentity, id.Name); err != nil {
		return policy.Identity{}, err
	}
	cur, version, err := kvGet[policy.Identity](ctx, e, identityKey(id.Name))
	if err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", id.Name, err)
	}
	if cur.Retired() {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", id.Name, engine.ErrRetired)
	}
	p, err := e.ttlPolicyOf(ctx, id)
	if err != nil {
		return policy.Identity{}, err
	}
	id.Status, id.CreatedAt, id.RetiredAt = cur.Status, cur.CreatedAt, cur.RetiredAt
	if err := e.provision(ctx, id, p); err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: provisioning in Vault: %w", id.Name, err)
	}
	if _, err := e.kvPut(ctx, identityKey(id.Name), id, version); err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", id.Name, err)
	}
	return id, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityUpdated, Identity: id.Name})
}

// GetIdentity reads an identity, retired or not.
func (e *Engine) GetIdentity(ctx context.Context, name string) (policy.Identity, error) {
	if err := checkName(kindIdentity, name); err != nil {
		return policy.Identity{}, err
	}
	id, _, err := kvGet[policy.Identity](ctx, e, identityKey(name))
	if err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", name, err)
	}
	return id, nil
}

// ListIdentities lists every identity, retired ones included, by name.
func (e *Engine) ListIdentities(ctx context.Context) ([]policy.Identity, error) {
	return kvGetAll[policy.Identity](ctx, e, identitiesFolder)
}

// RetireIdentity revokes every credential of the identity, destroys every secret-id of its
// role (the versions of its rotated secret included, whose values are deleted), disables its
// entity (Vault then refuses its tokens and logins) and keeps its records for audit, secret
// versions recorded retained. Retiring a retired identity returns it unchanged.
func (e *Engine) RetireIdentity(ctx context.Context, name string) (policy.Identity, error) {
	if err := checkName(kindIdentity, name); err != nil {
		return policy.Identity{}, err
	}
	id, version, err := kvGet[policy.Identity](ctx, e, identityKey(name))
	if err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", name, err)
	}
	if id.Retired() {
		return id, nil
	}
	if err := e.cutOff(ctx, name); err != nil {
		return policy.Identity{}, fmt.Errorf("retiring identity %q: %w", name, err)
	}
	id.Status, id.RetiredAt = policy.StatusRetired, e.clock.Now()
	if _, err := e.writeEntity(ctx, id); err != nil {
		return policy.Identity{}, fmt.Errorf("retiring identity %q: disabling its entity: %w", name, err)
	}
	if _, err := e.kvPut(ctx, identityKey(name), id, version); err != nil {
		return policy.Identity{}, fmt.Errorf("retiring identity %q: %w", name, err)
	}
	return id, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityRetired, Identity: name})
}

// DeleteIdentity revokes every credential of the identity and removes its role, entity, alias,
// record and rotated secret (values and version records). Its credential records, rotation
// schedule and audit events stay.
func (e *Engine) DeleteIdentity(ctx context.Context, name string) error {
	if err := checkName(kindIdentity, name); err != nil {
		return err
	}
	if _, _, err := kvGet[policy.Identity](ctx, e, identityKey(name)); err != nil {
		return fmt.Errorf("identity %q: %w", name, err)
	}
	if err := e.cutOff(ctx, name); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	if err := e.removeVaultObjects(ctx, name); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	if err := e.deleteSecrets(ctx, name); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	if err := e.kvDelete(ctx, identityKey(name)); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityDeleted, Identity: name})
}
