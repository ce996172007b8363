package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
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

const kindIdentity = engine.KindIdentity

func identityKey(name string) string { return identitiesFolder + name }

func (e *Engine) rolePath(name string) string {
	return "auth/" + e.approle + "/role/" + e.RoleName(name)
}

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
	if err != nil {
		return nil, engine.DeclaredTTLPolicy(id, err)
	}
	return &p, nil
}

// privilegeSettings gives Vault the identity's privileges to enforce: its scopes as the role's
// token_policies, without Vault's default policy unless a scope names it, and its bound CIDRs
// for tokens and secret-ids alike.
func privilegeSettings(id policy.Identity) map[string]any {
	scopes := slices.Sorted(slices.Values(vaultScopes(id)))
	cidrs := slices.Sorted(slices.Values(id.BoundCIDRs))
	if scopes == nil {
		scopes = []string{}
	}
	if cidrs == nil {
		cidrs = []string{}
	}
	return map[string]any{
		"token_policies": scopes, "token_no_default_policy": !slices.Contains(scopes, defaultPolicy),
		"token_bound_cidrs": cidrs, "secret_id_bound_cidrs": cidrs,
	}
}

// defaultPolicy is Vault's default ACL policy, which every token gets unless its role says not.
const defaultPolicy = "default"

// writeRole creates or updates the identity's AppRole role with the terms of p and the
// identity's privileges.
func (e *Engine) writeRole(ctx context.Context, id policy.Identity, p *policy.TTLPolicy) error {
	settings, err := roleSettings(p)
	if err != nil {
		return err
	}
	maps.Copy(settings, privilegeSettings(id))
	_, err = e.write(idempotent(ctx), e.rolePath(id.Name), settings) // the whole role: safe to send again
	return err
}

var _ engine.ScopeCatalog = (*Engine)(nil)

