package vault

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// The rotated secret of a persistent identity lives in three places:
//
//   - its value: KV v2 key secrets/<identity>, data {"value": "<secret>"}. Every StageSecret
//     writes a new KV version and KV's version number is the secret's version, so numbers are
//     never reused while the identity lives, and a rollback re-promotes an older KV version.
//     The key's max_versions is set to the largest value KV takes, so KV never prunes a version
//     on its own: versions go only when the engine destroys them (kv destroy).
//   - its versions' states: the secret-version record (secretRecord), one entry per version
//     that is not destroyed (state, created/promoted/expires, fingerprint, and the accessor and
//     term of the version's AppRole secret-id), kept in the identity's record
//     (identityRecord.Secrets), so that a refresh reads the identity, its live credentials and
//     its secret's versions in one request, and written with check-and-set. Records written
//     before keep it at secret-versions/<identity>: it is read from there while the identity
//     record has none, and moved into the identity record by the next change of the secret
//     (reads never move it: a plan writes nothing). Keep prunes the versions and the reconcile
//     step drains the destroy list, so the record stays small. Every change is a
//     transition of internal/policy (Stage, Promote, Discard, Retire) written to the record
//     first; reconcileSecrets then makes the Vault calls that follow from the record (issue,
//     re-issue and destroy secret-ids; destroy the KV versions queued in the record's destroy
//     list), outside the check-and-set loop, and can be re-run: any later change of the
//     identity's secret completes what an interrupted one left.
//   - Vault's verdict: every version that authenticates (staged, current, previous inside its
//     overlap) is an AppRole secret-id of the identity's role whose secret_id is the value
//     itself (custom-secret-id), so a consumer logs in to Vault with the role's role_id and the
//     secret. Its TTL is the version's ExpiresAt (none for staged and unlimited versions; the
//     overlap end for a previous version; the hard limit of PromoteOptions.ExpiresAt for the
//     current one), so Vault ends a version by itself: AppRole removes expired secret-ids in
//     its tidy, once a minute, so Vault may accept a version up to a minute past its term
//     (Authenticate also checks the term by the engine's clock, exactly). A retained or
//     destroyed version has no secret-id. AppRole cannot change a secret-id's TTL, so a change
//     of term re-issues the secret-id (destroy, then create with the same value): a login with
//     that secret in the few milliseconds between the two requests fails and must be retried.

const (
	// maxKVVersions is the max_versions of a secret's KV key: the largest KV accepts (a
	// uint32 field, taken as a signed int), so that KV never deletes a version by itself.
	maxKVVersions = math.MaxInt32

	// secretVersionMeta is the secret-id metadata key naming the version; Vault copies it into
	// the metadata of every token logged in with the secret.
	secretVersionMeta = "secret_version"
)

func secretKey(identity string) string         { return secretsFolder + identity }
func secretVersionsKey(identity string) string { return secretVersionsFolder + identity }

// versionRecord is one version as the engine records it: the version and the secret-id that
// makes it work in Vault ("" when it has none).
type versionRecord struct {
	engine.SecretVersion
	SecretIDAccessor string `json:"secret_id_accessor,omitempty"`
	// SecretIDExpiresAt is the term the secret-id was issued with, by the engine's clock
	// (zero: no TTL), so that a changed ExpiresAt re-issues it.
	SecretIDExpiresAt time.Time `json:"secret_id_expires_at,omitzero"`
	// Login is the login on the identity's target whose password the version is
	// (rotated_logins.go); such a version has no secret-id.
	Login string `json:"login,omitempty"`
}

// secretRecord is the record secret-versions/<identity>, versions in ascending order.
type secretRecord struct {
	Versions []versionRecord `json:"versions"`
	// Destroy holds the versions a transition removed whose secret-id and KV value the
	// reconcile step has not destroyed yet.
	Destroy []versionRecord `json:"destroy,omitempty"`
}

// wantsSecretID tells whether v is to have a secret-id at now: it authenticates and is no
// login's password (a login's version authenticates on its target).
func (v versionRecord) wantsSecretID(now time.Time) bool {
	return v.Authenticates(now) && v.Login == ""
}

func (r *secretRecord) find(version int64) int {
	for i, v := range r.Versions {
		if v.Version == version {
			return i
		}
	}
	return -1
}

