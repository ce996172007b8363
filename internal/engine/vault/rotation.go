package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
//   - its versions' states: the JSON record secret-versions/<identity>, one entry per version
//     that is not destroyed (state, created/promoted/expires, fingerprint, and the accessor and
//     term of the version's AppRole secret-id), written with check-and-set.
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
//
// The secret format is "nhis.<identity>.<base64url, unpadded, of length random bytes>":
// identity names hold no characters outside [A-Za-z0-9._-] and base64url holds no '.', so the
// text after the last '.' is the random part and the identity (whose role to log in to) is
// what lies between the prefix and it. Vault tokens never start with "nhis.".

const (
	kindRotationSchedule = engine.KindRotationSchedule

	// secretPrefix starts every rotated secret.
	secretPrefix = "nhis."

	// minSecretLength and maxSecretLength bound the entropy of a secret, in bytes.
	minSecretLength = 16
	maxSecretLength = 128

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
}

// secretRecord is the record secret-versions/<identity>, versions in ascending order.
type secretRecord struct {
	Versions []versionRecord `json:"versions"`
}

func (r *secretRecord) find(version int64) int {
	for i, v := range r.Versions {
		if v.Version == version {
			return i
		}
	}
	return -1
}

func (r *secretRecord) remove(version int64) {
	if i := r.find(version); i >= 0 {
		r.Versions = append(r.Versions[:i], r.Versions[i+1:]...)
	}
}

func (r *secretRecord) public() []engine.SecretVersion {
	out := make([]engine.SecretVersion, 0, len(r.Versions))
	for _, v := range r.Versions {
		out = append(out, v.SecretVersion)
	}
	return out
}

// fingerprint is the first 16 hex digits of the SHA-256 of a secret: equal for equal values,
// and with at least 128 bits of entropy in every secret it reveals nothing of the value.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// newSecret draws length random bytes and formats them as a secret of identity.
func newSecret(identity string, length int64) (string, error) {
	b := make([]byte, length)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %v", err)
	}
	return secretPrefix + identity + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// secretIdentity returns the identity a rotated secret names, or false when secret is not in
// the engine's format.
func secretIdentity(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", false
	}
	identity, random := rest[:i], rest[i+1:]
	if checkName(kindIdentity, identity) != nil || random == "" {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(random); err != nil {
		return "", false
	}
	return identity, true
}

// PutRotationSchedule creates or replaces the rotation schedule of an identity.
func (e *Engine) PutRotationSchedule(ctx context.Context, s policy.RotationSchedule) error {
	if err := checkName(kindRotationSchedule+": identity", s.Identity); err != nil {
		return err
	}
	if s.Interval > 0 && s.Cron != "" {
		return fmt.Errorf("%s of %q sets both interval and cron; set exactly one: %w", kindRotationSchedule, s.Identity, engine.ErrInvalid)
	}
	if _, err := s.NextRotation(e.clock.Now()); err != nil {
		return fmt.Errorf("%s: %v: %w", kindRotationSchedule, err, engine.ErrInvalid)
	}
	if _, err := e.kvPut(ctx, schedulesFolder+s.Identity, s, anyVersion); err != nil {
		return fmt.Errorf("%s of %q: %w", kindRotationSchedule, s.Identity, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventGovernanceChange, Identity: s.Identity,
		Detail: "put " + kindRotationSchedule + " " + s.Identity})
}

// GetRotationSchedule reads the rotation schedule of an identity.
func (e *Engine) GetRotationSchedule(ctx context.Context, identity string) (policy.RotationSchedule, error) {
	return getGovernance[policy.RotationSchedule](ctx, e, kindRotationSchedule, schedulesFolder, identity)
}

// DeleteRotationSchedule removes the rotation schedule of an identity. The secret stays.
func (e *Engine) DeleteRotationSchedule(ctx context.Context, identity string) error {
	if err := checkName(kindRotationSchedule+": identity", identity); err != nil {
		return err
	}
	if err := e.kvDelete(ctx, schedulesFolder+identity); err != nil {
		return fmt.Errorf("%s of %q: %w", kindRotationSchedule, identity, err)
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventGovernanceChange, Identity: identity,
		Detail: "delete " + kindRotationSchedule + " " + identity})
}

// ListRotationSchedules lists every rotation schedule, by identity.
func (e *Engine) ListRotationSchedules(ctx context.Context) ([]policy.RotationSchedule, error) {
	return kvGetAll[policy.RotationSchedule](ctx, e, schedulesFolder)
}