// MissingScopes names the scopes that are no ACL policy in Vault, from one LIST of the policies.
func (e *Engine) MissingScopes(ctx context.Context, scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	names, err := e.list(ctx, "sys/policies/acl")
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, s := range scopes {
		if !slices.Contains(names, s) {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// checkDeclared reads what a create or an update of id needs from Vault before anything is
// written: the TTL policy it names (nil when none; see ttlPolicyOf). It refuses an identity
// whose scopes name ACL policies Vault does not hold: its role would grant tokens nothing for
// them, silently.
func (e *Engine) checkDeclared(ctx context.Context, id policy.Identity) (*policy.TTLPolicy, error) {
	p, err := e.ttlPolicyOf(ctx, id)
	if err != nil {
		return nil, err
	}
	missing, err := e.MissingScopes(ctx, vaultScopes(id))
	if err != nil {
		return nil, fmt.Errorf("identity %q: listing Vault's ACL policies: %w", id.Name, err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("identity %q: scopes %q name no ACL policy in Vault: create the policies first (vault policy write, or the Vault provider's vault_policy), or remove them from scopes: %w",
			id.Name, missing, engine.ErrInvalid)
	}
	return p, nil
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

// identityRecord is an identity as the engine stores it. Pending marks a create that has
// claimed the name but not finished provisioning: Vault failed half way and the clean-up could
// not run. Creating the identity again resumes it.
type identityRecord struct {
	policy.Identity
	Pending bool `json:"pending,omitempty"`
	// RoleID is the role_id of the identity's role when the engine last provisioned it, which
	// a refresh compares with the entity alias without asking Vault for it again. Records
	// written before it existed lack it; the role_id is then read from Vault.
	RoleID string `json:"role_id,omitempty"`
	// Secrets is the identity's secret-version record (see rotation.go); nil in records written
	// before it moved here, whose versions are at secret-versions/<identity> until the next
	// change of the secret.
	Secrets *secretRecord `json:"secret_versions,omitempty"`
	// Live holds the identity's credentials that are not ended (policy.Credential.Ended), so
	// that refresh reads them with the record, one request whatever the history; Ended, fewer
	// than archiveBatch (plus those that ended since the last issue), the ended ones not
	// archived yet (see credentials.go).
	Live  []credentialRecord `json:"live_credentials,omitempty"`
	Ended []credentialRecord `json:"ended_credentials,omitempty"`
	// DynamicRoles names the dynamic roles on its target that issues to the identity wrote
	// (dynamicRole, database.go), so that an issue under the same terms skips the write.
	DynamicRoles []string `json:"dynamic_roles,omitempty"`

	// writes is the version the write under way creates, set by updateRecord for its change
	// (credential trails record it); not stored.
	writes int64
}

// allRecords reads the record of every identity; once per engine.Observe, whose calls share
// that snapshot (engine.ReadOnce). Callers must not change the records.
func (e *Engine) allRecords(ctx context.Context) ([]identityRecord, error) {
	return engine.ReadOnce(ctx, "vault identity records", func() ([]identityRecord, error) {
		return kvGetAll[identityRecord](ctx, e, identitiesFolder)
	})
}

// clone returns a copy of r that shares no slice or record with it.
func (r identityRecord) clone() identityRecord {
	c := r
	c.Live, c.Ended, c.DynamicRoles = cloneCredentials(r.Live), cloneCredentials(r.Ended), slices.Clone(r.DynamicRoles)
	if r.Secrets != nil {
		secrets := r.Secrets.clone()
		c.Secrets = &secrets
	}
	return c
}

func cloneCredentials(creds []credentialRecord) []credentialRecord {
	out := slices.Clone(creds)
	for i := range out {
		out[i].Trail.Renewed = slices.Clone(out[i].Trail.Renewed)
	}
	return out
}

// written holds the identity record each identity had when this engine last wrote it (or read
// it to revoke its credentials), so that a close writes the record without reading it first
// (see revoke): check-and-set at that version refuses the write when another writer changed
// the record since.
type written struct {
	mu   sync.Mutex
	recs map[string]writtenRecord
}

type writtenRecord struct {
	rec     identityRecord
	version int64
}

// remember keeps rec, at version, as the identity record this engine last knew.
func (e *Engine) remember(rec identityRecord, version int64) {
	e.written.mu.Lock()
	defer e.written.mu.Unlock()
	if e.written.recs == nil {
		e.written.recs = map[string]writtenRecord{}
	}
	e.written.recs[rec.Name] = writtenRecord{rec: rec.clone(), version: version}
}

// lastWritten returns the identity record that remember kept for name.
func (e *Engine) lastWritten(name string) (identityRecord, int64, bool) {
	e.written.mu.Lock()
	defer e.written.mu.Unlock()
	w, ok := e.written.recs[name]
	return w.rec.clone(), w.version, ok
}

// entityState is what Vault holds for an entity.
type entityState struct {
	id       string
	disabled bool
	metadata map[string]string
	aliases  []aliasState
	// policies are ACL policies granted to every token of the entity; the engine sets none.
	policies []string
}

// aliasState is one alias of an entity.
type aliasState struct {
	id, name, mountPath string
}

// parseEntity reads an entity from Vault's answer.
func parseEntity(data map[string]any) *entityState {
	ent := &entityState{metadata: map[string]string{}, aliases: parseAliases(data["aliases"])}
	ent.id, _ = data["id"].(string)
	ent.disabled, _ = data["disabled"].(bool)
	ent.policies = stringList(data["policies"])
	meta, _ := data["metadata"].(map[string]any)
	for k, v := range meta {
		ent.metadata[k], _ = v.(string)
	}
	return ent
}

// parseAliases reads the aliases of an entity, as Vault lists them in an entity or in the
// key_info of an entity listing.
func parseAliases(raw any) []aliasState {
	list, _ := raw.([]any)
	out := make([]aliasState, 0, len(list))
	for _, a := range list {
		m, _ := a.(map[string]any)
		var al aliasState
		al.id, _ = m["id"].(string)
		al.name, _ = m["name"].(string)
		al.mountPath, _ = m["mount_path"].(string)
		out = append(out, al)
	}
	return out
}

// mountAlias returns the entity's alias on the engine's AppRole mount, if any. Aliases are
// matched by mount path, which reads carry, so that reads need no access to sys/auth.
func (e *Engine) mountAlias(aliases []aliasState) (aliasState, bool) {
	for _, a := range aliases {
		if a.mountPath == "auth/"+e.approle+"/" {
			return a, true
		}
	}
	return aliasState{}, false
}

// entity reads the identity's entity, managed or not; nil when there is none.
func (e *Engine) entity(ctx context.Context, name string) (*entityState, error) {
	s, err := e.read(ctx, e.entityPath(name))
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseEntity(s.Data), nil
}

// readEntity reads the identity's entity; nil when there is none. An entity of that name that
// the provider does not manage is ErrConflict.
func (e *Engine) readEntity(ctx context.Context, name string) (*entityState, error) {
	ent, err := e.entity(ctx, name)
	if err != nil || ent == nil {
		return nil, err
	}
	if ent.metadata["managed-by"] != managedBy {
		return nil, &engine.ExistsError{Kind: kindIdentity, Name: name,
			What: fmt.Sprintf("the Vault entity %q exists and is not managed by %s: rename the identity, or remove or rename the entity", e.entityName(name), managedBy)}
	}
	return ent, nil
}

// writeEntity creates or updates the identity's entity, disabled once the identity is retired,
// and returns it with the aliases it had.
func (e *Engine) writeEntity(ctx context.Context, id policy.Identity) (*entityState, error) {
	ent, err := e.readEntity(ctx, id.Name)
	if err != nil {
		return nil, err
	}
	// An identity's privileges are its role's token_policies; policies on the entity (granted
	// to every token of it) are privilege drift, cleared here.
	s, err := e.write(idempotent(ctx), e.entityPath(id.Name), map[string]any{"metadata": entityMetadata(id), "disabled": id.Retired(), "policies": []string{}})
	if err != nil || ent != nil {
		return ent, err
	}
	ent = &entityState{}
	if s != nil {
		ent.id, _ = s.Data["id"].(string)
	}
	if ent.id == "" {
		// Vault answers a write to an existing entity with no content: the entity was made
		// between the read and this write, by an earlier attempt of this write whose answer
		// was lost in a leader election (seen in scripts/ha-apply-test). Read it back.
		if ent, err = e.readEntity(ctx, id.Name); err != nil || ent != nil {
			return ent, err
		}
		return nil, fmt.Errorf("%s: Vault returned no entity id", e.entityPath(id.Name))
	}
	return ent, nil
}

// bindAlias makes roleID the entity's alias on the AppRole mount, so that every token of the
// role belongs to the entity. An entity has one alias per mount: one naming another role_id
// (the role was deleted and made again) is removed first. Writing an alias that another
// entity holds moves it to this one.
func (e *Engine) bindAlias(ctx context.Context, ent *entityState, roleID string) error {
	if a, ok := e.mountAlias(ent.aliases); ok {
		if a.name == roleID {
			return nil
		}
		if err := e.del(ctx, "identity/entity-alias/id/"+a.id); err != nil {
			return err
		}
	}
	_, err := e.write(ctx, "identity/entity-alias", map[string]any{"name": roleID, "canonical_id": ent.id, "mount_accessor": e.accessor})
	return err
}

// bind writes the identity's entity and binds the role to it with an alias, and returns the
// role's role_id. Without a role (a retired identity's role deleted by hand) it writes the
// entity alone.
func (e *Engine) bind(ctx context.Context, id policy.Identity) (string, error) {
	roleID, err := e.roleID(ctx, id.Name)
	if err != nil && (!errors.Is(err, engine.ErrNotFound) || !id.Retired()) {
		return "", err
	}
	ent, err := e.writeEntity(ctx, id)
	if err != nil || roleID == "" {
		return "", err
	}
	return roleID, e.bindAlias(ctx, ent, roleID)
}

// provision creates or updates the identity's role, entity and alias, and returns the role's
// role_id. Every step is idempotent, so provisioning again repairs a partly provisioned or
// drifted identity.
func (e *Engine) provision(ctx context.Context, id policy.Identity, p *policy.TTLPolicy) (string, error) {
	if err := e.writeRole(ctx, id, p); err != nil {
		return "", err
	}
	return e.bind(ctx, id)
}

// removeVaultObjects deletes the identity's entity (Vault deletes its alias with it) and its
// role (with the role's secret-ids). An entity the provider does not manage is left alone.
func (e *Engine) removeVaultObjects(ctx context.Context, name string) error {
	ent, err := e.readEntity(ctx, name)
	switch {
	case errors.Is(err, engine.ErrConflict):
	case err != nil:
		return err
	case ent != nil:
		if err := e.del(ctx, "identity/entity/id/"+ent.id); err != nil {
			return err
		}
	}
	return e.del(ctx, e.rolePath(name))
}

// cutOff revokes every credential of the identity, destroys every secret-id of its role (the
// rotated secret's versions included), records every version of its secret retained and
// deletes the values. It returns how many versions the secret has.
func (e *Engine) cutOff(ctx context.Context, name string) (versions int, err error) {
	if err := e.revokeAll(ctx, name); err != nil {
		return 0, err
	}
	if err := e.deleteDynamicRoles(ctx, name); err != nil {
		return 0, err
	}
	if err := e.dropCredentialLogins(ctx, name); err != nil {
		return 0, err
	}
	if err := e.dropRotatedLogins(ctx, name); err != nil {
		return 0, err
	}
	if err := e.destroySecretIDs(ctx, name); err != nil {
		return 0, err
	}
	return e.retireSecrets(ctx, name)
}

// applyTTLPolicy rewrites the roles of the active identities under p with p's terms.
func (e *Engine) applyTTLPolicy(ctx context.Context, p policy.TTLPolicy) error {
	recs, err := kvGetAll[identityRecord](ctx, e, identitiesFolder)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.TTLPolicy == p.Name && !rec.Retired() {
			if err := e.writeRole(ctx, rec.Identity, &p); err != nil {
				return fmt.Errorf("applying %s %q to identity %q: %w", kindTTLPolicy, p.Name, rec.Name, err)
			}
		}
	}
	return nil
}

// CreateIdentity records a new, active identity and provisions it in Vault. The name is
// claimed first with a check-and-set write of a pending record, so a taken name is refused
// before anything else is touched, unless the identity there can be adopted (see
// engine.Identities): a complete one is provisioned again (every step is idempotent, so this
// repairs what an interrupted apply left) and returned; a pending one is resumed. When
// provisioning a new identity fails, everything made is removed again; when even that fails
// (Vault went away half way), the pending record stays, and creating the identity again with the
// same declaration resumes where it stopped. The record is marked complete last, after the
// audit event.
func (e *Engine) CreateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	if err := engine.CheckName(kindIdentity, id.Name); err != nil {
		return policy.Identity{}, err
	}
	p, err := e.checkDeclared(ctx, id)
	if err != nil {
		return policy.Identity{}, err
	}
	id.Status, id.CreatedAt, id.RetiredAt, id.EngineDrift = policy.StatusActive, e.clock.Now(), time.Time{}, nil
	id.PrivilegesAdded, id.PrivilegesRemoved = nil, nil
	cur, version, found, err := e.claim(ctx, id)
	if err != nil {
		return policy.Identity{}, err
	}
	event := engine.AuditEvent{Type: engine.EventIdentityCreated, Identity: id.Name}
	if found {
		id, event = cur.Identity, engine.AdoptedEvent(engine.KindIdentity, id.Name)
	}
	roleID, err := e.provision(ctx, id, p)
	if err != nil {
		err = fmt.Errorf("identity %q: provisioning in Vault: %w", id.Name, err)
		if found && !cur.Pending {
			return policy.Identity{}, err // it was complete before this create: leave it
		}
		return policy.Identity{}, e.undoCreate(ctx, id.Name, err)
	}
	if err := e.appendAudit(ctx, event); err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: %w (it stays unfinished: create it again to finish it)", id.Name, err)
	}
	if found && !cur.Pending {
		e.useAfterWrite(&id)
		return id, nil
	}
	if _, err := e.kvPut(ctx, identityKey(id.Name), identityRecord{Identity: id, RoleID: roleID}, version); err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: marking it complete: %w (create it again to finish it)", id.Name, err)
	}
	e.useAfterWrite(&id)
	return id, nil
}

// claim writes the pending record of a new identity and returns its version. When the name is
// taken by an identity that a create of id may adopt, it returns that record with found set: a
// pending one claimed again (its new version returned), so that two resumptions never run at
// once. Any other taken name is an ExistsError.
func (e *Engine) claim(ctx context.Context, id policy.Identity) (cur identityRecord, version int64, found bool, err error) {
	key := identityKey(id.Name)
	version, err = e.kvPut(ctx, key, identityRecord{Identity: id, Pending: true}, newKey)
	if errors.Is(err, engine.ErrConflict) {
		var curVersion int64
		if cur, curVersion, err = kvGet[identityRecord](ctx, e, key); err == nil {
			if adoptErr := engine.AdoptableIdentity(cur.Identity, id); adoptErr != nil {
				return cur, 0, false, adoptErr
			}
			found, version = true, curVersion
			if cur.Pending {
				e.logf("resuming the unfinished creation of an identity", map[string]any{"identity": id.Name})
				version, err = e.kvPut(ctx, key, cur, curVersion)
			}
		}
	}
	if err != nil {
		return cur, 0, false, fmt.Errorf("identity %q: %w", id.Name, err)
	}
	return cur, version, found, nil
}

// CheckCreateIdentity tells what CreateIdentity(id) would do, writing nothing. A name free in
// the provider's records but held by a Vault entity that the provider does not manage is an
// ExistsError too.
func (e *Engine) CheckCreateIdentity(ctx context.Context, id policy.Identity) (bool, error) {
	if err := engine.CheckName(kindIdentity, id.Name); err != nil {
		return false, err
	}
	cur, _, err := e.readRecord(ctx, id.Name)
	if err == nil {
		adoptErr := engine.AdoptableIdentity(cur.Identity, id)
		return adoptErr == nil, adoptErr
	}
	if !errors.Is(err, engine.ErrNotFound) {
		return false, err
	}
	_, err = e.readEntity(ctx, id.Name)
	return false, err
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
		return fmt.Errorf("%w (removing the partial identity failed too: %v; it is recorded unfinished: create identity %q again to finish it, or delete it)", cause, err, name)
	}
	return cause
}