// secretsOf returns the secret-version record of the identity of rec: the one in rec, or for a
// record written before versions moved into it, the one at secret-versions/<identity> (empty
// when there is none), which costs a read.
func (e *Engine) secretsOf(ctx context.Context, rec identityRecord) (secretRecord, error) {
	if rec.Secrets != nil {
		return *rec.Secrets, nil
	}
	legacy, _, err := kvGet[secretRecord](ctx, e, secretVersionsKey(rec.Name))
	if errors.Is(err, engine.ErrNotFound) {
		err = nil
	}
	return legacy, err
}

// clone returns a copy of r that shares no slice with it.
func (r secretRecord) clone() secretRecord {
	return secretRecord{Versions: slices.Clone(r.Versions), Destroy: slices.Clone(r.Destroy)}
}

func (r *secretRecord) public() []engine.SecretVersion {
	out := make([]engine.SecretVersion, 0, len(r.Versions))
	for _, v := range r.Versions {
		out = append(out, v.SecretVersion)
	}
	return out
}

// apply sets the versions to those of t, each keeping its secret-id bookkeeping, and queues
// the versions t removes for the reconcile step to destroy.
func (r *secretRecord) apply(t policy.Transition) {
	old := make(map[int64]versionRecord, len(r.Versions))
	for _, v := range r.Versions {
		old[v.Version] = v
	}
	for _, n := range t.Removed() {
		if v, ok := old[n]; ok {
			r.Destroy = append(r.Destroy, v)
		}
	}
	r.Versions = make([]versionRecord, 0, len(t.Versions))
	for _, v := range t.Versions {
		rv := old[v.Version]
		rv.SecretVersion = v
		r.Versions = append(r.Versions, rv)
	}
}

// activeRecord reads the record of an identity that must exist (ErrNotFound) and be active
// (ErrRetired).
func (e *Engine) activeRecord(ctx context.Context, name string) (identityRecord, error) {
	rec, _, err := e.readRecord(ctx, name)
	if err == nil && rec.Retired() {
		err = fmt.Errorf("identity %q: %w", name, engine.ErrRetired)
	}
	return rec, err
}

// changeSecrets applies change to the identity's secret-version record and writes the identity
// record with it, with check-and-set, reading again and re-running change when another writer
// got there first. change must be a pure function of the record: the Vault calls that follow
// from the record belong in reconcileSecrets, which runs after it, outside this loop. A record
// still at secret-versions/<identity> is moved into the identity record by the write, and the
// old key is deleted after it (left behind by an interruption, it is never read again). It
// returns the record as written (or as read, when change wrote nothing).
func (e *Engine) changeSecrets(ctx context.Context, identity string, change func(*secretRecord) (bool, error)) (secretRecord, error) {
	rec, version, err := e.readRecord(ctx, identity)
	if err != nil {
		return secretRecord{}, err
	}
	var legacy secretRecord
	legacyFound := false
	if rec.Secrets == nil {
		var err error
		legacy, _, err = kvGet[secretRecord](ctx, e, secretVersionsKey(identity))
		if legacyFound = err == nil; err != nil && !errors.Is(err, engine.ErrNotFound) {
			return secretRecord{}, err
		}
	}
	var out secretRecord
	moved := false
	_, err = e.updateRecord(ctx, rec, version, func(r *identityRecord) (bool, error) {
		if out = legacy.clone(); r.Secrets != nil {
			out = r.Secrets.clone()
		}
		write, err := change(&out)
		if err != nil || !write {
			return false, err
		}
		sort.Slice(out.Versions, func(i, j int) bool { return out.Versions[i].Version < out.Versions[j].Version })
		moved = r.Secrets == nil
		r.Secrets = &out
		return true, nil
	})
	if err == nil && moved && legacyFound {
		err = e.deleteLegacySecrets(ctx, identity)
	}
	return out, err
}

// transition applies the pure policy transition step to the identity's versions and writes
// the record (see changeSecrets). It returns the transition and the record as written; the
// caller audits the change and then reconciles Vault with the record.
func (e *Engine) transition(ctx context.Context, identity string, step func([]engine.SecretVersion) (policy.Transition, error)) (policy.Transition, secretRecord, error) {
	var t policy.Transition
	rec, err := e.changeSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		var err error
		if t, err = step(rec.public()); err != nil || t.Unchanged {
			return false, engine.TransitionError(identity, err)
		}
		rec.apply(t)
		return true, nil
	})
	return t, rec, err
}