// activeIdentity reads an identity that must exist (ErrNotFound) and be active (ErrRetired).
func (e *Engine) activeIdentity(ctx context.Context, name string) (policy.Identity, error) {
	id, err := e.readIdentity(ctx, name)
	if err != nil {
		return id, err
	}
	if id.Retired() {
		return id, fmt.Errorf("identity %q: %w", name, engine.ErrRetired)
	}
	return id, nil
}

// updateSecrets applies change to the identity's version record and writes it back with
// check-and-set when change asks for it, reading again when another writer got there first
// (change runs again then, so its Vault side effects must be idempotent). A missing record is
// an empty one.
func (e *Engine) updateSecrets(ctx context.Context, identity string, change func(*secretRecord) (bool, error)) error {
	key := secretVersionsKey(identity)
	for attempt := 1; ; attempt++ {
		rec, cas, err := kvGet[secretRecord](ctx, e, key)
		if errors.Is(err, engine.ErrNotFound) {
			rec, cas, err = secretRecord{}, newKey, nil
		}
		if err != nil {
			return err
		}
		write, err := change(&rec)
		if err != nil || !write {
			return err
		}
		sort.Slice(rec.Versions, func(i, j int) bool { return rec.Versions[i].Version < rec.Versions[j].Version })
		_, err = e.kvPut(ctx, key, rec, cas)
		if err == nil || !errors.Is(err, engine.ErrConflict) || attempt == casAttempts {
			return err
		}
	}
}

// secretValue reads the value of one version from KV; a destroyed version is ErrNotFound.
func (e *Engine) secretValue(ctx context.Context, identity string, version int64) (string, error) {
	path := e.dataPath(secretKey(identity))
	s, err := e.client.Logical().ReadWithDataWithContext(ctx, path, map[string][]string{"version": {strconv.FormatInt(version, 10)}})
	if err != nil {
		return "", e.vaultErr("read", path, err)
	}
	var data map[string]any
	if s != nil {
		data, _ = s.Data["data"].(map[string]any)
	}
	value, _ := data["value"].(string)
	if value == "" {
		return "", fmt.Errorf("version %d of identity %q's secret (%s): %w", version, identity, path, engine.ErrNotFound)
	}
	return value, nil
}

// destroyValue destroys one version of the secret in KV for good.
func (e *Engine) destroyValue(ctx context.Context, identity string, version int64) error {
	_, err := e.write(ctx, e.mount+"/destroy/"+secretKey(identity), map[string]any{"versions": []int64{version}})
	return err
}

// issueSecretID makes v's value a secret-id of the identity's role, with v.ExpiresAt as its
// term. A secret-id of the same value (an earlier term, or one left by an interrupted write)
// is destroyed first: Vault refuses to register a value twice, and destroying by value is a
// no-op when there is none.
func (e *Engine) issueSecretID(ctx context.Context, identity string, v *versionRecord, value string, now time.Time) error {
	role := e.rolePath(identity)
	if _, err := e.write(ctx, role+"/secret-id/destroy", map[string]any{"secret_id": value}); err != nil {
		return err
	}
	var ttl int64
	if !v.ExpiresAt.IsZero() {
		ttl = max(seconds(v.ExpiresAt.Sub(now)), 1)
	}
	meta, err := json.Marshal(map[string]string{secretVersionMeta: strconv.FormatInt(v.Version, 10)})
	if err != nil {
		return err
	}
	s, err := e.write(ctx, role+"/custom-secret-id", map[string]any{"secret_id": value, "metadata": string(meta), "ttl": ttl, "num_uses": 0})
	if err != nil {
		return err
	}
	accessor := ""
	if s != nil {
		accessor, _ = s.Data["secret_id_accessor"].(string)
	}
	if accessor == "" {
		return fmt.Errorf("%s/custom-secret-id: Vault returned no secret_id_accessor", role)
	}
	v.SecretIDAccessor, v.SecretIDExpiresAt = accessor, v.ExpiresAt
	return nil
}

