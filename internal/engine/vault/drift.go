package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Drift is what Vault holds for an identity read back and compared with what the engine writes
// for it, one short line per difference (policy.Identity.EngineDrift):
//
//   - GetIdentity reads everything back, two requests beside the record for an ephemeral
//     identity, three for a persistent or retired one (four while its secret's versions sit in
//     the record of earlier releases, see rotation.go): the role's settings against
//     roleSettings (skipped for a retired identity, whose role keeps the terms it had, and when
//     the TTL policy is gone); the entity's disabled flag and metadata against the record; the
//     alias against the role_id that the record keeps from the last provisioning (a role
//     deleted and made again by hand, with a new role_id, shows only through its settings, not as
//     a missing alias; records older than the role_id field read it from Vault); and the
//     role's secret-ids: none for a retired identity, and for a persistent one exactly those
//     of its secret's versions. An
//     ephemeral identity's secret-ids are not compared: each lives one login and a minute, as
//     the role's secret_id_num_uses and secret_id_ttl (compared) say.
//   - ListIdentities, which drift reports run over whole fleets, only checks that each role,
//     entity and alias exists, from one LIST of the roles and one of the entities (with their
//     aliases) whatever the fleet's size; reading every role and entity would cost two to five
//     requests per identity.
//
// UpdateIdentity (RetireIdentity, for a retired identity) writes all of it again, which clears
// every line.

// roleKeys are the role settings that roleSettings writes, in report order.
var roleKeys = []string{
	"token_ttl", "token_max_ttl", "token_explicit_max_ttl", "token_period", "token_num_uses", "token_type",
	"bind_secret_id", "secret_id_num_uses", "secret_id_ttl",
}

// entityMetaKeys are the entity metadata that the record determines, in report order.
var entityMetaKeys = []string{"managed-by", "class", "owner", "environment", "ttl_policy", "status"}

// Drift lines that name a missing object.
const (
	driftPending      = "creation unfinished (Vault failed half way): create the identity again to finish it"
	driftRoleMissing  = "role missing"
	driftEntity       = "entity missing"
	driftAliasMissing = "entity alias missing"
)

// drift reads back what Vault holds for the identity of rec and describes each difference
// from what the engine writes for it: settings in EngineDrift, privileges (the role's and the
// entity's policies, bound CIDRs) in PrivilegesAdded and PrivilegesRemoved, from the same role
// and entity reads. A retired identity's privileges are not compared: it has no credential.
// ttlPolicy finds the identity's TTL policy; secrets is the identity's secret-version record
// when the caller read it already (nil: drift reads it when it needs it).
func (e *Engine) drift(ctx context.Context, rec identityRecord, secrets *secretRecord, ttlPolicy func(context.Context, string) (policy.TTLPolicy, error)) (policy.Identity, error) {
	id := rec.Identity
	id.EngineDrift, id.PrivilegesAdded, id.PrivilegesRemoved = nil, nil, nil
	if rec.Pending {
		id.EngineDrift = append(id.EngineDrift, driftPending)
	}
	role, err := e.readRole(ctx, rec.Name)
	if err != nil {
		return id, err
	}
	if role == nil {
		id.EngineDrift = append(id.EngineDrift, driftRoleMissing)
	} else if !rec.Retired() {
		if declared, ok := declaredRole(ctx, rec.Identity, ttlPolicy); ok {
			id.EngineDrift = append(id.EngineDrift, compareRole(declared, role)...)
		}
	}
	ent, err := e.entity(ctx, rec.Name)
	if err != nil {
		return id, err
	}
	if ent == nil {
		id.EngineDrift = append(id.EngineDrift, driftEntity)
	} else {
		id.EngineDrift = append(id.EngineDrift, compareEntity(rec.Identity, ent)...)
	}
	if role == nil {
		return id, nil
	}
	if !rec.Retired() {
		id.PrivilegesAdded, id.PrivilegesRemoved = comparePrivileges(rec.Identity, role, ent)
	}
	if ent != nil {
		roleID := rec.RoleID
		if roleID == "" {
			if roleID, err = e.roleID(ctx, rec.Name); err != nil {
				return id, err
			}
		}
		if a, ok := e.mountAlias(ent.aliases); !ok || a.name != roleID {
			id.EngineDrift = append(id.EngineDrift, driftAliasMissing)
		}
	}
	sids, err := e.secretIDDrift(ctx, rec, secrets)
	id.EngineDrift = append(id.EngineDrift, sids...)
	return id, err
}

