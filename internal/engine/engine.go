// Package engine defines the narrow, engine-neutral interface between the provider and a secrets
// engine, with the shared types and typed errors every engine returns. Implementations live in
// engine/local (embedded) and engine/vault (HashiCorp Vault and OpenBao); both pass the
// conformance suite in engine/enginetest.
package engine

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Typed errors. Engines wrap these with context (fmt.Errorf("...: %w", ErrNotFound)) and the
// provider maps them in one place.
var (
	// ErrNotFound: the object does not exist in the engine.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object already exists, or is in a state that forbids the change.
	ErrConflict = errors.New("conflict")
	// ErrRetired: the identity is retired; it gets no credentials and none of its credentials work.
	ErrRetired = errors.New("identity is retired")
	// ErrDenied: a credential or request was refused (unknown, expired, revoked, used up, over budget).
	ErrDenied = errors.New("denied")
	// ErrInvalid: the request breaks the identity's policy or is malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable: the engine cannot be reached or is locked by another process.
	ErrUnavailable = errors.New("engine unavailable")
)

// Engine is everything the provider needs from a secrets engine.
type Engine interface {
	Governance
	Identities
	Credentials
	Rotations
	Auditor
	// Close releases the engine's resources.
	Close() error
}

// Governance stores governance records (classes and TTL policies) so that drift jobs can read
// them without Terraform state.
type Governance interface {
	PutClass(ctx context.Context, c policy.Class) error
	GetClass(ctx context.Context, name string) (policy.Class, error)
	DeleteClass(ctx context.Context, name string) error
	ListClasses(ctx context.Context) ([]policy.Class, error)

	PutTTLPolicy(ctx context.Context, p policy.TTLPolicy) error
	GetTTLPolicy(ctx context.Context, name string) (policy.TTLPolicy, error)
	DeleteTTLPolicy(ctx context.Context, name string) error
	ListTTLPolicies(ctx context.Context) ([]policy.TTLPolicy, error)
}

// Identities manages non-human identities.
type Identities interface {
	// CreateIdentity records a new, active identity. When the engine already holds an identity
	// of that name that this provider made (an apply killed after the engine wrote it), active
	// and declared exactly like id (AdoptableIdentity), it adopts it: it finishes what the
	// interrupted create left undone, records an EventAdopted and returns it. Any other taken
	// name is an ExistsError (ErrConflict), retired identities included (a retired name is kept
	// for audit and never reused).
	CreateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error)
	// CheckCreateIdentity tells, writing nothing, what CreateIdentity(id) would do: create it
	// (false, nil), adopt an existing identity (true, nil), or fail with the ExistsError it
	// would return.
	CheckCreateIdentity(ctx context.Context, id policy.Identity) (adopt bool, err error)
	// UpdateIdentity replaces the declared attributes of an active identity.
	UpdateIdentity(ctx context.Context, id policy.Identity) (policy.Identity, error)
	GetIdentity(ctx context.Context, name string) (policy.Identity, error)
	ListIdentities(ctx context.Context) ([]policy.Identity, error)
	// RetireIdentity revokes every credential of the identity and keeps a disabled record.
	RetireIdentity(ctx context.Context, name string) (policy.Identity, error)
	// DeleteIdentity revokes every credential of the identity and removes it.
	DeleteIdentity(ctx context.Context, name string) error
}

// ScopeCatalog is implemented by engines whose scopes name objects that must exist in the
// engine (Vault ACL policies). The local engine has no catalogue: any scope is its own name.
type ScopeCatalog interface {
	// MissingScopes names the scopes the engine does not hold.
	MissingScopes(ctx context.Context, scopes []string) ([]string, error)
}