// dropSecretID destroys v's secret-id, if it still has one. Vault answers the destruction (and,
// depending on the version, the lookup) of an unknown accessor with an error 500, which the
// client retries, so the role's accessors are listed first: one missing is gone already.
func (e *Engine) dropSecretID(ctx context.Context, identity string, v *versionRecord) error {
	if v.SecretIDAccessor == "" {
		return nil
	}
	role := e.rolePath(identity)
	live, err := e.list(ctx, role+"/secret-id")
	if err != nil {
		return err
	}
	if slices.Contains(live, v.SecretIDAccessor) {
		if _, err := e.write(ctx, role+"/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": v.SecretIDAccessor}); err != nil {
			return err
		}
	}
	v.SecretIDAccessor, v.SecretIDExpiresAt = "", time.Time{}
	return nil
}

// syncSecretID brings v's secret-id in line with its state at now: none unless the version
// authenticates, else one whose term is v.ExpiresAt.
func (e *Engine) syncSecretID(ctx context.Context, identity string, v *versionRecord, now time.Time) error {
	if !v.Authenticates(now) {
		return e.dropSecretID(ctx, identity, v)
	}
	if v.SecretIDAccessor != "" && v.SecretIDExpiresAt.Equal(v.ExpiresAt) {
		return nil
	}
	value, err := e.secretValue(ctx, identity, v.Version)
	if err != nil {
		return err
	}
	return e.issueSecretID(ctx, identity, v, value, now)
}

// destroyVersion destroys a version for good: its secret-id, its value and its entry.
func (e *Engine) destroyVersion(ctx context.Context, identity string, rec *secretRecord, v *versionRecord) error {
	if err := e.dropSecretID(ctx, identity, v); err != nil {
		return err
	}
	if err := e.destroyValue(ctx, identity, v.Version); err != nil {
		return err
	}
	rec.remove(v.Version)
	return nil
}

// sweep retains the previous versions whose overlap has ended and syncs every version's
// secret-id with its state.
func (e *Engine) sweep(ctx context.Context, identity string, rec *secretRecord, now time.Time) error {
	for i := range rec.Versions {
		v := &rec.Versions[i]
		if v.State == engine.SecretPrevious && !v.Authenticates(now) {
			v.State = engine.SecretRetained
		}
		if err := e.syncSecretID(ctx, identity, v, now); err != nil {
			return fmt.Errorf("version %d: %w", v.Version, err)
		}
	}
	return nil
}

// checkSecretLength refuses a length outside [minSecretLength, maxSecretLength].
func checkSecretLength(length int64) error {
	if length < minSecretLength || length > maxSecretLength {
		return fmt.Errorf("secret length %d bytes is outside %d to %d: %w", length, minSecretLength, maxSecretLength, engine.ErrInvalid)
	}
	return nil
}

// StageSecret mints a new version of an active, persistent identity's secret: a new KV
// version of its value and a secret-id of its role without TTL, so that the staged secret can
// be verified by logging in. Previous versions past their overlap are retained on the way.
func (e *Engine) StageSecret(ctx context.Context, identity string, length int64) (engine.SecretVersion, string, error) {
	id, err := e.activeIdentity(ctx, identity)
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	class, err := e.GetClass(ctx, id.Class)
	if errors.Is(err, engine.ErrNotFound) {
		return engine.SecretVersion{}, "", fmt.Errorf("identity %q: its class %q does not exist in the engine, so it is not known to be persistent: %w", identity, id.Class, engine.ErrInvalid)
	}
	if err != nil {
		return engine.SecretVersion{}, "", err
	}
	if class.Kind != policy.KindPersistent {
		return engine.SecretVersion{}, "", fmt.Errorf("identity %q is of the %s class %q: only persistent identities have a rotated secret (ephemeral ones use dynamic credentials): %w",
			identity, class.Kind, class.Name, engine.ErrInvalid)
	}
	if err := checkSecretLength(length); err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("identity %q: %w", identity, err)
	}
	value, err := newSecret(identity, length)
	if err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
	}
	if _, err := e.write(ctx, e.metadataPath(secretKey(identity)), map[string]any{"max_versions": maxKVVersions}); err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
	}
	version, err := e.kvPut(ctx, secretKey(identity), map[string]string{"value": value}, anyVersion)
	if err != nil {
		return engine.SecretVersion{}, "", fmt.Errorf("staging a secret for identity %q: %w", identity, err)
	}
	now := e.clock.Now()
	staged := versionRecord{SecretVersion: engine.SecretVersion{Identity: identity, Version: version, State: engine.SecretStaged,
		CreatedAt: now, Fingerprint: fingerprint(value)}}
	if err := e.issueSecretID(ctx, identity, &staged, value, now); err != nil {
		return engine.SecretVersion{}, "", e.undoStage(ctx, identity, staged, value, fmt.Errorf("staging version %d of identity %q's secret: %w", version, identity, err))
	}
	err = e.updateSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		if rec.find(version) >= 0 {
			return false, fmt.Errorf("version %d of identity %q's secret is recorded already: %w", version, identity, engine.ErrConflict)
		}
		if err := e.sweep(ctx, identity, rec, now); err != nil {
			return false, err
		}
		rec.Versions = append(rec.Versions, staged)
		return true, nil
	})
	if err != nil {
		return engine.SecretVersion{}, "", e.undoStage(ctx, identity, staged, value, fmt.Errorf("staging version %d of identity %q's secret: %w", version, identity, err))
	}
	err = e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretStaged, Identity: identity,
		Detail: fmt.Sprintf("version %d (fingerprint %s, %d bytes)", version, staged.Fingerprint, length)})
	return staged.SecretVersion, value, err
}

