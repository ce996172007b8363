package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// A dynamic credential is a Vault token. The engine mints a single-use, short-lived secret-id
// for the identity's role, whose metadata (requester, purpose) Vault copies into the token's,
// and logs in with it at once. The secret handed to the caller is the token, which the engine
// never stores; the credential ID is the token's accessor, which can look the token up and
// revoke it but not use it. The credential record, credentials/<identity>/<accessor> in KV,
// holds the terms the engine enforces against its own clock, on top of Vault's TTLs.

const kindCredential = "credential"

func credentialKey(identity, id string) string { return credentialsFolder + identity + "/" + id }

// tokenInfo is what a token lookup says about a credential.
type tokenInfo struct {
	accessor string
	identity string
}

// parseToken reads a token lookup answer. A token that did not come from a login on the
// provider's AppRole mount is no credential of this engine: ErrDenied.
func (e *Engine) parseToken(s *api.Secret) (tokenInfo, error) {
	var t tokenInfo
	path, _ := s.Data["path"].(string)
	t.accessor, _ = s.TokenAccessor()
	meta, _ := s.TokenMetadata()
	t.identity = meta["role_name"]
	if path != "auth/"+e.approle+"/login" || t.accessor == "" || checkName(kindIdentity, t.identity) != nil {
		return tokenInfo{}, fmt.Errorf("the token was not issued by this engine: %w", engine.ErrDenied)
	}
	return t, nil
}

// refused turns Vault's refusal of a caller's secret into ErrDenied. An unreachable Vault
// stays ErrUnavailable: that is no verdict on the secret.
func refused(err error) error {
	if errors.Is(err, engine.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("the secret is not a live credential: Vault refused it (unknown, expired, revoked or used up): %w", engine.ErrDenied)
}

// plausibleToken reports whether secret could be a Vault token: non-empty printable ASCII
// without spaces. Anything else is refused before it reaches an HTTP header.
func plausibleToken(secret string) bool {
	return secret != "" && !strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r > '~' })
}

// login mints a single-use secret-id for the identity's role and spends it on an AppRole
// login, returning the new token and its accessor.
func (e *Engine) login(ctx context.Context, identity string, req engine.CredentialRequest) (token, accessor string, err error) {
	roleID, err := e.roleID(ctx, identity)
	if err != nil {
		return "", "", err
	}
	meta := map[string]string{}
	for k, v := range map[string]string{"requester": req.Requester, "purpose": req.Purpose} {
		if v != "" {
			meta[k] = v
		}
	}
	secretID, secretIDAccessor, err := e.createSecretID(ctx, identity, "", meta, seconds(secretIDTTL), 1)
	if err != nil {
		return "", "", err
	}

	anon, err := e.as("")
	if err != nil {
		return "", "", err
	}
	loginPath := "auth/" + e.approle + "/login"
	ls, err := anon.Logical().WriteWithContext(ctx, loginPath, map[string]any{"role_id": roleID, "secret_id": secretID})
	if err = e.vaultErr("write", loginPath, err); err == nil && (ls == nil || ls.Auth == nil) {
		err = fmt.Errorf("%s: Vault returned no token", loginPath)
	}
	if err != nil {
		// Destroy the unspent secret-id rather than leave it to its TTL.
		_ = e.destroySecretID(context.WithoutCancel(ctx), identity, secretIDAccessor)
		return "", "", err
	}
	return ls.Auth.ClientToken, ls.Auth.Accessor, nil
}