// reconcileSecrets makes Vault hold what rec says, and records what it did: every version that
// authenticates gets a secret-id whose term is its ExpiresAt (first, so that a working version
// is never missing while others stop), every other version loses its secret-id, and the
// versions queued in rec.Destroy lose their secret-id and KV value. Every call is idempotent
// and follows from the record alone, so the step can be re-run after a failure or a crash by
// any later change of the identity's secret (or by the drift repair). It stops at the first
// failing call, records the progress made and returns the record written with the error.
func (e *Engine) reconcileSecrets(ctx context.Context, identity string, rec secretRecord, values map[int64]string) (secretRecord, error) {
	now := e.clock.Now()
	synced := map[int64]versionRecord{}
	destroyed := map[int64]bool{}
	err := func() error {
		for _, issue := range []bool{true, false} {
			for _, v := range rec.Versions {
				want := v.wantsSecretID(now)
				if want != issue || (want && v.SecretIDAccessor != "" && v.SecretIDExpiresAt.Equal(v.ExpiresAt)) ||
					(!want && v.SecretIDAccessor == "") {
					continue
				}
				if err := e.syncSecretID(ctx, identity, &v, values[v.Version], now); err != nil {
					return fmt.Errorf("version %d: %w", v.Version, err)
				}
				synced[v.Version] = v
			}
		}
		for _, v := range rec.Destroy {
			if err := e.dropSecretID(ctx, identity, &v); err != nil {
				return fmt.Errorf("destroying version %d: %w", v.Version, err)
			}
			if err := e.destroyValue(ctx, identity, v.Version); err != nil {
				return fmt.Errorf("destroying version %d: %w", v.Version, err)
			}
			if v.Login != "" {
				if err := e.unindexLoginSecret(ctx, v.Fingerprint); err != nil {
					return fmt.Errorf("destroying version %d: %w", v.Version, err)
				}
			}
			destroyed[v.Version] = true
		}
		return nil
	}()
	if len(synced) == 0 && len(destroyed) == 0 {
		return rec, err
	}
	rec, werr := e.changeSecrets(ctx, identity, func(r *secretRecord) (bool, error) {
		r.Destroy = slices.DeleteFunc(r.Destroy, func(v versionRecord) bool { return destroyed[v.Version] })
		for i := range r.Versions {
			if s, ok := synced[r.Versions[i].Version]; ok {
				r.Versions[i].SecretIDAccessor, r.Versions[i].SecretIDExpiresAt = s.SecretIDAccessor, s.SecretIDExpiresAt
			}
		}
		return true, nil
	})
	if err == nil {
		err = werr
	}
	return rec, err
}

