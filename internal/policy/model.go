// Package policy holds every rule of the provider. It is pure: declarations and observations
// go in, findings or new states come out. It imports neither Terraform nor any engine, so the
// same rules run at plan time, at refresh, in fleet-wide drift reports and inside both engines.
//
// The rules, by file:
//   - model.go, rules.go: declarations: classes, TTL policies, identities, names and exceptions
//     (CheckClass, CheckTTLPolicy, CheckIdentity, CheckName, ExceptionActive), and the reach of a
//     tightened class or policy over existing identities (Reach).
//   - rotation.go: rotation schedules: due and overdue times, cron, CheckRotationSchedule, the
//     expire_unrotated hard limit (RotationSchedule.UnrotatedLimit) and the verify-then-promote-
//     or-roll-back decision (RotationSchedule.VerifyStaged).
//   - credential.go: dynamic credentials: the grant of a TTL policy (GrantCredential,
//     Grant.Issue), renewal (Renew: count, hard expiry, extension by TTL), and the one definition
//     of a live credential (Credential.Live) and of an expired one (Credential.Expired).
//   - secret.go: versions of a rotated secret: Stage, Promote (current to previous with its
//     overlap, previous to retained, staged discarded, keep the newest N), Discard, Retire,
//     Sweep and SecretVersion.Authenticates. Engines apply the Transition they return.
//   - scope.go: access scopes: their syntax and patterns, bound CIDRs, the class's privilege
//     ceilings (CheckPrivilege) and what a credential grants to a caller (CheckGrant).
//   - blast.go: exposure window and blast radius (ExposureOf, Exposure.BlastRadius).
//   - review.go: review and ownership: review_every with reviewed_at and reviewed_by
//     (CheckReview, CheckReviewOverdue, ReviewReminder) and owner records (Owner, CheckOwner).
//   - declaration.go: where a record in the engine differs from its declaration, which decides
//     whether a create may adopt it (DeclarationDiff, IdentityDiff).
//   - drift.go: what an engine holds against what is declared (Drift, Report.Filter).
//   - finding.go: findings, severities and the fail_on gate (Failing, Severity.AtLeast).
//   - duration.go: the duration syntax every rule reads and writes.
package policy

import "time"

// Kind is the lifecycle kind of a class of identities.
type Kind string

// The two lifecycle kinds.
const (
	KindEphemeral  Kind = "ephemeral"
	KindPersistent Kind = "persistent"
)

// Status is the lifecycle status of an identity.
type Status string

// Identity statuses.
const (
	StatusActive  Status = "active"
	StatusRetired Status = "retired"
)

// Class is the contract for a group of identities. A zero ceiling means "no ceiling".
type Class struct {
	Name                string        `json:"name"`
	Kind                Kind          `json:"kind"`
	Description         string        `json:"description,omitempty"`
	MaxTTL              time.Duration `json:"max_ttl,omitempty"`
	MaxLifetime         time.Duration `json:"max_lifetime,omitempty"`
	MaxRenewals         *int64        `json:"max_renewals,omitempty"`
	MaxRotationInterval time.Duration `json:"max_rotation_interval,omitempty"`
	RequireOwner        bool          `json:"require_owner,omitempty"`
	RequireConsumers    bool          `json:"require_consumers,omitempty"`
	NamingPattern       string        `json:"naming_pattern,omitempty"`
	Environments        []string      `json:"environments,omitempty"`
	// AllowedScopes are glob patterns (MatchScope) that every scope of the class's identities
	// must match; empty allows any scope. DeniedScopes are patterns no identity may hold.
	AllowedScopes []string `json:"allowed_scopes,omitempty"`
	DeniedScopes  []string `json:"denied_scopes,omitempty"`
	// MaxScopes caps how many scopes one identity holds; zero means no ceiling.
	MaxScopes int64 `json:"max_scopes,omitempty"`
	// AllowedCIDRs are the networks the identities' bound_cidrs must sit within; when set, an
	// identity must bind its credentials to addresses inside them.
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	// MaxBlastRadius caps an identity's blast radius in scope-hours; zero means no ceiling.
	MaxBlastRadius float64 `json:"max_blast_radius,omitempty"`

	// MaxIdle is the longest an active identity may go without being used (CheckIdle); zero
	// means no limit.
	MaxIdle time.Duration `json:"max_idle,omitempty"`
	// ReviewEvery is how often each identity of the class must be reviewed (reviewed_at moved
	// by a pull request, with reviewed_by); zero requires no review.
	ReviewEvery time.Duration `json:"review_every,omitempty"`
	// RequireRegisteredOwner requires each identity's owner to name an active Owner record.
	RequireRegisteredOwner bool `json:"require_registered_owner,omitempty"`
}