// Credentials issues and checks dynamic credentials.
type Credentials interface {
	// IssueCredential mints a credential for an active identity within its TTL policy. The secret
	// is returned once and never stored in clear.
	IssueCredential(ctx context.Context, req CredentialRequest) (Credential, string, error)
	// RenewCredential extends a credential within its renewal budget and hard expiry. The
	// holder proves possession: secret must be the credential's own secret.
	RenewCredential(ctx context.Context, id, secret string) (Credential, error)
	// RevokeCredential ends a credential at once. Revoking a revoked credential is not an error.
	RevokeCredential(ctx context.Context, id string) error
	// Authenticate returns the identity a secret belongs to, or ErrDenied.
	Authenticate(ctx context.Context, secret string) (string, error)
	// Authorize authenticates a secret like Authenticate and returns its identity when the
	// secret grants req.Scope to a caller at req.Caller, ErrDenied otherwise. A credential
	// grants the scopes and bound CIDRs its identity had when it was issued; a rotated secret,
	// those the identity has now (each login with it gets them anew).
	Authorize(ctx context.Context, req AuthorizeRequest) (string, error)
	// ListCredentials lists the credentials of one identity, or of every identity when empty.
	ListCredentials(ctx context.Context, identity string) ([]Credential, error)
}

// Rotations keeps the versioned, rotated secret of persistent identities and their rotation
// schedules. A rotation is staged, verified by authenticating with the staged secret, then
// promoted (or discarded: the rollback). Every version that is staged, current, or previous and
// inside its overlap authenticates through Authenticate, like a credential.
type Rotations interface {
	PutRotationSchedule(ctx context.Context, s policy.RotationSchedule) error
	GetRotationSchedule(ctx context.Context, identity string) (policy.RotationSchedule, error)
	DeleteRotationSchedule(ctx context.Context, identity string) error
	ListRotationSchedules(ctx context.Context) ([]policy.RotationSchedule, error)

	// StageSecret mints a new version of an active identity's secret from crypto/rand (length
	// bytes of entropy) and returns it with its value. The staged version authenticates but is
	// not current until promoted.
	StageSecret(ctx context.Context, identity string, length int64) (SecretVersion, string, error)
	// PromoteSecret makes a staged, previous or retained version current (promoting the current
	// version changes nothing). The version current until then becomes the one previous version
	// and stays valid until now+Overlap (never past its own hard expiry); an older previous
	// version becomes retained at once. Leftover staged versions are discarded. When ExpiresAt is
	// not zero the promoted version stops authenticating then (expire_unrotated). With Keep > 0,
	// the current and previous versions count towards Keep and the remaining slots go to the
	// newest other versions; the rest are destroyed.
	PromoteSecret(ctx context.Context, identity string, version int64, p PromoteOptions) (SecretVersion, error)
	// DiscardSecret destroys a staged version (the rollback of a failed rotation).
	DiscardSecret(ctx context.Context, identity string, version int64) error
	// CurrentSecret returns the current version and its value; ErrRetired for a retired identity.
	CurrentSecret(ctx context.Context, identity string) (SecretVersion, string, error)
	// ListSecretVersions lists every version of an identity's secret that was not destroyed or
	// discarded, oldest first; with an empty identity, those of every identity (by identity).
	ListSecretVersions(ctx context.Context, identity string) ([]SecretVersion, error)
}

// PromoteOptions configure PromoteSecret.
type PromoteOptions struct {
	// Overlap is how long the version being replaced stays valid.
	Overlap time.Duration
	// ExpiresAt, when not zero, is a hard limit after which the promoted version stops working.
	ExpiresAt time.Time
	// Keep is how many versions to retain, the current one included; zero keeps all.
	Keep int64
	// Reason is recorded in the audit log ("scheduled rotation", "rollback to version 2").
	Reason string
}

// Secret version states.
const (
	SecretStaged   = "staged"
	SecretCurrent  = "current"
	SecretPrevious = "previous"
	// SecretRetained is an older version kept for rollback; it does not authenticate.
	SecretRetained = "retained"
)