// secretValue reads the value of one version from KV; a destroyed version is ErrNotFound.
func (e *Engine) secretValue(ctx context.Context, identity string, version int64) (string, error) {
	data, _, err := kvGetVersion[struct {
		Value string `json:"value"`
	}](ctx, e, secretKey(identity), version)
	if err == nil && data.Value == "" {
		err = fmt.Errorf("%s: %w", e.dataPath(secretKey(identity)), engine.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("version %d of identity %q's secret: %w", version, identity, err)
	}
	return data.Value, nil
}

// destroyValue destroys one version of the secret in KV for good.
func (e *Engine) destroyValue(ctx context.Context, identity string, version int64) error {
	return e.kvDestroy(ctx, secretKey(identity), version)
}

// StageSecret mints a new version of an active, persistent identity's secret: a new KV
// version of its value and a secret-id of its role without TTL, so that the staged secret can
// be verified by logging in. Previous versions past their overlap are retained on the way.
func (e *Engine) StageSecret(ctx context.Context, identity string, length int64) (engine.SecretVersion, string, error) {
	id, err := e.activeRecord(ctx, identity)
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	class, err := e.GetClass(ctx, id.Class)
	if err := engine.CheckStage(identity, class, err, length); err != nil {
		return engine.SecretVersion{}, "", err
	}
	var value, login string
	if id.Target != "" {
		login, value, err = e.stageLogin(ctx, id, length)
	} else {
		value, err = newSecret(identity, length)
	}
	if err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
	}
	if err := e.kvKeepVersions(ctx, secretKey(identity), maxKVVersions); err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
	}
	version, err := e.kvPut(ctx, secretKey(identity), map[string]string{"value": value}, anyVersion)
	if err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
	}
	fp := fingerprint(value)
	if login != "" {
		if err := e.indexLoginSecret(ctx, identity, fp); err != nil {
			return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
		}
	}
	var t policy.Transition
	rec, err := e.changeSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		if rec.find(version) >= 0 {
			return false, engine.VersionTaken(identity, version)
		}
		t = policy.Stage(rec.public(), engine.SecretVersion{Identity: identity, Version: version, Fingerprint: fp}, e.clock.Now())
		rec.apply(t)
		rec.Versions[rec.find(version)].Login = login
		return true, nil
	})
	if err == nil {
		_, err = e.reconcileSecrets(ctx, identity, rec, map[int64]string{version: value})
	}
	if err == nil && login != "" {
		err = e.putStagedLogin(ctx, id.Identity, login, value)
	}
	if err != nil {
		return engine.SecretVersion{}, "", e.undoStage(ctx, identity, version, value, fmt.Errorf("staging version %d of identity %q's secret: %w", version, identity, err))
	}
	staged := t.Versions[len(t.Versions)-1]
	err = e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretStaged, Identity: identity,
		Detail: engine.StagedDetail(version, fp, length)})
	return staged, value, err
}

// undoStage destroys the secret-id, the KV version and the entry of a version that could not
// be staged, and returns cause, noting a failed clean-up. It runs even when ctx is cancelled.
// The entry is removed only when it is this value's (its fingerprint): when the stage was
// refused because the record holds the version number already (engine.VersionTaken), the
// entry is another version's and stays.
func (e *Engine) undoStage(ctx context.Context, identity string, version int64, value string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := e.destroySecretIDValue(ctx, identity, value)
	if err == nil {
		err = e.destroyValue(ctx, identity, version)
	}
	if err == nil {
		err = e.unindexLoginSecret(ctx, fingerprint(value))
	}
	if err == nil {
		_, err = e.changeSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
			i := rec.find(version)
			if i < 0 || rec.Versions[i].Fingerprint != fingerprint(value) {
				return false, nil
			}
			rec.Versions = slices.Delete(rec.Versions, i, i+1)
			return true, nil
		})
	}
	if err != nil {
		return fmt.Errorf("%w (destroying the unrecorded version failed too: %v)", cause, err)
	}
	return cause
}

// PromoteSecret applies policy.Promote to the version record with check-and-set, audits it,
// then reconciles Vault with the record: the promoted version gets a secret-id whose term is
// p.ExpiresAt, the previous one a secret-id ending with its overlap, the retained ones none,
// and the discarded and destroyed versions lose their secret-id and KV value. Promoting the
// current version changes nothing, but still reconciles, which completes an interrupted
// promotion.
func (e *Engine) PromoteSecret(ctx context.Context, identity string, version int64, p engine.PromoteOptions) (engine.SecretVersion, error) {
	if _, err := e.activeRecord(ctx, identity); err != nil {
		return engine.SecretVersion{}, err
	}
	if err := engine.CheckLoginOverlap(ctx, e, identity, p.Overlap); err != nil {
		return engine.SecretVersion{}, err
	}
	t, rec, err := e.transition(ctx, identity, func(versions []engine.SecretVersion) (policy.Transition, error) {
		return policy.Promote(versions, version, p, e.clock.Now())
	})
	if err != nil {
		return engine.SecretVersion{}, err
	}
	promoted := t.Versions[slices.IndexFunc(t.Versions, func(v engine.SecretVersion) bool { return v.Version == version })]
	if !t.Unchanged {
		for _, d := range t.Discarded {
			if err := e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretDiscarded, Identity: identity, Detail: engine.DiscardDetail(d, version)}); err != nil {
				return promoted, err
			}
		}
		if err := e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretPromoted, Identity: identity, Detail: engine.PromotionDetail(version, t, p)}); err != nil {
			return promoted, err
		}
	}
	if rec, err = e.reconcileSecrets(ctx, identity, rec, nil); err == nil {
		err = e.settleLogins(ctx, identity, rec, "")
	}
	if err != nil {
		return promoted, fmt.Errorf("version %d of identity %q's secret is current, but Vault is not in line with it yet (the next change of the secret completes it): %w", version, identity, err)
	}
	return promoted, nil
}