// undoStage destroys the secret-id and the KV version of a version that could not be
// recorded, and returns cause, noting a failed clean-up. It runs even when ctx is cancelled.
func (e *Engine) undoStage(ctx context.Context, identity string, v versionRecord, value string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := e.write(ctx, e.rolePath(identity)+"/secret-id/destroy", map[string]any{"secret_id": value})
	if err == nil {
		err = e.destroyValue(ctx, identity, v.Version)
	}
	if err != nil {
		return fmt.Errorf("%w (destroying the unrecorded version failed too: %v)", cause, err)
	}
	return cause
}

// PromoteSecret makes a staged, previous or retained version current, with a secret-id whose
// term is p.ExpiresAt. The version current until then becomes previous until now+Overlap (or
// its own earlier limit), its secret-id re-issued with that term, or retained at once when that
// is not in the future; an older previous version becomes retained (there is one previous
// version at a time). Leftover staged versions are discarded. Promoting the current version
// changes nothing. With Keep, the current and previous versions count first and the newest
// retained versions fill the remaining slots; the others are destroyed.
func (e *Engine) PromoteSecret(ctx context.Context, identity string, version int64, p engine.PromoteOptions) (engine.SecretVersion, error) {
	if _, err := e.activeIdentity(ctx, identity); err != nil {
		return engine.SecretVersion{}, err
	}
	now := e.clock.Now()
	switch {
	case p.Overlap < 0 || p.Keep < 0:
		return engine.SecretVersion{}, fmt.Errorf("promoting version %d of identity %q's secret: negative overlap or keep: %w", version, identity, engine.ErrInvalid)
	case !p.ExpiresAt.IsZero() && !p.ExpiresAt.After(now):
		return engine.SecretVersion{}, fmt.Errorf("promoting version %d of identity %q's secret: its hard limit %s is not in the future: %w",
			version, identity, p.ExpiresAt.Format(time.RFC3339), engine.ErrInvalid)
	}
	var (
		promoted  versionRecord
		unchanged bool
		previous  *versionRecord
		discarded []int64
		destroyed []int64
	)
	err := e.updateSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		promoted, unchanged, previous, discarded, destroyed = versionRecord{}, false, nil, nil, nil
		i := rec.find(version)
		if i < 0 {
			return false, fmt.Errorf("version %d of identity %q's secret does not exist or was destroyed: %w", version, identity, engine.ErrNotFound)
		}
		if rec.Versions[i].State == engine.SecretCurrent {
			promoted, unchanged = rec.Versions[i], true
			return false, nil
		}
		// The new current version first: nothing else changes unless it works.
		target := &rec.Versions[i]
		target.State, target.PromotedAt, target.ExpiresAt = engine.SecretCurrent, now, p.ExpiresAt
		if err := e.syncSecretID(ctx, identity, target, now); err != nil {
			return false, fmt.Errorf("version %d: %w", version, err)
		}
		for j := range rec.Versions {
			v := &rec.Versions[j]
			switch {
			case j == i:
				continue
			case v.State == engine.SecretCurrent:
				v.State = engine.SecretPrevious
				if end := now.Add(p.Overlap); v.ExpiresAt.IsZero() || end.Before(v.ExpiresAt) {
					v.ExpiresAt = end
				}
				if !v.ExpiresAt.After(now) {
					v.State = engine.SecretRetained
				} else {
					previous = v
				}
			case v.State == engine.SecretPrevious:
				v.State = engine.SecretRetained
			}
			if err := e.syncSecretID(ctx, identity, v, now); err != nil {
				return false, fmt.Errorf("version %d: %w", v.Version, err)
			}
		}
		if previous != nil {
			prev := *previous
			previous = &prev
		}
		for _, v := range slices.Clone(rec.Versions) {
			if v.State == engine.SecretStaged && v.Version != version {
				if err := e.destroyVersion(ctx, identity, rec, &v); err != nil {
					return false, fmt.Errorf("discarding version %d, left staged: %w", v.Version, err)
				}
				discarded = append(discarded, v.Version)
			}
		}
		var err error
		destroyed, err = e.keepVersions(ctx, identity, rec, p.Keep)
		promoted = rec.Versions[rec.find(version)]
		return true, err
	})
	if err != nil || unchanged {
		return promoted.SecretVersion, err
	}
	for _, d := range discarded {
		if err := e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretDiscarded, Identity: identity,
			Detail: fmt.Sprintf("version %d: left staged when version %d was promoted", d, version)}); err != nil {
			return promoted.SecretVersion, err
		}
	}
	detail := fmt.Sprintf("version %d is current", version)
	if p.Reason != "" {
		detail += " (" + p.Reason + ")"
	}
	if previous != nil {
		detail += fmt.Sprintf("; version %d stays valid until %s", previous.Version, previous.ExpiresAt.Format(time.RFC3339))
	}
	if !p.ExpiresAt.IsZero() {
		detail += "; hard limit " + p.ExpiresAt.Format(time.RFC3339)
	}
	if len(destroyed) > 0 {
		detail += fmt.Sprintf("; destroyed versions %v (keep %d)", destroyed, p.Keep)
	}
	return promoted.SecretVersion, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretPromoted, Identity: identity, Detail: detail})
}