// IssueCredential mints a token for an active identity within its TTL policy. Vault holds the
// token to the role's terms; a TTL shorter than the policy's is applied by renewing the new
// token with that TTL as increment, which Vault takes as the new TTL.
func (e *Engine) IssueCredential(ctx context.Context, req engine.CredentialRequest) (engine.Credential, string, error) {
	id, err := e.readIdentity(ctx, req.Identity)
	if err != nil {
		return engine.Credential{}, "", err
	}
	if id.Retired() {
		return engine.Credential{}, "", fmt.Errorf("identity %q: %w", id.Name, engine.ErrRetired)
	}
	if id.TTLPolicy == "" {
		return engine.Credential{}, "", fmt.Errorf("identity %q has no TTL policy, so it gets no dynamic credentials (persistent identities use a rotated secret): %w", id.Name, engine.ErrInvalid)
	}
	p, err := e.GetTTLPolicy(ctx, id.TTLPolicy)
	if err != nil {
		return engine.Credential{}, "", err
	}
	grant, err := policy.GrantCredential(p, req.TTL)
	if err != nil {
		return engine.Credential{}, "", fmt.Errorf("identity %q: %v: %w", id.Name, err, engine.ErrInvalid)
	}
	token, accessor, err := e.login(ctx, id.Name, req)
	if err != nil {
		return engine.Credential{}, "", fmt.Errorf("issuing a credential to identity %q: %w", id.Name, err)
	}
	// From here on a failure revokes the token, so that no unrecorded credential lives.
	fail := func(err error) (engine.Credential, string, error) {
		if rerr := e.revokeToken(context.WithoutCancel(ctx), accessor); rerr != nil {
			err = fmt.Errorf("%w (revoking the new token failed too: %v)", err, rerr)
		}
		return engine.Credential{}, "", fmt.Errorf("issuing a credential to identity %q: %w", id.Name, err)
	}
	if seconds(grant.TTL) < seconds(p.TTL) {
		if _, err := e.write(ctx, "auth/token/renew", map[string]any{"token": token, "increment": seconds(grant.TTL)}); err != nil {
			return fail(err)
		}
	}
	cred := grant.Issue(accessor, id, req.Requester, req.Purpose, e.clock.Now())
	if _, err := e.kvPut(ctx, credentialKey(id.Name, accessor), cred, newKey); err != nil {
		return fail(err)
	}
	err = e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIssued, Identity: id.Name, Credential: accessor,
		Requester: req.Requester, Purpose: req.Purpose, Detail: "expires " + cred.ExpiresAt.Format(time.RFC3339)})
	if err != nil {
		return fail(err)
	}
	return cred, token, nil
}

// RenewCredential extends a live credential by its TTL, within its renewal budget and hard
// expiry as the engine's clock tells them, and renews the token in Vault, which caps it at
// the role's explicit max TTL. secret must be the credential's own token.
func (e *Engine) RenewCredential(ctx context.Context, id, secret string) (engine.Credential, error) {
	if !plausibleToken(secret) {
		return engine.Credential{}, fmt.Errorf("credential %q: the secret is not a Vault token: %w", id, engine.ErrDenied)
	}
	s, err := e.lookup(ctx, "auth/token/lookup", map[string]any{"token": secret})
	if err != nil || s == nil {
		return engine.Credential{}, refused(err)
	}
	tok, err := e.parseToken(s)
	if err != nil {
		return engine.Credential{}, err
	}
	if tok.accessor != id {
		return engine.Credential{}, fmt.Errorf("credential %q: the secret does not belong to it: %w", id, engine.ErrDenied)
	}
	key := credentialKey(tok.identity, id)
	c, _, err := kvGet[engine.Credential](ctx, e, key)
	if errors.Is(err, engine.ErrNotFound) {
		return engine.Credential{}, fmt.Errorf("credential %q was not issued by this engine: %w", id, engine.ErrDenied)
	}
	if err != nil {
		return engine.Credential{}, err
	}
	now := e.clock.Now()
	if err := e.checkLive(ctx, c, now); err != nil {
		return engine.Credential{}, err
	}
	if _, err := policy.Renew(c, now); err != nil {
		return engine.Credential{}, engine.RenewalError(err)
	}
	if _, err := e.write(ctx, "auth/token/renew", map[string]any{"token": secret, "increment": seconds(c.TTL)}); err != nil {
		return engine.Credential{}, refused(err)
	}
	c, _, err = kvUpdate(ctx, e, key, func(c *engine.Credential) (bool, error) {
		renewed, err := policy.Renew(*c, now)
		if err != nil {
			return false, engine.RenewalError(err) // a concurrent renewal took the last one
		}
		*c = renewed
		return true, nil
	})
	if err != nil {
		return engine.Credential{}, err
	}
	return c, e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventRenewed, Identity: c.Identity, Credential: id,
		Requester: c.Requester, Purpose: c.Purpose, Detail: "expires " + c.ExpiresAt.Format(time.RFC3339)})
}