// DiscardSecret destroys a staged version: its secret-id, its KV version and its entry.
func (e *Engine) DiscardSecret(ctx context.Context, identity string, version int64) error {
	if _, err := e.readIdentity(ctx, identity); err != nil {
		return err
	}
	_, rec, err := e.transition(ctx, identity, func(versions []engine.SecretVersion) (policy.Transition, error) {
		return policy.Discard(versions, version)
	})
	if err != nil {
		return err
	}
	if err := e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretDiscarded, Identity: identity, Detail: engine.RollbackDetail(version)}); err != nil {
		return err
	}
	discarded := ""
	for _, v := range rec.Destroy {
		if v.Version == version {
			discarded = v.Login
		}
	}
	if rec, err = e.reconcileSecrets(ctx, identity, rec, nil); err != nil {
		return err
	}
	return e.settleLogins(ctx, identity, rec, discarded)
}

// CurrentSecret returns the current version of an active identity's secret and its value.
func (e *Engine) CurrentSecret(ctx context.Context, identity string) (engine.SecretVersion, string, error) {
	id, err := e.activeRecord(ctx, identity)
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	rec, err := e.secretsOf(ctx, id)
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	for _, v := range rec.Versions {
		if v.State == engine.SecretCurrent {
			value, err := e.secretValue(ctx, identity, v.Version)
			return v.SecretVersion, value, err
		}
	}
	return engine.SecretVersion{}, "", fmt.Errorf("identity %q has no current secret version: %w", identity, engine.ErrNotFound)
}

// ListSecretVersions lists the versions of an identity's secret that were not destroyed or
// discarded, oldest first, retired identities included; with an empty identity, those of every
// identity, by identity.
func (e *Engine) ListSecretVersions(ctx context.Context, identity string) ([]engine.SecretVersion, error) {
	if identity == "" {
		return e.allSecretVersions(ctx)
	}
	rec, _, err := e.readRecord(ctx, identity)
	if err != nil {
		return nil, err
	}
	secrets, err := e.secretsOf(ctx, rec)
	if err != nil {
		return nil, err
	}
	return secrets.public(), nil
}