// SecretVersion is one version of a persistent identity's rotated secret, without its value.
type SecretVersion struct {
	Identity  string    `json:"identity"`
	Version   int64     `json:"version"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// PromotedAt is when the version last became current.
	PromotedAt time.Time `json:"promoted_at,omitzero"`
	// ExpiresAt is when the version stops authenticating; zero when it has no limit.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Fingerprint identifies the secret material without revealing it (a keyed or salted hash
	// prefix), so reports can find one secret shared by two identities.
	Fingerprint string `json:"fingerprint"`
}

// Authenticates reports whether the version still authenticates at now.
func (v SecretVersion) Authenticates(now time.Time) bool {
	if v.State == SecretRetained {
		return false
	}
	return v.ExpiresAt.IsZero() || now.Before(v.ExpiresAt)
}

// Auditor reads the engine's audit log.
type Auditor interface {
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// RecordAdoption records AdoptedEvent(kind, name): a create of a governance record (kind
	// KindClass, KindTTLPolicy or KindRotationSchedule) found it exactly as declared and adopted it.
	RecordAdoption(ctx context.Context, kind, name string) error
	// RecordAction records ActionEvent(action, identity, requester, detail), before the action acts.
	RecordAction(ctx context.Context, action, identity, requester, detail string) error
}

// CredentialRequest asks for a dynamic credential.
type CredentialRequest struct {
	Identity string
	// TTL is the requested lifetime before renewal; zero means the policy's TTL.
	TTL       time.Duration
	Requester string
	Purpose   string
}

// AuthorizeRequest asks whether a secret grants a scope to a caller.
type AuthorizeRequest struct {
	Secret string
	Scope  string
	// Caller is the address the secret is used from; it must be valid when the secret is
	// bound to networks (bound_cidrs).
	Caller netip.Addr
}

// Credential is an engine's record of a dynamic credential. It never holds the secret.
type Credential struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	IssuedAt time.Time `json:"issued_at"`
	// TTL is the credential's lifetime before renewal; each renewal extends it by TTL.
	TTL           time.Duration `json:"ttl"`
	ExpiresAt     time.Time     `json:"expires_at"`
	HardExpiresAt time.Time     `json:"hard_expires_at"`
	RenewCount    int64         `json:"renew_count"`
	// RenewalsLeft is -1 when renewals are not capped by count.
	RenewalsLeft int64 `json:"renewals_left"`
	// UsesLeft is -1 when authentications are not capped.
	UsesLeft  int64     `json:"uses_left"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Requester string    `json:"requester,omitempty"`
	Purpose   string    `json:"purpose,omitempty"`
	// Scopes and BoundCIDRs are what the credential grants, and from where: its identity's
	// when it was issued.
	Scopes     []string `json:"scopes,omitempty"`
	BoundCIDRs []string `json:"bound_cidrs,omitempty"`
}

// Live reports whether the credential still authenticates at now.
func (c Credential) Live(now time.Time) bool {
	return c.RevokedAt.IsZero() && now.Before(c.ExpiresAt)
}

// Audit event types.
const (
	EventIssued           = "issued"
	EventRenewed          = "renewed"
	EventRevoked          = "revoked"
	EventIdentityCreated  = "identity_created"
	EventIdentityUpdated  = "identity_updated"
	EventIdentityRetired  = "identity_retired"
	EventIdentityDeleted  = "identity_deleted"
	EventGovernanceChange = "governance_changed"
	EventSecretStaged     = "secret_staged"
	EventSecretPromoted   = "secret_promoted"
	EventSecretDiscarded  = "secret_discarded"
	// EventAdopted: a create found the record it was about to write already in the engine,
	// exactly as declared (the remains of an interrupted apply), and took it over.
	EventAdopted = "adopted"
)

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Identity   string    `json:"identity,omitempty"`
	Credential string    `json:"credential,omitempty"`
	Requester  string    `json:"requester,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// AuditFilter selects audit events; zero fields select everything.
type AuditFilter struct {
	Identity string
	Since    time.Time
	Until    time.Time
}

// Match reports whether e passes the filter.
func (f AuditFilter) Match(e AuditEvent) bool {
	if f.Identity != "" && e.Identity != f.Identity {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && e.Time.After(f.Until) {
		return false
	}
	return true
}

// EventExpired marks a credential that reached its expiry without being revoked. Engines do not
// append it (expiry is a non-event); ExpiryEvents derives it from credential records.
const EventExpired = "expired"

// ExpiryEvents derives an "expired" event for every credential in creds that expired by now
// without being revoked first.
func ExpiryEvents(creds []Credential, now time.Time) []AuditEvent {
	var out []AuditEvent
	for _, c := range creds {
		if c.ExpiresAt.After(now) || (!c.RevokedAt.IsZero() && !c.RevokedAt.After(c.ExpiresAt)) {
			continue
		}
		out = append(out, AuditEvent{Time: c.ExpiresAt, Type: EventExpired, Identity: c.Identity, Credential: c.ID,
			Requester: c.Requester, Purpose: c.Purpose})
	}
	return out
}