// UpdateIdentity replaces the declared attributes of an active identity, keeping its status
// and timestamps, and writes its role, entity and alias again, and the secret-ids of its
// rotated secret, so that no EngineDrift is left.
func (e *Engine) UpdateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	cur, version, err := e.readRecord(ctx, id.Name)
	if err != nil {
		return policy.Identity{}, err
	}
	if cur.Retired() {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", id.Name, engine.ErrRetired)
	}
	if err := engine.CheckTargetKept(cur.Identity, id); err != nil {
		return policy.Identity{}, err
	}
	p, err := e.checkDeclared(ctx, id)
	if err != nil {
		return policy.Identity{}, err
	}
	id.Status, id.CreatedAt, id.RetiredAt, id.EngineDrift = cur.Status, cur.CreatedAt, cur.RetiredAt, nil
	id.PrivilegesAdded, id.PrivilegesRemoved = nil, nil
	roleID, err := e.provision(ctx, id, p)
	if err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: provisioning in Vault: %w", id.Name, err)
	}
	if p == nil {
		if err := e.syncRoleSecretIDs(ctx, id.Name); err != nil {
			return policy.Identity{}, fmt.Errorf("identity %q: restoring its secret-ids: %w", id.Name, err)
		}
		if err := e.syncRotatedGroup(ctx, id); err != nil {
			return policy.Identity{}, err
		}
	}
	rec, err := e.updateRecord(ctx, cur, version, func(rec *identityRecord) (bool, error) {
		if rec.Retired() {
			return false, engine.ErrRetired
		}
		rec.Identity, rec.RoleID = id, roleID
		return true, nil
	})
	if errors.Is(err, engine.ErrRetired) {
		// Another process retired the identity since it was read, and provision may have
		// enabled its entity again: disable it, as the retirement left it.
		if _, berr := e.bind(ctx, rec.Identity); berr != nil {
			err = fmt.Errorf("%w (disabling its entity again failed: %v)", err, berr)
		}
	}
	if err != nil {
		return policy.Identity{}, fmt.Errorf("identity %q: %w", id.Name, err)
	}
	e.useAfterWrite(&id)
	return id, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityUpdated, Identity: id.Name})
}