// readRole reads the settings of the identity's role; nil when there is no role.
func (e *Engine) readRole(ctx context.Context, name string) (map[string]any, error) {
	s, err := e.read(ctx, e.rolePath(name))
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

// declaredRole returns the role settings the engine writes for id, or false when it cannot
// tell: the TTL policy is gone or unreadable (the policy rules report that).
func declaredRole(ctx context.Context, id policy.Identity, ttlPolicy func(context.Context, string) (policy.TTLPolicy, error)) (map[string]any, bool) {
	var p *policy.TTLPolicy
	if id.TTLPolicy != "" {
		got, err := ttlPolicy(ctx, id.TTLPolicy)
		if err != nil {
			return nil, false
		}
		p = &got
	}
	s, err := roleSettings(p)
	return s, err == nil
}

// compareRole describes each role setting that differs from the declared one.
func compareRole(declared, actual map[string]any) []string {
	var lines []string
	for _, k := range roleKeys {
		want, got := formatSetting(k, declared[k]), formatSetting(k, actual[k])
		if want != got {
			lines = append(lines, fmt.Sprintf("role %s is %s, declared %s", k, got, want))
		}
	}
	return lines
}

// formatSetting formats a role setting as Vault reads it back or roleSettings writes it: TTLs
// in seconds ("3600s", or "0"), the token type quoted.
func formatSetting(key string, v any) string {
	if v == nil {
		return "unset"
	}
	s := fmt.Sprint(v)
	switch {
	case key == "token_type":
		return strconv.Quote(s)
	case (strings.HasSuffix(key, "_ttl") || key == "token_period") && s != "0":
		return s + "s"
	}
	return s
}

// compareEntity describes each difference between the entity and what the record declares.
func compareEntity(id policy.Identity, ent *entityState) []string {
	var lines []string
	if ent.disabled != id.Retired() {
		lines = append(lines, fmt.Sprintf("entity disabled is %t, declared %t", ent.disabled, id.Retired()))
	}
	declared := entityMetadata(id)
	for _, k := range entityMetaKeys {
		if got, want := ent.metadata[k], declared[k]; got != want {
			lines = append(lines, fmt.Sprintf("entity metadata %s is %q, declared %q", k, got, want))
		}
	}
	return lines
}

// secretIDDrift compares the secret-ids of the identity's role with those the engine issued:
// none for a retired identity; for a persistent one, one per version of its secret that
// authenticates.
func (e *Engine) secretIDDrift(ctx context.Context, id identityRecord, secrets *secretRecord) ([]string, error) {
	if !id.Retired() && id.TTLPolicy != "" {
		return nil, nil
	}
	live, err := e.secretIDs(ctx, id.Name)
	if err != nil {
		return nil, err
	}
	if id.Retired() {
		if len(live) == 0 {
			return nil, nil
		}
		return []string{fmt.Sprintf("role has %s, declared none (identity retired)", plural(len(live), "secret-id"))}, nil
	}
	if secrets == nil {
		rec, err := e.secretsOf(ctx, id)
		if err != nil {
			return nil, err
		}
		secrets = &rec
	}
	rec := secrets
	var lines []string
	known := map[string]bool{}
	now := e.clock.Now()
	for _, v := range rec.Versions {
		known[v.SecretIDAccessor] = true
		if v.wantsSecretID(now) && (v.SecretIDAccessor == "" || !slices.Contains(live, v.SecretIDAccessor)) {
			lines = append(lines, fmt.Sprintf("secret version %d has no secret-id in Vault, declared one (%s)", v.Version, v.State))
		}
	}
	if n := len(foreign(live, known)); n > 0 {
		lines = append(lines, fmt.Sprintf("role has %s the engine did not issue", plural(n, "secret-id")))
	}
	return lines, nil
}

// foreign returns the accessors in live that are not known.
func foreign(live []string, known map[string]bool) []string {
	var out []string
	for _, a := range live {
		if !known[a] {
			out = append(out, a)
		}
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// syncRoleSecretIDs brings the secret-ids of a persistent identity's role in line with its
// secret's versions: a version that authenticates and lost its secret-id gets it again, and a
// secret-id the engine did not issue is destroyed.
func (e *Engine) syncRoleSecretIDs(ctx context.Context, name string) error {
	live, err := e.secretIDs(ctx, name)
	if err != nil {
		return err
	}
	rec, err := e.changeSecrets(ctx, name, func(rec *secretRecord) (bool, error) {
		changed := false
		for i := range rec.Versions {
			v := &rec.Versions[i]
			if v.SecretIDAccessor != "" && !slices.Contains(live, v.SecretIDAccessor) {
				v.SecretIDAccessor, v.SecretIDExpiresAt = "", time.Time{} // lost in Vault: the reconcile issues it again
				changed = true
			}
		}
		return changed, nil
	})
	if err != nil {
		return err
	}
	if rec, err = e.reconcileSecrets(ctx, name, rec, nil); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, v := range rec.Versions {
		known[v.SecretIDAccessor] = true
	}
	for _, a := range foreign(live, known) {
		if err := e.destroySecretID(ctx, name, a); err != nil {
			return err
		}
	}
	return nil
}

// inventory is what the AppRole mount and the entities hold, from two LIST calls.
type inventory struct {
	// roles are the role names on the AppRole mount.
	roles map[string]bool
	// entities are the aliases of every entity, by entity name.
	entities map[string][]aliasState
}

// readInventory lists the roles on the AppRole mount and the entities with their aliases.
func (e *Engine) readInventory(ctx context.Context) (inventory, error) {
	inv := inventory{roles: map[string]bool{}, entities: map[string][]aliasState{}}
	roles, err := e.list(ctx, "auth/"+e.approle+"/role")
	if err != nil {
		return inv, err
	}
	for _, r := range roles {
		inv.roles[r] = true
	}
	info, err := e.listInfo(ctx, "identity/entity/id")
	if err != nil {
		return inv, err
	}
	for _, v := range info {
		m, _ := v.(map[string]any)
		if name, _ := m["name"].(string); name != "" {
			inv.entities[name] = parseAliases(m["aliases"])
		}
	}
	return inv, nil
}

// listInfo returns the key_info of a LIST at path, none when Vault has nothing there.
func (e *Engine) listInfo(ctx context.Context, path string) (map[string]any, error) {
	s, err := e.client.Logical().ListWithContext(ctx, path)
	if err != nil || s == nil {
		return nil, e.vaultErr("list", path, err)
	}
	info, _ := s.Data["key_info"].(map[string]any)
	return info, nil
}

// existenceDrift says which of the identity's role, entity and alias inv lacks.
func (e *Engine) existenceDrift(inv inventory, rec identityRecord) []string {
	var lines []string
	if rec.Pending {
		lines = append(lines, driftPending)
	}
	if !inv.roles[rec.Name] {
		lines = append(lines, driftRoleMissing)
	}
	aliases, ok := inv.entities[e.entityName(rec.Name)]
	if !ok {
		return append(lines, driftEntity)
	}
	if _, ok := e.mountAlias(aliases); !ok && inv.roles[rec.Name] {
		lines = append(lines, driftAliasMissing)
	}
	return lines
}

var (
	_ engine.UnmanagedLister = (*Engine)(nil)
	_ engine.DriftReader     = (*Engine)(nil)
)

// ListIdentitiesReadBack lists every identity, retired ones included, by name, each with the
// EngineDrift and privilege drift that GetIdentity gives it, the TTL policies coming from
// policies, and its live credentials from its record. Per identity: its record, its role and
// its entity (three reads; a fourth for the role_id of a record older than the role_id
// field), plus for a persistent or retired identity the list of its role's secret-ids (and
// the secret's version record of earlier releases, until the identity's next rotation), plus
// one token look-up per live credential.
func (e *Engine) ListIdentitiesReadBack(ctx context.Context, policies []policy.TTLPolicy) ([]engine.IdentityRead, error) {
	byName := make(map[string]policy.TTLPolicy, len(policies))
	for _, p := range policies {
		byName[p.Name] = p
	}
	ttlPolicy := func(_ context.Context, name string) (policy.TTLPolicy, error) {
		if p, ok := byName[name]; ok {
			return p, nil
		}
		return policy.TTLPolicy{}, engine.NotFound(kindTTLPolicy, name)
	}
	recs, err := e.allRecords(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]engine.IdentityRead, len(recs))
	for i, rec := range recs {
		if out[i].Identity, err = e.drift(ctx, rec, nil, ttlPolicy); err != nil {
			return nil, fmt.Errorf("identity %q: reading it back from Vault: %w", rec.Name, err)
		}
		if out[i].Live, err = e.liveOf(ctx, recs[i:i+1], false); err != nil {
			return nil, fmt.Errorf("identity %q: %w", rec.Name, err)
		}
		if err := e.observeUse(&out[i].Identity); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListUnmanaged names the AppRole roles on the engine's AppRole mount, and the entities with
// an alias on it, that no identity record accounts for: objects made by hand, or left by a
// failed clean-up. An entity of the engine's naming scheme is named by its identity's name,
// so a role and its entity count once. Three LIST calls, whatever the fleet's size.
func (e *Engine) ListUnmanaged(ctx context.Context) ([]string, error) {
	keys, err := e.kvList(ctx, identitiesFolder)
	if err != nil {
		return nil, err
	}
	managed := map[string]bool{}
	for _, k := range keys {
		managed[k] = true
	}
	inv, err := e.readInventory(ctx)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for r := range inv.roles {
		if !managed[r] {
			found[r] = true
		}
	}
	for name, aliases := range inv.entities {
		if _, ok := e.mountAlias(aliases); !ok {
			continue
		}
		if n := e.identityOfEntity(name); !managed[n] {
			found[n] = true
		}
	}
	out := make([]string, 0, len(found))
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// identityOfEntity is the identity name an entity of that name stands for (entityName undone),
// or the entity's own name when it does not follow the engine's naming scheme.
func (e *Engine) identityOfEntity(entity string) string {
	if e.mount == DefaultMount {
		return entity
	}
	if name, ok := strings.CutPrefix(entity, e.mount+"."); ok {
		return name
	}
	return entity
}

// stringList reads a list of strings from a Vault answer; anything else reads as none.
func stringList(raw any) []string {
	list, _ := raw.([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// comparePrivileges compares the privileges Vault grants the identity (its role's
// token_policies, the deprecated policies, token_no_default_policy and bound CIDRs, and its
// entity's policies, when ent is not nil) with its declaration. added are grants beyond the
// declaration (privilege escalation), removed declared grants Vault no longer makes.
func comparePrivileges(id policy.Identity, role map[string]any, ent *entityState) (added, removed []string) {
	declared := privilegeSettings(id)
	want, _ := declared["token_policies"].([]string)
	got := slices.Concat(stringList(role["token_policies"]), stringList(role["policies"]))
	slices.Sort(got)
	got = slices.Compact(got)
	for _, p := range got {
		if !slices.Contains(want, p) {
			added = append(added, fmt.Sprintf("role token_policies grants %q, not declared", p))
		}
	}
	for _, p := range want {
		if !slices.Contains(got, p) {
			removed = append(removed, fmt.Sprintf("role token_policies lacks %q, declared", p))
		}
	}
	if noDefault, _ := role["token_no_default_policy"].(bool); !noDefault && !slices.Contains(want, defaultPolicy) && !slices.Contains(got, defaultPolicy) {
		added = append(added, `role token_no_default_policy is false: tokens also get Vault's "default" policy, not declared`)
	}
	for _, key := range []string{"token_bound_cidrs", "secret_id_bound_cidrs"} {
		a, r := compareCIDRs(key, id.BoundCIDRs, stringList(role[key]))
		added, removed = append(added, a...), append(removed, r...)
	}
	if ent != nil {
		for _, p := range ent.policies {
			added = append(added, fmt.Sprintf("entity policies grant %q to every token of the identity, not declared", p))
		}
	}
	return added, removed
}

// compareCIDRs compares a role's bound CIDRs (key) with the declared ones. A network Vault
// allows beyond the declaration widens access, and so does no bound at all where one is
// declared; a declared network Vault dropped while others remain narrows it.
func compareCIDRs(key string, want, raw []string) (added, removed []string) {
	norm := func(cs []string) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = policy.NormalizeCIDR(c)
		}
		return out
	}
	want, got := norm(want), norm(raw)
	if len(got) == 0 && len(want) > 0 {
		return []string{fmt.Sprintf("role %s is empty: usable from any address, declared %s", key, strings.Join(want, ", "))}, nil
	}
	for _, c := range got {
		if !slices.Contains(want, c) {
			added = append(added, fmt.Sprintf("role %s allows %s, not declared", key, c))
		}
	}
	for _, c := range want {
		if !slices.Contains(got, c) {
			removed = append(removed, fmt.Sprintf("role %s lacks %s, declared", key, c))
		}
	}
	return added, removed
}

// A credential's token can outlive its record's term: renewed out of band (by its holder with
// renew-self, or by an operator), or issued while its role's token_explicit_max_ttl was raised
// by hand. ListCredentials therefore looks up, by accessor, the token of every credential that
// its record does not show revoked and that is not more than lookupWindow past its hard
// expiry: one request per such credential, on top of the one KV read per credential listing
// costs anyway, so drift reports see what Vault really holds. The engine's clock and Vault's
// may differ (a fake clock in tests; skew), so terms are compared as spans from issue, each on
// its own clock. The record is not rewritten: the reflected term is an observation. Vault
// counts no renewals, and its count of uses left also falls with requests that are no
// authentication, so renewals and uses stay as recorded; a token revoked out of band keeps
// its recorded term (it only ends sooner).
const (
	// lookupWindow bounds how long past its hard expiry an unrevoked credential is looked up.
	lookupWindow = policy.EndedGrace
	// staleTolerance is how much later than the record Vault's term may end before the record
	// counts as stale: request latency and the drift between the two clocks.
	staleTolerance = time.Minute
)

// tokenTerms is the term of a token as Vault holds it, on Vault's clock.
type tokenTerms struct {
	issued, expires time.Time
	explicitMax     time.Duration
}

// reflectTokens brings each token credential that may still be live in line with its token's
// term in Vault. A credential on a target is a lease, no token: what its login's VALID UNTIL
// says on the target is what the drift rules of logins judge, so it is not looked up here.
func (e *Engine) reflectTokens(ctx context.Context, creds []engine.Credential) error {
	now := e.clock.Now()
	for i, c := range creds {
		if isLeaseCredential(c.ID) || !c.RevokedAt.IsZero() || now.After(c.HardExpiresAt.Add(lookupWindow)) {
			continue
		}
		t, ok, err := e.lookupTerms(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("credential %q: %w", c.ID, err)
		}
		if ok {
			creds[i] = reflectTerms(c, t)
		}
	}
	return nil
}

// lookupTerms looks a token up by accessor; false when Vault no longer holds it.
func (e *Engine) lookupTerms(ctx context.Context, accessor string) (tokenTerms, bool, error) {
	s, err := e.lookup(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": accessor})
	if errors.Is(err, engine.ErrInvalid) {
		return tokenTerms{}, false, nil // Vault answers 400 "invalid accessor" for a token it no longer has
	}
	if err != nil || s == nil {
		return tokenTerms{}, false, err
	}
	var t tokenTerms
	issued, _ := s.Data["issue_time"].(string)
	expires, _ := s.Data["expire_time"].(string)
	t.issued, err = time.Parse(time.RFC3339Nano, issued)
	if err == nil && expires != "" {
		t.expires, err = time.Parse(time.RFC3339Nano, expires)
	}
	if err != nil {
		return tokenTerms{}, false, fmt.Errorf("auth/token/lookup-accessor: unreadable token times: %v", err)
	}
	if n, ok := s.Data["explicit_max_ttl"].(json.Number); ok {
		secs, _ := n.Int64()
		t.explicitMax = time.Duration(secs) * time.Second
	}
	return t, true, nil
}

// reflectTerms returns c with the expiry and hard expiry that Vault's terms t give it, where
// they end more than staleTolerance after the record's.
func reflectTerms(c engine.Credential, t tokenTerms) engine.Credential {
	if !t.expires.IsZero() {
		if exp := c.IssuedAt.Add(t.expires.Sub(t.issued)); exp.After(c.ExpiresAt.Add(staleTolerance)) {
			c.ExpiresAt = exp
		}
	}
	if t.explicitMax > 0 {
		if hard := c.IssuedAt.Add(t.explicitMax); hard.After(c.HardExpiresAt.Add(staleTolerance)) {
			c.HardExpiresAt = hard
		}
	}
	return c
}
