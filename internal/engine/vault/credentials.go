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
// revoke it but not use it. The credential record holds the terms the engine enforces against
// its own clock, on top of Vault's TTLs. While a credential is not ended
// (policy.Credential.Ended) its record sits in its identity's record (identityRecord.Live),
// written with check-and-set, so that a refresh reads every live credential of an identity
// with the identity, in one request. Once it ends (revoked; or long expired, which the next
// issue to the identity notices) it moves to the archive, credentials/<identity>/<accessor>,
// which ListCredentials and the audit log read and refresh and drift never do.

const kindCredential = "credential"

func credentialKey(identity, id string) string { return credentialsFolder + identity + "/" + id }

// archive writes ended credentials to the archive. A credential is archived before it leaves
// the live set, so that an interruption between the two leaves it in both, never in neither
// (ListCredentials shows the archived copy).
func (e *Engine) archive(ctx context.Context, creds []engine.Credential) error {
	for _, c := range creds {
		if _, err := e.kvPut(ctx, credentialKey(c.Identity, c.ID), c, anyVersion); err != nil {
			return fmt.Errorf("archiving credential %q: %w", c.ID, err)
		}
	}
	return nil
}

// liveCredential finds credential id in rec's live set.
func liveCredential(rec identityRecord, id string) (int, bool) {
	i := slices.IndexFunc(rec.Live, func(c engine.Credential) bool { return c.ID == id })
	return i, i >= 0
}

// dropEnded removes from rec's live set the credentials that ended by now and returns them.
func dropEnded(rec *identityRecord, now time.Time) []engine.Credential {
	var ended []engine.Credential
	rec.Live = slices.DeleteFunc(rec.Live, func(c engine.Credential) bool {
		if c.Ended(now) {
			ended = append(ended, c)
			return true
		}
		return false
	})
	return ended
}

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
func (e *Engine) login(ctx context.Context, rec identityRecord, req engine.CredentialRequest) (token, accessor string, err error) {
	identity, roleID := rec.Name, rec.RoleID
	if roleID == "" {
		if roleID, err = e.roleID(ctx, identity); err != nil {
			return "", "", err
		}
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
	rec, version, err := e.readRecord(ctx, req.Identity)
	if err != nil {
		return engine.Credential{}, "", err
	}
	id := rec.Identity
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
	if id.Target != "" {
		return e.issueOnTarget(ctx, rec, version, grant, req)
	}
	token, accessor, err := e.login(ctx, rec, req)
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
	if err := e.recordIssued(ctx, rec, version, cred); err != nil {
		return fail(err)
	}
	return cred, token, nil
}

// recordIssued adds cred, just minted in Vault, to its identity's live set (archiving the
// credentials that ended since the last issue first) and audits the issue.
func (e *Engine) recordIssued(ctx context.Context, rec identityRecord, version int64, cred engine.Credential) error {
	now := cred.IssuedAt
	if err := e.archive(ctx, dropEnded(&rec, now)); err != nil {
		return err
	}
	_, err := e.updateRecord(ctx, rec, version, func(rec *identityRecord) (bool, error) {
		if rec.Retired() {
			return false, fmt.Errorf("identity %q: %w", rec.Name, engine.ErrRetired)
		}
		dropEnded(rec, now) // archived above, or by the writer that got there first
		rec.Live = append(rec.Live, cred)
		return true, nil
	})
	if err != nil {
		return err
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventIssued, Identity: cred.Identity, Credential: cred.ID,
		Requester: cred.Requester, Purpose: cred.Purpose, Detail: "expires " + cred.ExpiresAt.Format(time.RFC3339)})
}

// RenewCredential extends a live credential by its TTL, within its renewal budget and hard
// expiry as the engine's clock tells them, and renews the token in Vault, which caps it at
// the role's explicit max TTL. secret must be the credential's own token.
func (e *Engine) RenewCredential(ctx context.Context, id, secret string) (engine.Credential, error) {
	if isLeaseCredential(id) {
		return e.renewOnTarget(ctx, id, secret)
	}
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
	rec, version, c, err := e.findCredential(ctx, tok.identity, id)
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
	return e.recordRenewal(ctx, rec, version, id, now)
}