// readRecord reads an identity's record and its version, without reading Vault's side back.
func (e *Engine) readRecord(ctx context.Context, name string) (identityRecord, int64, error) {
	if err := lookupName(kindIdentity, name); err != nil {
		return identityRecord{}, 0, err
	}
	// Within a refresh or the drift report (engine.ReadOnce), the record is read once: ReadIdentity
	// and ObserveLogins both need it.
	type read struct {
		rec     identityRecord
		version int64
	}
	r, err := engine.ReadOnce(ctx, "vault identity record "+name, func() (read, error) {
		rec, version, err := kvGet[identityRecord](ctx, e, identityKey(name))
		return read{rec, version}, err
	})
	if err != nil {
		return identityRecord{}, 0, recordErr(kindIdentity, name, err)
	}
	return r.rec.clone(), r.version, nil
}

// readIdentity reads an identity without reading Vault's side back: what the engine's own
// operations need.
func (e *Engine) readIdentity(ctx context.Context, name string) (policy.Identity, error) {
	rec, _, err := e.readRecord(ctx, name)
	return rec.Identity, err
}

// updateRecord lets change edit rec, the identity record read at version, and writes it back
// with check-and-set, reading the record again and re-running change when another writer got
// there first; change reports whether to write at all and must be a pure function of the
// record. It returns the record as last seen.
func (e *Engine) updateRecord(ctx context.Context, rec identityRecord, version int64, change func(*identityRecord) (bool, error)) (identityRecord, error) {
	key := identityKey(rec.Name)
	for attempt := 1; ; attempt++ {
		rec.writes = version + 1
		write, err := change(&rec)
		if err != nil || !write {
			return rec, err
		}
		written, err := e.kvPut(ctx, key, rec, version)
		if err == nil {
			e.remember(rec, written)
		}
		if err == nil || !errors.Is(err, engine.ErrConflict) || attempt == casAttempts {
			return rec, err
		}
		if rec, version, err = kvGet[identityRecord](ctx, e, key); err != nil {
			return rec, err
		}
	}
}