// keepVersions destroys the retained versions beyond the newest keep, counting the current
// and previous versions first (they are never destroyed). keep zero keeps all. It returns the
// destroyed versions.
func (e *Engine) keepVersions(ctx context.Context, identity string, rec *secretRecord, keep int64) ([]int64, error) {
	if keep <= 0 {
		return nil, nil
	}
	var kept int64
	var retained []versionRecord
	for _, v := range rec.Versions {
		switch v.State {
		case engine.SecretCurrent, engine.SecretPrevious:
			kept++
		case engine.SecretRetained:
			retained = append(retained, v)
		}
	}
	var destroyed []int64
	for i := len(retained) - 1; i >= 0; i-- { // newest first
		if kept < keep {
			kept++
			continue
		}
		v := retained[i]
		if err := e.destroyVersion(ctx, identity, rec, &v); err != nil {
			return destroyed, fmt.Errorf("destroying version %d (keep %d): %w", v.Version, keep, err)
		}
		destroyed = append([]int64{v.Version}, destroyed...)
	}
	return destroyed, nil
}

// DiscardSecret destroys a staged version: its secret-id, its KV version and its entry.
func (e *Engine) DiscardSecret(ctx context.Context, identity string, version int64) error {
	if _, err := e.readIdentity(ctx, identity); err != nil {
		return err
	}
	err := e.updateSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		i := rec.find(version)
		if i < 0 {
			return false, fmt.Errorf("version %d of identity %q's secret does not exist or was destroyed: %w", version, identity, engine.ErrNotFound)
		}
		v := rec.Versions[i]
		if v.State != engine.SecretStaged {
			return false, fmt.Errorf("version %d of identity %q's secret is %s: only a staged version can be discarded: %w", version, identity, v.State, engine.ErrConflict)
		}
		return true, e.destroyVersion(ctx, identity, rec, &v)
	})
	if err != nil {
		return err
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventSecretDiscarded, Identity: identity, Detail: fmt.Sprintf("version %d", version)})
}

// CurrentSecret returns the current version of an active identity's secret and its value.
func (e *Engine) CurrentSecret(ctx context.Context, identity string) (engine.SecretVersion, string, error) {
	if _, err := e.activeIdentity(ctx, identity); err != nil {
		return engine.SecretVersion{}, "", err
	}
	rec, _, err := kvGet[secretRecord](ctx, e, secretVersionsKey(identity))
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return engine.SecretVersion{}, "", err
	}
	for _, v := range rec.Versions {
		if v.State == engine.SecretCurrent {
			value, err := e.secretValue(ctx, identity, v.Version)
			return v.SecretVersion, value, err
		}
	}
	return engine.SecretVersion{}, "", fmt.Errorf("identity %q has no current secret: %w", identity, engine.ErrNotFound)
}