// allSecretVersions lists the secret versions of every identity, by identity: from the identity
// records, and for those written before versions moved into them, from secret-versions/ (one
// LIST, and one read per identity that has a record there).
func (e *Engine) allSecretVersions(ctx context.Context) ([]engine.SecretVersion, error) {
	recs, err := e.allRecords(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := e.kvList(ctx, secretVersionsFolder)
	if err != nil {
		return nil, err
	}
	var out []engine.SecretVersion
	for _, rec := range recs {
		if rec.Secrets == nil && !slices.Contains(keys, rec.Name) {
			continue
		}
		secrets, err := e.secretsOf(ctx, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, secrets.public()...)
	}
	return out, nil
}

// authenticateSecret returns the identity a rotated secret belongs to. Vault decides first:
// the engine logs in to AppRole with the role's role_id and the secret, and revokes the token
// at once. The engine then checks the identity and the version by its own clock.
func (e *Engine) authenticateSecret(ctx context.Context, secret string) (authGrant, error) {
	identity, ok := secretIdentity(secret)
	if !ok {
		return authGrant{}, engine.ErrSecretRefused
	}
	roleID, err := e.roleID(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) {
		return authGrant{}, engine.ErrSecretRefused // it names an identity without an AppRole role
	}
	if err != nil {
		return authGrant{}, err
	}
	anon, err := e.as("")
	if err != nil {
		return authGrant{}, err
	}
	// AppRole answers an unknown secret-id with 500 "invalid secret id" (Vault before 1.18),
	// which the client would retry as a server error: the login is tried once.
	anon.SetMaxRetries(0)
	loginPath := "auth/" + e.approle + "/login"
	ls, err := anon.Logical().WriteWithContext(ctx, loginPath, map[string]any{"role_id": roleID, "secret_id": secret})
	if err != nil || ls == nil || ls.Auth == nil {
		return authGrant{}, e.loginRefused(loginPath, err)
	}
	if err := e.revokeToken(context.WithoutCancel(ctx), ls.Auth.Accessor); err != nil {
		return authGrant{}, fmt.Errorf("revoking the token of a verification login as %q: %w", identity, err)
	}
	version, _ := strconv.ParseInt(ls.Auth.Metadata[secretVersionMeta], 10, 64)
	if ls.Auth.Metadata["role_name"] != identity || version == 0 {
		return authGrant{}, engine.ErrSecretRefused
	}
	id, _, err := e.readRecord(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && id.Retired()) {
		return authGrant{}, engine.IdentityGone(identity)
	}
	if err != nil {
		return authGrant{}, err
	}
	rec, err := e.secretsOf(ctx, id)
	if err != nil {
		return authGrant{}, err
	}
	// A version not recorded (discarded or destroyed), retained or expired by the engine's clock.
	if i := rec.find(version); i < 0 || rec.Versions[i].Fingerprint != fingerprint(secret) || !rec.Versions[i].Authenticates(e.clock.Now()) {
		return authGrant{}, engine.ErrSecretRefused
	}
	// The login's token carried the policies Vault grants the secret now; its bound CIDRs are
	// the identity's (the role's token_bound_cidrs, which drift checks).
	return authGrant{identity: identity, policies: slices.Concat(ls.Auth.Policies, ls.Auth.IdentityPolicies), cidrs: id.BoundCIDRs}, nil
}

// loginRefused maps the failure of a login with a caller's secret: Vault's refusal of the
// credentials is ErrDenied, whatever its status code; an unreachable or failing Vault is
// ErrUnavailable.
func (e *Engine) loginRefused(path string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode >= 500 {
		detail := strings.ToLower(strings.Join(re.Errors, "; "))
		for _, m := range []string{"invalid secret id", "invalid role_id", "invalid role id", "failed to validate"} {
			if strings.Contains(detail, m) {
				return engine.ErrSecretRefused
			}
		}
	}
	return refused(e.vaultErr("write", path, err))
}

// retireSecrets leaves an identity's secret with no working version: its secret-ids are
// destroyed already (cutOff), so every version is recorded retained, for audit, and the
// values are deleted from KV, with the login-secrets/ index entries of the versions that are
// logins' passwords: a retired identity's secret is never promoted again.
func (e *Engine) retireSecrets(ctx context.Context, identity string) (int, error) {
	now := e.clock.Now()
	var indexed []string // the fingerprints of the versions that are logins' passwords
	n := 0
	_, err := e.changeSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		indexed, n = indexed[:0], len(rec.Versions)
		for _, v := range slices.Concat(rec.Versions, rec.Destroy) {
			if v.Login != "" {
				indexed = append(indexed, v.Fingerprint)
			}
		}
		if len(rec.Versions) == 0 && len(rec.Destroy) == 0 {
			return false, nil
		}
		rec.apply(policy.Transition{Versions: policy.Retire(rec.public(), now)})
		rec.Destroy = nil // the values go with the key below, the secret-ids went with cutOff
		for i := range rec.Versions {
			rec.Versions[i].SecretIDAccessor, rec.Versions[i].SecretIDExpiresAt = "", time.Time{}
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("retiring the secret versions: %w", err)
	}
	if err := e.kvDelete(ctx, secretKey(identity)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return 0, fmt.Errorf("deleting the secret values: %w", err)
	}
	for _, fp := range indexed {
		if err := e.unindexLoginSecret(ctx, fp); err != nil {
			return 0, fmt.Errorf("deleting the index entry of a login's password: %w", err)
		}
	}
	return n, nil
}

// deleteLegacySecrets removes the secret-version record that records written before kept at
// secret-versions/<identity>; none there is fine.
func (e *Engine) deleteLegacySecrets(ctx context.Context, identity string) error {
	if err := e.kvDelete(ctx, secretVersionsKey(identity)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("deleting the secret versions at %s: %w", e.dataPath(secretVersionsKey(identity)), err)
	}
	return nil
}