// GetIdentity reads an identity, retired or not, and fills EngineDrift by reading back its
// role, entity, alias and secret-ids from Vault (see drift.go).
func (e *Engine) GetIdentity(ctx context.Context, name string) (policy.Identity, error) {
	r, err := e.ReadIdentity(ctx, name)
	return r.Identity, err
}

var _ engine.IdentityReader = (*Engine)(nil)

// ReadIdentity is GetIdentity with LiveCredentials(name) from the same read of the identity's
// record, which holds its live credentials, and, for a persistent or retired identity, with
// ListSecretVersions(name) from the one read of its secret-version record that the drift
// read-back makes anyway.
func (e *Engine) ReadIdentity(ctx context.Context, name string) (engine.IdentityRead, error) {
	rec, _, err := e.readRecord(ctx, name)
	if err != nil {
		return engine.IdentityRead{}, err
	}
	var secrets *secretRecord
	if rec.TTLPolicy == "" || rec.Retired() {
		sr, err := e.secretsOf(ctx, rec)
		if err != nil {
			return engine.IdentityRead{}, fmt.Errorf("identity %q: %w", name, err)
		}
		secrets = &sr
	}
	r := engine.IdentityRead{}
	if r.Identity, err = e.drift(ctx, rec, secrets, e.GetTTLPolicy); err != nil {
		return engine.IdentityRead{}, fmt.Errorf("identity %q: reading it back from Vault: %w", name, err)
	}
	if err := e.observeUse(&r.Identity); err != nil {
		return engine.IdentityRead{}, err
	}
	if secrets != nil {
		r.Versions, r.VersionsRead = secrets.public(), true
	}
	r.Live, err = e.liveOf(ctx, []identityRecord{rec}, false)
	return r, err
}