// ListSecretVersions lists the versions of an identity's secret that were not destroyed or
// discarded, oldest first, retired identities included; with an empty identity, those of every
// identity, by identity.
func (e *Engine) ListSecretVersions(ctx context.Context, identity string) ([]engine.SecretVersion, error) {
	if identity == "" {
		recs, err := kvGetAll[secretRecord](ctx, e, secretVersionsFolder)
		if err != nil {
			return nil, err
		}
		var out []engine.SecretVersion
		for _, rec := range recs {
			out = append(out, rec.public()...)
		}
		return out, nil
	}
	if _, err := e.readIdentity(ctx, identity); err != nil {
		return nil, err
	}
	rec, _, err := kvGet[secretRecord](ctx, e, secretVersionsKey(identity))
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	return rec.public(), nil
}

// authenticateSecret returns the identity a rotated secret belongs to. Vault decides first:
// the engine logs in to AppRole with the role's role_id and the secret, and revokes the token
// at once. The engine then checks the identity and the version by its own clock.
func (e *Engine) authenticateSecret(ctx context.Context, secret string) (authGrant, error) {
	identity, ok := secretIdentity(secret)
	if !ok {
		return authGrant{}, fmt.Errorf("the secret is neither a Vault token nor a rotated secret of this engine: %w", engine.ErrDenied)
	}
	roleID, err := e.roleID(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) {
		return authGrant{}, fmt.Errorf("the secret names identity %q, which has no AppRole role: %w", identity, engine.ErrDenied)
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
		return authGrant{}, fmt.Errorf("the secret is not a rotated secret of identity %q: %w", identity, engine.ErrDenied)
	}
	id, err := e.readIdentity(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && id.Retired()) {
		return authGrant{}, fmt.Errorf("identity %q is retired or gone: %w", identity, engine.ErrDenied)
	}
	if err != nil {
		return authGrant{}, err
	}
	rec, _, err := kvGet[secretRecord](ctx, e, secretVersionsKey(identity))
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return authGrant{}, err
	}
	i := rec.find(version)
	if i < 0 || rec.Versions[i].Fingerprint != fingerprint(secret) {
		return authGrant{}, fmt.Errorf("version %d of identity %q's secret is not recorded: %w", version, identity, engine.ErrDenied)
	}
	if v := rec.Versions[i]; !v.Authenticates(e.clock.Now()) {
		detail := "retained"
		if v.State != engine.SecretRetained {
			detail = "expired at " + v.ExpiresAt.Format(time.RFC3339)
		}
		return authGrant{}, fmt.Errorf("version %d of identity %q's secret is %s: %w", version, identity, detail, engine.ErrDenied)
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
				return fmt.Errorf("the secret is not a live secret: Vault refused it (%s): %w", detail, engine.ErrDenied)
			}
		}
	}
	return refused(e.vaultErr("write", path, err))
}

// retireSecrets leaves an identity's secret with no working version: its secret-ids are
// destroyed already (cutOff), so every version is recorded retained, for audit, and the
// values are deleted from KV: a retired identity's secret is never promoted again.
func (e *Engine) retireSecrets(ctx context.Context, identity string) error {
	err := e.updateSecrets(ctx, identity, func(rec *secretRecord) (bool, error) {
		changed := false
		for i := range rec.Versions {
			v := &rec.Versions[i]
			if v.State != engine.SecretRetained || v.SecretIDAccessor != "" {
				v.State, v.SecretIDAccessor, v.SecretIDExpiresAt = engine.SecretRetained, "", time.Time{}
				changed = true
			}
		}
		return changed, nil
	})
	if err != nil {
		return fmt.Errorf("retiring the secret versions: %w", err)
	}
	if err := e.kvDelete(ctx, secretKey(identity)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("deleting the secret values: %w", err)
	}
	return nil
}

// deleteSecrets removes the record of an identity's secret versions.
func (e *Engine) deleteSecrets(ctx context.Context, identity string) error {
	if err := e.kvDelete(ctx, secretVersionsKey(identity)); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("deleting the secret versions: %w", err)
	}
	return nil
}