// checkLive returns ErrDenied for a credential that is revoked or, by the engine's clock,
// expired; an expired credential's token is revoked in Vault at once.
func (e *Engine) checkLive(ctx context.Context, c engine.Credential, now time.Time) error {
	if c.Live(now) {
		return nil
	}
	detail := "revoked"
	if c.RevokedAt.IsZero() {
		detail = "expired at " + c.ExpiresAt.Format(time.RFC3339)
	}
	if err := e.revoke(ctx, c.Identity, c.ID, detail); err != nil {
		return err
	}
	return fmt.Errorf("credential %q is %s: %w", c.ID, detail, engine.ErrDenied)
}

// RevokeCredential ends a credential at once. Revoking a revoked credential is not an error.
func (e *Engine) RevokeCredential(ctx context.Context, id string) error {
	if checkName(kindCredential, id) != nil {
		return fmt.Errorf("credential %q: %w", id, engine.ErrNotFound)
	}
	identity, err := e.credentialIdentity(ctx, id)
	if err != nil {
		return err
	}
	return e.revoke(ctx, identity, id, "")
}

// credentialIdentity finds which identity a credential belongs to: from its token while the
// token lives, else by looking through the identities' credential records.
func (e *Engine) credentialIdentity(ctx context.Context, id string) (string, error) {
	s, err := e.lookup(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": id})
	if errors.Is(err, engine.ErrUnavailable) {
		return "", err
	}
	if err == nil && s != nil {
		if tok, err := e.parseToken(s); err == nil {
			if _, _, err := kvGet[engine.Credential](ctx, e, credentialKey(tok.identity, id)); err == nil {
				return tok.identity, nil
			}
		}
	}
	folders, err := e.kvList(ctx, credentialsFolder)
	if err != nil {
		return "", err
	}
	for _, k := range folders {
		identity, ok := subfolder(k)
		if !ok {
			continue
		}
		_, _, err := kvGet[engine.Credential](ctx, e, credentialKey(identity, id))
		if err == nil {
			return identity, nil
		}
		if !errors.Is(err, engine.ErrNotFound) {
			return "", err
		}
	}
	return "", fmt.Errorf("credential %q: %w", id, engine.ErrNotFound)
}

// revokeToken revokes a token by accessor. A token Vault no longer knows (expired or revoked
// already) is fine.
func (e *Engine) revokeToken(ctx context.Context, accessor string) error {
	_, err := e.write(ctx, "auth/token/revoke-accessor", map[string]any{"accessor": accessor})
	if errors.Is(err, engine.ErrInvalid) {
		return nil // Vault answers 400 "invalid accessor" for a token it no longer has
	}
	return err
}

// revoke revokes the credential's token in Vault, then records and audits the revocation
// once: a credential already recorded revoked is left as it is.
func (e *Engine) revoke(ctx context.Context, identity, id, detail string) error {
	if err := e.revokeToken(ctx, id); err != nil {
		return fmt.Errorf("revoking credential %q: %w", id, err)
	}
	c, wrote, err := kvUpdate(ctx, e, credentialKey(identity, id), func(c *engine.Credential) (bool, error) {
		if !c.RevokedAt.IsZero() {
			return false, nil
		}
		c.RevokedAt = e.clock.Now()
		return true, nil
	})
	if err != nil || !wrote {
		return err
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventRevoked, Identity: identity, Credential: id,
		Requester: c.Requester, Purpose: c.Purpose, Detail: detail})
}