// Exception lets a TTL policy exceed its class's ceilings, or an identity its class's privilege
// ceilings (scopes, CIDRs, blast radius), until it expires.
type Exception struct {
	Reason     string    `json:"reason"`
	ApprovedBy string    `json:"approved_by"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// TTLPolicy is the TTL and renewal policy of dynamic credentials.
type TTLPolicy struct {
	Name        string        `json:"name"`
	Class       string        `json:"class"`
	Description string        `json:"description,omitempty"`
	TTL         time.Duration `json:"ttl"`
	// MaxLifetime is the hard expiry including renewals; zero means none.
	MaxLifetime time.Duration `json:"max_lifetime,omitempty"`
	Renewable   bool          `json:"renewable,omitempty"`
	// MaxRenewals caps renewals of a renewable credential; nil means no cap.
	MaxRenewals *int64 `json:"max_renewals,omitempty"`
	// MaxUses caps authentications with one credential; zero means no cap.
	MaxUses   int64      `json:"max_uses,omitempty"`
	Exception *Exception `json:"exception,omitempty"`
}

// Identity is one non-human identity.
type Identity struct {
	Name        string   `json:"name"`
	Class       string   `json:"class"`
	Owner       string   `json:"owner,omitempty"`
	Environment string   `json:"environment,omitempty"`
	TTLPolicy   string   `json:"ttl_policy,omitempty"`
	Description string   `json:"description,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	// BoundCIDRs are the networks the identity's credentials may be used from; empty: any.
	BoundCIDRs []string `json:"bound_cidrs,omitempty"`
	// Exception exempts the identity from its class's privilege ceilings until it expires.
	Exception *Exception `json:"exception,omitempty"`
	// ReviewedAt and ReviewedBy attest the identity's last review: when and by whom (declared;
	// the pull request that moves them is the attestation).
	ReviewedAt time.Time `json:"reviewed_at,omitzero"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`

	// Target names the target (nhi_target) where the identity's credentials are logins; its
	// Scopes are then the target's roles those logins are granted. Empty: the engine's own
	// credentials.
	Target string `json:"target,omitempty"`

	// Status, CreatedAt and RetiredAt are kept by the engine.
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// LastUsedAt is when the identity last authenticated (a credential or a rotated secret used
	// to log in); zero when never. Engines fill it when they read an identity: the local engine
	// records it, coarsely (engine/local), the Vault engine derives it from Vault's audit device
	// (engine/vault/lastuse.go). It is an observation, never part of the declaration.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// UseUnknown says that the engine cannot tell when the identity was last used (a Vault
	// engine without an audit log to read): LastUsedAt is zero for want of knowledge, and the
	// inactivity rule does not judge the identity.
	UseUnknown bool `json:"-"`
	// EngineDrift describes, one line each, where what the engine enforces for the identity
	// differs from its declaration (a Vault role's token settings edited by hand, say). Engines
	// fill it when they read an identity; UpdateIdentity restores the declared settings.
	EngineDrift []string `json:"-"`
	// PrivilegesAdded and PrivilegesRemoved are privileges the engine grants beyond the
	// declaration, and declared ones it does not grant, one line each ("token_policies admin").
	// Engines fill them when they read an identity; UpdateIdentity restores the declaration.
	PrivilegesAdded   []string `json:"-"`
	PrivilegesRemoved []string `json:"-"`
}

// Retired reports whether the identity has been retired.
func (i Identity) Retired() bool { return i.Status == StatusRetired }

// indexBy maps key(item) to a pointer into items, for every item; a later item wins a key.
func indexBy[T any](items []T, key func(T) string) map[string]*T {
	m := make(map[string]*T, len(items))
	for i := range items {
		m[key(items[i])] = &items[i]
	}
	return m
}
