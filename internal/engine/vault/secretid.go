package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// AppRole secret-ids, the one way in to an identity's role: a dynamic credential's login spends
// a single-use secret-id (credentials.go), every version of a rotated secret that authenticates
// is a custom secret-id whose value is the secret (rotation.go), retiring an identity destroys
// them all (identities.go) and the drift code compares them with the engine's records
// (drift.go). Every request on a role's secret-ids goes through this file.

// secretIDs lists the accessors of the secret-ids of the identity's role.
func (e *Engine) secretIDs(ctx context.Context, identity string) ([]string, error) {
	return e.list(ctx, e.rolePath(identity)+"/secret-id")
}

// createSecretID creates a secret-id of the identity's role: a random one, or with value when
// it is not empty (custom-secret-id). metadata is copied into the tokens logged in with it; ttl
// is in seconds (0: none) and uses caps its logins (0: none). It returns the secret-id and its
// accessor.
func (e *Engine) createSecretID(ctx context.Context, identity, value string, metadata map[string]string, ttl, uses int64) (string, string, error) {
	meta, err := json.Marshal(metadata)
	if err != nil {
		return "", "", err
	}
	path := e.rolePath(identity) + "/secret-id"
	body := map[string]any{"metadata": string(meta), "ttl": ttl, "num_uses": uses}
	if value != "" {
		path = e.rolePath(identity) + "/custom-secret-id"
		body["secret_id"] = value
	}
	s, err := e.write(ctx, path, body)
	if err != nil {
		return "", "", err
	}
	id, accessor := value, ""
	if s != nil && value == "" {
		id, _ = s.Data["secret_id"].(string)
	}
	if s != nil {
		id, _ = s.Data["secret_id"].(string)
		accessor, _ = s.Data["secret_id_accessor"].(string)
	}
	if id == "" || accessor == "" {
		return "", "", fmt.Errorf("%s: Vault returned no secret_id or secret_id_accessor", path)
	}
	return id, accessor, nil
}

// destroySecretID destroys the secret-id of the identity's role with accessor. Vault answers
// an unknown accessor with an error 500 (which the client retries): callers that may hold a
// stale accessor check secretIDs first.
func (e *Engine) destroySecretID(ctx context.Context, identity, accessor string) error {
	_, err := e.write(ctx, e.rolePath(identity)+"/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": accessor})
	return err
}

// destroySecretIDValue destroys the secret-id of the identity's role whose value is value; a
// no-op when there is none.
func (e *Engine) destroySecretIDValue(ctx context.Context, identity, value string) error {
	_, err := e.write(ctx, e.rolePath(identity)+"/secret-id/destroy", map[string]any{"secret_id": value})
	return err
}

// destroySecretIDs destroys every secret-id of the identity's role, so nothing can log in as it.
// It tries each one and reports every failure.
func (e *Engine) destroySecretIDs(ctx context.Context, identity string) error {
	accessors, err := e.secretIDs(ctx, identity)
	errs := []error{err}
	for _, a := range accessors {
		errs = append(errs, e.destroySecretID(ctx, identity, a))
	}
	return errors.Join(errs...)
}

// issueSecretID makes v's value a secret-id of the identity's role, with v.ExpiresAt as its
// term. A secret-id of the same value (an earlier term, or one left by an interrupted write)
// is destroyed first: Vault refuses to register a value twice, and destroying by value is a
// no-op when there is none.
func (e *Engine) issueSecretID(ctx context.Context, identity string, v *versionRecord, value string, now time.Time) error {
	if err := e.destroySecretIDValue(ctx, identity, value); err != nil {
		return err
	}
	var ttl int64
	if !v.ExpiresAt.IsZero() {
		ttl = max(seconds(v.ExpiresAt.Sub(now)), 1)
	}
	_, accessor, err := e.createSecretID(ctx, identity, value, map[string]string{secretVersionMeta: strconv.FormatInt(v.Version, 10)}, ttl, 0)
	if err != nil {
		return err
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
	live, err := e.secretIDs(ctx, identity)
	if err != nil {
		return err
	}
	if slices.Contains(live, v.SecretIDAccessor) {
		if err := e.destroySecretID(ctx, identity, v.SecretIDAccessor); err != nil {
			return err
		}
	}
	v.SecretIDAccessor, v.SecretIDExpiresAt = "", time.Time{}
	return nil
}

// syncSecretID brings v's secret-id in line with its state at now: none unless the version
// authenticates, else one whose term is v.ExpiresAt. value is the version's value when the
// caller knows it ("" reads it from KV).
func (e *Engine) syncSecretID(ctx context.Context, identity string, v *versionRecord, value string, now time.Time) error {
	if !v.Authenticates(now) {
		return e.dropSecretID(ctx, identity, v)
	}
	if v.SecretIDAccessor != "" && v.SecretIDExpiresAt.Equal(v.ExpiresAt) {
		return nil
	}
	if value == "" {
		var err error
		if value, err = e.secretValue(ctx, identity, v.Version); err != nil {
			return err
		}
	}
	return e.issueSecretID(ctx, identity, v, value, now)
}