// revokeAll revokes every unrevoked credential of an identity.
func (e *Engine) revokeAll(ctx context.Context, identity string) error {
	creds, err := e.credentialRecords(ctx, identity)
	if err != nil {
		return err
	}
	for _, c := range creds {
		if c.RevokedAt.IsZero() {
			if err := e.revoke(ctx, identity, c.ID, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// Authenticate returns the identity a live token or rotated secret belongs to (see
// authenticate).
func (e *Engine) Authenticate(ctx context.Context, secret string) (string, error) {
	g, err := e.authenticate(ctx, secret)
	return g.identity, err
}

// Authorize authenticates the secret and checks that it grants the scope to the caller: a
// token with the policies Vault attached to it at login (its role's token_policies then, and
// its entity's policies) and its bound CIDRs; a rotated secret with the policies of a login
// with it now and its identity's bound CIDRs.
func (e *Engine) Authorize(ctx context.Context, req engine.AuthorizeRequest) (string, error) {
	g, err := e.authenticate(ctx, req.Secret)
	if err != nil {
		return "", err
	}
	if err := policy.CheckGrant(g.policies, g.cidrs, req.Scope, req.Caller); err != nil {
		return "", fmt.Errorf("identity %q: %v: %w", g.identity, err, engine.ErrDenied)
	}
	return g.identity, nil
}

// authGrant is what an authenticated secret is: its identity, the ACL policies its tokens carry
// and the networks they are bound to.
type authGrant struct {
	identity string
	policies []string
	cidrs    []string
}

// authenticate checks a secret. A rotated secret ("nhis." prefix) is checked by
// authenticateSecret. A token is looked up with the engine's token (the identity's tokens may
// not hold Vault's default policy, which lets a token look itself up), which Vault refuses once
// it is expired, revoked or used up; the engine then checks its record against its clock and
// spends one of its uses when they are capped.
func (e *Engine) authenticate(ctx context.Context, secret string) (authGrant, error) {
	if !plausibleToken(secret) {
		return authGrant{}, fmt.Errorf("the secret is not a Vault token: %w", engine.ErrDenied)
	}
	if strings.HasPrefix(secret, secretPrefix) {
		return e.authenticateSecret(ctx, secret)
	}
	s, err := e.write(ctx, "auth/token/lookup", map[string]any{"token": secret})
	if err != nil || s == nil {
		return authGrant{}, refused(err)
	}
	tok, err := e.parseToken(s)
	if err != nil {
		return authGrant{}, err
	}
	key := credentialKey(tok.identity, tok.accessor)
	c, _, err := kvGet[engine.Credential](ctx, e, key)
	if errors.Is(err, engine.ErrNotFound) {
		return authGrant{}, fmt.Errorf("the token was not issued by this engine: %w", engine.ErrDenied)
	}
	if err != nil {
		return authGrant{}, err
	}
	if id, err := e.readIdentity(ctx, tok.identity); err != nil || id.Retired() {
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return authGrant{}, err
		}
		if err := e.revoke(ctx, c.Identity, c.ID, "identity retired or deleted"); err != nil {
			return authGrant{}, err
		}
		return authGrant{}, fmt.Errorf("identity %q is retired or gone: %w", tok.identity, engine.ErrDenied)
	}
	if err := e.checkLive(ctx, c, e.clock.Now()); err != nil {
		return authGrant{}, err
	}
	if c.UsesLeft >= 0 {
		_, _, err := kvUpdate(ctx, e, key, func(c *engine.Credential) (bool, error) {
			if c.UsesLeft == 0 {
				return false, fmt.Errorf("credential %q has no uses left: %w", c.ID, engine.ErrDenied)
			}
			c.UsesLeft--
			return true, nil
		})
		if err != nil {
			return authGrant{}, err
		}
	}
	policies := slices.Concat(stringList(s.Data["policies"]), stringList(s.Data["identity_policies"]))
	return authGrant{identity: tok.identity, policies: policies, cidrs: stringList(s.Data["bound_cidrs"])}, nil
}

// ListCredentials lists the credentials of one identity, or of every identity when empty, each
// with the term Vault holds for its token when that is later than the record's (see
// reflectTerms).
func (e *Engine) ListCredentials(ctx context.Context, identity string) ([]engine.Credential, error) {
	creds, err := e.credentialRecords(ctx, identity)
	if err != nil {
		return nil, err
	}
	if err := e.reflectTokens(ctx, creds); err != nil {
		return nil, fmt.Errorf("listing credentials: looking their tokens up in Vault: %w", err)
	}
	return creds, nil
}

// credentialRecords reads the credential records of one identity, or of every identity when
// empty.
func (e *Engine) credentialRecords(ctx context.Context, identity string) ([]engine.Credential, error) {
	if identity != "" {
		if err := checkName(kindIdentity, identity); err != nil {
			return nil, err
		}
		return kvGetAll[engine.Credential](ctx, e, credentialsFolder+identity+"/")
	}
	keys, err := e.kvList(ctx, credentialsFolder)
	if err != nil {
		return nil, err
	}
	var out []engine.Credential
	for _, k := range keys {
		if name, ok := subfolder(k); ok {
			creds, err := kvGetAll[engine.Credential](ctx, e, credentialsFolder+name+"/")
			if err != nil {
				return nil, err
			}
			out = append(out, creds...)
		}
	}
	return out, nil
}