// recordRenewal records the renewal at now of credential id, which Vault has just renewed, in
// its identity's live set, and audits it.
func (e *Engine) recordRenewal(ctx context.Context, rec identityRecord, version int64, id string, now time.Time) (engine.Credential, error) {
	rec, err := e.updateRecord(ctx, rec, version, func(rec *identityRecord) (bool, error) {
		i, ok := liveCredential(*rec, id)
		if !ok {
			return false, fmt.Errorf("credential %q was revoked meanwhile: %w", id, engine.ErrDenied)
		}
		renewed, err := policy.Renew(rec.Live[i], now)
		if err != nil {
			return false, engine.RenewalError(err) // a concurrent renewal took the last one
		}
		rec.Live[i] = renewed
		return true, nil
	})
	if err != nil {
		return engine.Credential{}, err
	}
	i, _ := liveCredential(rec, id)
	c := rec.Live[i]
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

var _ engine.IdentityRevoker = (*Engine)(nil)

// RevokeIdentityCredential is RevokeCredential without the token look-up that names the
// credential's identity. When the credential is not identity's, revoke has revoked its token
// (by accessor, whoever it belongs to) and finds no record: RevokeCredential then finds the
// identity from its records and records the revocation.
func (e *Engine) RevokeIdentityCredential(ctx context.Context, identity, id string) error {
	if checkName(kindCredential, id) != nil || checkName(kindIdentity, identity) != nil {
		return e.RevokeCredential(ctx, id)
	}
	err := e.revoke(ctx, identity, id, "")
	if errors.Is(err, engine.ErrNotFound) {
		return e.RevokeCredential(ctx, id)
	}
	return err
}

// credentialIdentity finds which identity a credential belongs to: from its token while the
// token lives (revoke then checks the identity's records), else by looking through the
// identities' live sets and then the archive.
func (e *Engine) credentialIdentity(ctx context.Context, id string) (string, error) {
	s, err := e.lookup(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": id})
	if errors.Is(err, engine.ErrUnavailable) {
		return "", err
	}
	if err == nil && s != nil {
		if tok, err := e.parseToken(s); err == nil {
			return tok.identity, nil
		}
	}
	recs, err := kvGetAll[identityRecord](ctx, e, identitiesFolder)
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if _, ok := liveCredential(rec, id); ok {
			return rec.Name, nil
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

// findCredential reads the record of identity and credential id: from the identity's live set
// (with the record and its version, for updateRecord), else from the archive. A credential in
// neither was not issued by this engine: ErrDenied.
func (e *Engine) findCredential(ctx context.Context, identity, id string) (identityRecord, int64, engine.Credential, error) {
	rec, version, err := e.readRecord(ctx, identity)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return rec, 0, engine.Credential{}, err
	}
	if i, ok := liveCredential(rec, id); ok {
		return rec, version, rec.Live[i], nil
	}
	c, _, err := kvGet[engine.Credential](ctx, e, credentialKey(identity, id))
	if errors.Is(err, engine.ErrNotFound) {
		err = fmt.Errorf("credential %q was not issued by this engine: %w", id, engine.ErrDenied)
	}
	return rec, version, c, err
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

// revoke revokes the credential's token in Vault, then records the revocation (the credential
// moves from its identity's live set to the archive) and audits it, once: a credential already
// recorded revoked is left as it is. A credential in neither place is ErrNotFound.
func (e *Engine) revoke(ctx context.Context, identity, id, detail string) error {
	if err := e.revokeMinted(ctx, identity, id); err != nil {
		return fmt.Errorf("revoking credential %q: %w", id, err)
	}
	rec, version, c, err := e.findCredential(ctx, identity, id)
	if errors.Is(err, engine.ErrDenied) {
		return fmt.Errorf("credential %q: %w", id, engine.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, live := liveCredential(rec, id); !live {
		return nil // archived: revoked, or ended, already
	}
	wasRevoked := !c.RevokedAt.IsZero()
	if !wasRevoked {
		c.RevokedAt = e.clock.Now()
	}
	if err := e.archive(ctx, []engine.Credential{c}); err != nil {
		return err
	}
	_, err = e.updateRecord(ctx, rec, version, func(rec *identityRecord) (bool, error) {
		i, ok := liveCredential(*rec, id)
		if ok {
			rec.Live = slices.Delete(rec.Live, i, i+1)
		}
		return ok, nil
	})
	if err != nil || wasRevoked {
		return err
	}
	return e.appendAudit(ctx, engine.AuditEvent{Type: engine.EventRevoked, Identity: identity, Credential: id,
		Requester: c.Requester, Purpose: c.Purpose, Detail: detail})
}

// revokeAll revokes every credential in the identity's live set. Archived ones are ended.
func (e *Engine) revokeAll(ctx context.Context, identity string) error {
	rec, _, err := e.readRecord(ctx, identity)
	if err != nil {
		return err
	}
	for _, c := range rec.Live {
		if err := e.revoke(ctx, identity, c.ID, ""); err != nil {
			return err
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
	rec, version, c, err := e.findCredential(ctx, tok.identity, tok.accessor)
	if errors.Is(err, engine.ErrDenied) {
		return authGrant{}, fmt.Errorf("the token was not issued by this engine: %w", engine.ErrDenied)
	}
	if err != nil {
		return authGrant{}, err
	}
	if version == 0 || rec.Retired() {
		if err := e.revoke(ctx, c.Identity, c.ID, "identity retired or deleted"); err != nil {
			return authGrant{}, err
		}
		return authGrant{}, fmt.Errorf("identity %q is retired or gone: %w", tok.identity, engine.ErrDenied)
	}
	if err := e.checkLive(ctx, c, e.clock.Now()); err != nil {
		return authGrant{}, err
	}
	if c.UsesLeft >= 0 {
		_, err := e.updateRecord(ctx, rec, version, func(rec *identityRecord) (bool, error) {
			i, ok := liveCredential(*rec, c.ID)
			if !ok {
				return false, fmt.Errorf("credential %q was revoked meanwhile: %w", c.ID, engine.ErrDenied)
			}
			if rec.Live[i].UsesLeft == 0 {
				return false, fmt.Errorf("credential %q has no uses left: %w", c.ID, engine.ErrDenied)
			}
			rec.Live[i].UsesLeft--
			return true, nil
		})
		if err != nil {
			return authGrant{}, err
		}
	}
	policies := slices.Concat(stringList(s.Data["policies"]), stringList(s.Data["identity_policies"]))
	return authGrant{identity: tok.identity, policies: policies, cidrs: stringList(s.Data["bound_cidrs"])}, nil
}

// ListCredentials lists the credentials of one identity, or of every identity when empty: the
// archive and the live sets, each live one with the term Vault holds for its token when that is
// later than the record's (see reflectTerms).
func (e *Engine) ListCredentials(ctx context.Context, identity string) ([]engine.Credential, error) {
	recs, err := e.identityRecords(ctx, identity)
	if err != nil {
		return nil, err
	}
	live, err := e.liveOf(ctx, recs, true)
	if err != nil {
		return nil, err
	}
	folders := []string{identity}
	if identity == "" {
		keys, err := e.kvList(ctx, credentialsFolder)
		if err != nil {
			return nil, err
		}
		folders = nil
		for _, k := range keys {
			if name, ok := subfolder(k); ok {
				folders = append(folders, name)
			}
		}
	}
	var out []engine.Credential
	archived := map[string]bool{}
	for _, name := range folders {
		creds, err := kvGetAll[engine.Credential](ctx, e, credentialsFolder+name+"/")
		if err != nil {
			return nil, err
		}
		for _, c := range creds {
			archived[c.ID] = true
		}
		out = append(out, creds...)
	}
	for _, c := range live {
		if !archived[c.ID] { // archived but not yet out of the live set: an interrupted move
			out = append(out, c)
		}
	}
	return out, nil
}

// LiveCredentials lists the credentials in the live sets of one identity, or of every identity
// when empty, that have not ended, each with the term Vault holds for its token when that is
// later than the record's: one read of the identity's record, plus one token look-up per
// credential, whatever the history.
func (e *Engine) LiveCredentials(ctx context.Context, identity string) ([]engine.Credential, error) {
	recs, err := e.identityRecords(ctx, identity)
	if err != nil {
		return nil, err
	}
	return e.liveOf(ctx, recs, false)
}

// identityRecords reads the record of one identity (none when it is gone), or of every identity
// when empty.
func (e *Engine) identityRecords(ctx context.Context, identity string) ([]identityRecord, error) {
	if identity == "" {
		return kvGetAll[identityRecord](ctx, e, identitiesFolder)
	}
	rec, _, err := e.readRecord(ctx, identity)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []identityRecord{rec}, nil
}

// liveOf returns the credentials in the live sets of recs that have not ended (all of them with
// ended: those that ended since the last issue to their identity wait there for it to archive
// them), reflecting their tokens' terms.
func (e *Engine) liveOf(ctx context.Context, recs []identityRecord, ended bool) ([]engine.Credential, error) {
	now := e.clock.Now()
	var creds []engine.Credential
	for _, rec := range recs {
		for _, c := range rec.Live {
			if ended || !c.Ended(now) {
				creds = append(creds, c)
			}
		}
	}
	if err := e.reflectTokens(ctx, creds); err != nil {
		return nil, fmt.Errorf("listing credentials: looking their tokens up in Vault: %w", err)
	}
	return creds, nil
}
