package policy

import (
	"fmt"
	"time"
)

// Grant is what a TTL policy allows one dynamic credential.
type Grant struct {
	TTL time.Duration
	// Lifetime is the hard expiry measured from issue, renewals included.
	Lifetime time.Duration
	// MaxRenewals is -1 when renewals are capped only by Lifetime.
	MaxRenewals int64
	// MaxUses is 0 when uses are not capped.
	MaxUses int64
}

// GrantCredential works out the terms of a credential requested with ttl (zero: the policy's
// TTL) under p. It refuses a TTL above the policy's.
func GrantCredential(p TTLPolicy, ttl time.Duration) (Grant, error) {
	if ttl == 0 {
		ttl = p.TTL
	}
	if ttl < 0 || ttl > p.TTL {
		return Grant{}, fmt.Errorf("requested ttl %s is above ttl_policy %s's ttl of %s", FormatDuration(ttl), p.Name, FormatDuration(p.TTL))
	}
	g := Grant{TTL: ttl, MaxRenewals: 0, MaxUses: p.MaxUses, Lifetime: ttl}
	if p.Renewable {
		g.MaxRenewals = -1
		if p.MaxRenewals != nil {
			g.MaxRenewals = *p.MaxRenewals
		}
		if life, bounded := p.Lifetime(); bounded {
			g.Lifetime = life
		} else {
			// Unbounded renewal is a policy violation caught at plan; an engine still never
			// issues an unbounded credential, so it falls back to one TTL.
			g.Lifetime = ttl
		}
	}
	if g.Lifetime < ttl {
		g.Lifetime = ttl
	}
	return g, nil
}

// Credential is an engine's record of a dynamic credential. It never holds the secret.
type Credential struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	IssuedAt time.Time `json:"issued_at"`
	// TTL is the credential's lifetime before renewal; each renewal extends it by TTL.
	TTL time.Duration `json:"ttl"`
	// ExpiresAt is when the credential stops working; zero means it never expires (engines
	// never issue such a credential: a record without expiry is drift, see Live).
	ExpiresAt     time.Time `json:"expires_at"`
	HardExpiresAt time.Time `json:"hard_expires_at"`
	RenewCount    int64     `json:"renew_count"`
	// RenewalsLeft is -1 when renewals are not capped by count.
	RenewalsLeft int64 `json:"renewals_left"`
	// UsesLeft is -1 when authentications are not capped.
	UsesLeft  int64     `json:"uses_left"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastUsedAt is when the credential last authenticated; zero when never (or unknown: see
	// the engine).
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	Requester  string    `json:"requester,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	// Scopes and BoundCIDRs are what the credential grants, and from where: its identity's
	// when it was issued.
	Scopes     []string `json:"scopes,omitempty"`
	BoundCIDRs []string `json:"bound_cidrs,omitempty"`

	// Target and Username name the login that is the credential on its identity's target.
	Target   string `json:"target,omitempty"`
	Username string `json:"username,omitempty"`
	// LeaseID is the Vault lease of a login that Vault's database secrets engine made, and
	// SecretHash the SHA-256 (hex) of its password, by which the engine checks possession on
	// renewal (Vault checks a token itself; it cannot check a database password).
	LeaseID    string `json:"lease_id,omitempty"`
	SecretHash string `json:"secret_hash,omitempty"`
}

// Live is the one definition of a live credential: not revoked and, when it has an expiry, not
// past it. A zero expiry means no expiry, as for secret versions (SecretVersion.Authenticates):
// such a record is live, so the drift report shows it (credential-no-expiry) and counts its
// trust debt instead of hiding a credential that may never end.
func (c Credential) Live(now time.Time) bool {
	return c.RevokedAt.IsZero() && (c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt))
}

// EndedGrace is how long past its hard expiry an unrevoked credential is still watched: its
// engine may find its term extended out of band (a Vault token renewed by hand) within it.
const EndedGrace = 24 * time.Hour

// Ended reports whether the credential can never work again, so that engines may move it out
// of the records that refresh and drift read into an archive that only the audit log reads:
// revoked, or more than EndedGrace past its hard expiry. No drift rule looks at an ended
// credential (they look at Live ones, and an engine reflects an out-of-band extension only
// within EndedGrace), so the findings are the same with or without the archive.
func (c Credential) Ended(now time.Time) bool {
	return !c.RevokedAt.IsZero() || (!c.HardExpiresAt.IsZero() && now.After(c.HardExpiresAt.Add(EndedGrace)))
}

// Issue is the credential id that a grant gives identity at now, requested by requester for
// purpose: expiry after the grant's TTL, hard expiry after its lifetime, renewals and uses as
// the grant caps them, and the identity's scopes and bound CIDRs, which it grants for its
// whole life.
func (g Grant) Issue(id string, identity Identity, requester, purpose string, now time.Time) Credential {
	c := Credential{ID: id, Identity: identity.Name, IssuedAt: now, TTL: g.TTL,
		ExpiresAt: now.Add(g.TTL), HardExpiresAt: now.Add(g.Lifetime), RenewalsLeft: g.MaxRenewals, UsesLeft: -1,
		Requester: requester, Purpose: purpose, Scopes: identity.Scopes, BoundCIDRs: identity.BoundCIDRs}
	if g.MaxUses > 0 {
		c.UsesLeft = g.MaxUses
	}
	return c
}

// Renew returns c renewed at now: its expiry moved to now+TTL, never past its hard expiry, one
// renewal counted and spent. It refuses a credential that is not live, has no renewals left or
// is at its hard expiry; engines refuse the renewal with that reason.
func Renew(c Credential, now time.Time) (Credential, error) {
	switch {
	case !c.Live(now):
		return c, fmt.Errorf("credential %q is expired or revoked", c.ID)
	case c.RenewalsLeft == 0:
		return c, fmt.Errorf("credential %q has no renewals left", c.ID)
	case !now.Before(c.HardExpiresAt) || !c.ExpiresAt.Before(c.HardExpiresAt):
		return c, fmt.Errorf("credential %q is at its hard expiry %s", c.ID, c.HardExpiresAt.Format(time.RFC3339))
	}
	c.ExpiresAt = now.Add(c.TTL)
	if c.ExpiresAt.After(c.HardExpiresAt) {
		c.ExpiresAt = c.HardExpiresAt
	}
	c.RenewCount++
	if c.RenewalsLeft > 0 {
		c.RenewalsLeft--
	}
	return c, nil
}

// Expired reports whether c reached its expiry by now without being revoked first: the
// credentials the audit log shows an "expired" event for, at c.ExpiresAt.
func (c Credential) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(now) && (c.RevokedAt.IsZero() || c.RevokedAt.After(c.ExpiresAt))
}