// ListIdentities lists every identity, retired ones included, by name. EngineDrift says only
// whether each identity's role, entity and alias exist: two LIST calls for the whole fleet (see
// drift.go); GetIdentity and ListIdentitiesReadBack read identities back in full, privileges
// included.
func (e *Engine) ListIdentities(ctx context.Context) ([]policy.Identity, error) {
	recs, err := e.allRecords(ctx)
	if err != nil {
		return nil, err
	}
	inv, err := e.readInventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing identities: reading the roles and entities back from Vault: %w", err)
	}
	out := make([]policy.Identity, len(recs))
	for i, rec := range recs {
		out[i] = rec.Identity
		out[i].EngineDrift = e.existenceDrift(inv, rec)
		if err := e.observeUse(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RetireIdentity revokes every credential of the identity, destroys every secret-id of its
// role (the versions of its rotated secret included, whose values are deleted), disables its
// entity (Vault then refuses its tokens and logins) and keeps its records for audit, secret
// versions recorded retained. Retiring a retired identity returns it unchanged, after cutting
// it off again in Vault: a credential, secret-id or enabled entity that appeared since (its
// EngineDrift) goes.
func (e *Engine) RetireIdentity(ctx context.Context, name string) (policy.Identity, error) {
	if _, _, err := e.readRecord(ctx, name); err != nil {
		return policy.Identity{}, err
	}
	versions, err := e.cutOff(ctx, name)
	if err != nil {
		return policy.Identity{}, fmt.Errorf("retiring identity %q: %w", name, err)
	}
	// cutOff moved the credentials out of the record: read it again.
	rec, version, err := e.readRecord(ctx, name)
	if err != nil {
		return policy.Identity{}, err
	}
	id := rec.Identity
	if id.Retired() {
		if _, err := e.bind(ctx, id); err != nil {
			return policy.Identity{}, fmt.Errorf("retiring identity %q again: disabling its entity: %w", name, err)
		}
		return id, nil
	}
	id.Status, id.RetiredAt = policy.StatusRetired, e.clock.Now()
	if _, err := e.bind(ctx, id); err != nil {
		return policy.Identity{}, fmt.Errorf("retiring identity %q: disabling its entity: %w", name, err)
	}
	rec, err = e.updateRecord(ctx, rec, version, func(rec *identityRecord) (bool, error) {
		rec.Status, rec.RetiredAt = id.Status, id.RetiredAt
		return true, nil
	})
	if err != nil {
		return policy.Identity{}, fmt.Errorf("retiring identity %q: %w", name, err)
	}
	// An issue by another process that wrote its credential after cutOff and before this write
	// left it live in the record (an issue after this write is refused: the identity is
	// retired): revoke it too.
	for _, c := range rec.Live {
		if err := e.revoke(ctx, name, c.ID, ""); err != nil {
			return policy.Identity{}, fmt.Errorf("retiring identity %q: %w", name, err)
		}
	}
	return id, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityRetired, Identity: name, Detail: engine.VersionsDetail("retired", versions)})
}

