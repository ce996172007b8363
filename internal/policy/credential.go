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