// DeleteIdentity revokes every credential of the identity and removes its role, entity, alias,
// record and rotated secret (values and version records). Its credential records (moved to
// the archive first), rotation schedule and audit events stay.
func (e *Engine) DeleteIdentity(ctx context.Context, name string) error {
	rec, version, err := e.readRecord(ctx, name)
	if err != nil {
		return err
	}
	// The record is written retired first, with check-and-set: an issue by another process that
	// has not written its credential yet is then refused (its write conflicts, and the record it
	// reads again is retired), and one that has is in the record that cutOff reads next. Without
	// it, a credential written after cutOff's read would be deleted with the record, its token
	// left live in Vault.
	if !rec.Retired() {
		now := e.clock.Now()
		if _, err := e.updateRecord(ctx, rec, version, func(rec *identityRecord) (bool, error) {
			rec.Status, rec.RetiredAt = policy.StatusRetired, now
			return true, nil
		}); err != nil {
			return fmt.Errorf("deleting identity %q: %w", name, err)
		}
	}
	versions, err := e.cutOff(ctx, name)
	if err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	// The credentials in the record go to the archive, which outlives the identity.
	rec, _, err = e.readRecord(ctx, name)
	if err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	if creds := slices.Concat(rec.Ended, rec.Live); len(creds) > 0 {
		if _, err := e.archive(ctx, name, creds); err != nil {
			return fmt.Errorf("deleting identity %q: %w", name, err)
		}
	}
	if err := e.removeVaultObjects(ctx, name); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	if err := e.deleteLegacySecrets(ctx, name); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	if err := e.kvDelete(ctx, identityKey(name)); err != nil {
		return fmt.Errorf("deleting identity %q: %w", name, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIdentityDeleted, Identity: name, Detail: engine.VersionsDetail("destroyed", versions)})
}
