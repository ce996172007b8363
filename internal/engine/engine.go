// Package engine defines the narrow, engine-neutral interface between the provider and a secrets
// engine, with the shared types and typed errors every engine returns. Implementations live in
// engine/local (embedded) and engine/vault (HashiCorp Vault and OpenBao); both pass the
// conformance suite in engine/enginetest.
package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
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

// Errors that more than one engine returns for the same condition are made by the constructors
// below, so that every engine gives the same message (the conformance suite compares them).

// ErrSecretRefused is the refusal of a secret that is not a live credential or rotated secret
// of the engine: unknown (never issued by it), expired, revoked, used up, discarded, retained
// or destroyed. Vault refuses such secrets without saying which, so no engine says it.
var ErrSecretRefused = fmt.Errorf("the secret is not a live credential or secret of this engine (unknown, expired, revoked, used up or rotated out): %w", ErrDenied)

// NotItsSecret is the refusal of a secret that is another credential's, not credential id's.
func NotItsSecret(id string) error {
	return fmt.Errorf("%s %q: the secret does not belong to it: %w", KindCredential, id, ErrDenied)
}

// IdentityGone is the refusal of a secret whose identity name is retired or no longer exists.
func IdentityGone(name string) error {
	return fmt.Errorf("%s %q is retired or gone: %w", KindIdentity, name, ErrDenied)
}

// NoUsesLeft is the refusal of a secret of credential id, whose uses (max_uses) are spent.
func NoUsesLeft(id string) error {
	return fmt.Errorf("%s %q has no uses left: %w", KindCredential, id, ErrDenied)
}

// KindCredential names a dynamic credential in messages.
const KindCredential = "credential"

// NotFound is the error for a record of kind (KindIdentity, KindClass, KindCredential, ...)
// named name that the engine does not hold.
func NotFound(kind, name string) error { return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound) }

// CheckName refuses, as ErrInvalid, a record name that policy.CheckName refuses.
func CheckName(kind, name string) error {
	if err := policy.CheckName(name); err != nil {
		return fmt.Errorf("%s %v: %w", kind, err, ErrInvalid)
	}
	return nil
}

// DeclaredTTLPolicy maps err, the error of reading the TTL policy that identity id names, for a
// create or an update of id: a policy the engine does not hold is ErrInvalid, since the
// identity's credentials would have no terms.
func DeclaredTTLPolicy(id policy.Identity, err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("identity %q: its ttl_policy %q does not exist in the engine, so its credentials would have no terms: create the policy first: %w",
			id.Name, id.TTLPolicy, ErrInvalid)
	}
	return err
}

// Bounds of a rotated secret's length (StageSecret), in bytes of entropy.
const (
	MinSecretLength = 16
	MaxSecretLength = 128
)

// CheckStage refuses, as ErrInvalid, to stage a secret of length bytes for identity, whose class
// is class (classErr: the error of reading it; a class the engine does not hold is ErrInvalid,
// since the identity is then not known to be persistent).
func CheckStage(identity string, class policy.Class, classErr error, length int64) error {
	switch {
	case errors.Is(classErr, ErrNotFound):
		return fmt.Errorf("identity %q: its class does not exist in the engine, so it is not known to be persistent: %v: %w", identity, classErr, ErrInvalid)
	case classErr != nil:
		return fmt.Errorf("identity %q: %w", identity, classErr)
	case class.Kind != policy.KindPersistent:
		return fmt.Errorf("identity %q is of the %s class %q: only persistent identities have a rotated secret (ephemeral ones use dynamic credentials): %w",
			identity, class.Kind, class.Name, ErrInvalid)
	case length < MinSecretLength || length > MaxSecretLength:
		return fmt.Errorf("identity %q: a secret of %d bytes is outside %d to %d bytes: %w", identity, length, MinSecretLength, MaxSecretLength, ErrInvalid)
	}
	return nil
}

// VersionTaken is the error of a staged version that cannot be recorded because the engine
// holds it already (its number on Vault, its value on the local engine): staging again mints
// another.
func VersionTaken(identity string, version int64) error {
	return fmt.Errorf("identity %q: secret version %d is recorded already; stage again: %w", identity, version, ErrConflict)
}

// Engine is everything the provider needs from a secrets engine.
type Engine interface {
	Governance
	Identities
	Credentials
	Rotations
	Auditor
	Targets
	// Close releases the engine's resources.
	Close() error
}

// Governance stores governance records (classes, TTL policies and owners) so that drift jobs can
// read them without Terraform state.
type Governance interface {
	PutClass(ctx context.Context, c policy.Class) error
	GetClass(ctx context.Context, name string) (policy.Class, error)
	DeleteClass(ctx context.Context, name string) error
	ListClasses(ctx context.Context) ([]policy.Class, error)

	PutTTLPolicy(ctx context.Context, p policy.TTLPolicy) error
	GetTTLPolicy(ctx context.Context, name string) (policy.TTLPolicy, error)
	DeleteTTLPolicy(ctx context.Context, name string) error
	ListTTLPolicies(ctx context.Context) ([]policy.TTLPolicy, error)

	PutOwner(ctx context.Context, o policy.Owner) error
	GetOwner(ctx context.Context, name string) (policy.Owner, error)
	DeleteOwner(ctx context.Context, name string) error
	ListOwners(ctx context.Context) ([]policy.Owner, error)
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
	// ListCredentials lists the credentials of one identity, or of every identity when empty,
	// ended ones (archived) included: what the audit log reads.
	ListCredentials(ctx context.Context, identity string) ([]Credential, error)
	// LiveCredentials lists the credentials of one identity, or of every identity when empty,
	// that are not policy.Credential.Ended: what refresh and drift read, bounded by live
	// credentials whatever the history. Engines keep them apart from the ended ones.
	LiveCredentials(ctx context.Context, identity string) ([]Credential, error)
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
	// newest other versions; the rest are destroyed. policy.Promote is the rule; engines apply
	// the Transition it returns.
	PromoteSecret(ctx context.Context, identity string, version int64, p PromoteOptions) (SecretVersion, error)
	// DiscardSecret destroys a staged version (the rollback of a failed rotation).
	DiscardSecret(ctx context.Context, identity string, version int64) error
	// CurrentSecret returns the current version and its value; ErrRetired for a retired identity.
	CurrentSecret(ctx context.Context, identity string) (SecretVersion, string, error)
	// ListSecretVersions lists every version of an identity's secret that was not destroyed or
	// discarded, oldest first; with an empty identity, those of every identity (by identity).
	ListSecretVersions(ctx context.Context, identity string) ([]SecretVersion, error)
}

// PromoteOptions configure PromoteSecret (policy.Promote holds the rule).
type PromoteOptions = policy.PromoteOptions

// Secret version states.
const (
	SecretStaged   = policy.SecretStaged
	SecretCurrent  = policy.SecretCurrent
	SecretPrevious = policy.SecretPrevious
	// SecretRetained is an older version kept for rollback; it does not authenticate.
	SecretRetained = policy.SecretRetained
)

// SecretVersion is one version of a persistent identity's rotated secret, without its value.
type SecretVersion = policy.SecretVersion

// Auditor reads the engine's audit log.
type Auditor interface {
	// AuditEvents returns the events that match f in the order of OrderAuditEvents. The
	// credential events (issued, renewed, revoked) may be derived from the credential records
	// instead of read from a log (Vault: this saves four requests per credential); such events
	// carry no sequence number (Seq 0).
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

// Credential is an engine's record of a dynamic credential. It never holds the secret; Live and
// policy.Renew hold its rules.
type Credential = policy.Credential

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
	// EventUsed: a secret of the identity authenticated (Requester: who used it, where known).
	// Engines record at most one per identity per policy.UseResolution, or derive them from
	// the secrets engine's own log (Vault's audit device).
	EventUsed = "used"
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
	// Types selects events of these types; empty selects every type.
	Types []string
}

// Match reports whether e passes the filter.
func (f AuditFilter) Match(e AuditEvent) bool {
	if f.Identity != "" && e.Identity != f.Identity {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
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

// CredentialEvent reports whether events of type t tell a credential's life (issued, renewed,
// revoked): the events an engine may derive from its credential records.
func CredentialEvent(t string) bool {
	return t == EventIssued || t == EventRenewed || t == EventRevoked
}

// OrderAuditEvents puts events in the one order of AuditEvents on every engine, whether the
// engine logs credential events or derives them from its credential records (which know their
// time and their order per identity, not their place in one log). events holds every event,
// the credential events of each identity in the order the engine recorded them and every
// other event in log order (by Seq). The credential events are ordered by time, then by
// identity, then as recorded; each goes after every other event up to its time, the same
// instant included (an action is recorded before the revocations it makes), except the
// identity_retired and identity_deleted events of its identity at that instant, which are
// recorded after the revocations they cause.
func OrderAuditEvents(events []AuditEvent) []AuditEvent {
	var recorded, trail []AuditEvent
	for _, ev := range events {
		if CredentialEvent(ev.Type) {
			trail = append(trail, ev)
		} else {
			recorded = append(recorded, ev)
		}
	}
	sort.SliceStable(trail, func(i, j int) bool {
		a, b := trail[i], trail[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return a.Identity < b.Identity
	})
	first := func(c, r AuditEvent) bool {
		return c.Time.Before(r.Time) || (c.Time.Equal(r.Time) && c.Identity == r.Identity &&
			(r.Type == EventIdentityRetired || r.Type == EventIdentityDeleted))
	}
	out := make([]AuditEvent, 0, len(events))
	for len(recorded) > 0 || len(trail) > 0 {
		if len(trail) > 0 && (len(recorded) == 0 || first(trail[0], recorded[0])) {
			out, trail = append(out, trail[0]), trail[1:]
		} else {
			out, recorded = append(out, recorded[0]), recorded[1:]
		}
	}
	return out
}

// EventExpired marks a credential that reached its expiry without being revoked. Engines do not
// append it (expiry is a non-event); AuditLog derives it from credential records.
const EventExpired = "expired"

// TransitionError maps a refused secret-version transition of policy (Promote, Discard) to the
// engine's typed errors, naming the identity; any other error is returned as it is.
func TransitionError(identity string, err error) error {
	var kind error
	switch {
	case errors.Is(err, policy.ErrNoSuchVersion):
		kind = ErrNotFound
	case errors.Is(err, policy.ErrNotStaged):
		kind = ErrConflict
	case errors.Is(err, policy.ErrBadPromotion):
		kind = ErrInvalid
	default:
		return err
	}
	return fmt.Errorf("identity %q: %v: %w", identity, err, kind)
}

// PromotionDetail is the audit detail of the promotion of version under p that made t.
func PromotionDetail(version int64, t policy.Transition, p PromoteOptions) string {
	detail := fmt.Sprintf("version %d is current", version)
	if p.Reason != "" {
		detail += " (" + p.Reason + ")"
	}
	if t.Previous != nil {
		detail += fmt.Sprintf("; version %d stays valid until %s", t.Previous.Version, t.Previous.ExpiresAt.Format(time.RFC3339))
	}
	if !p.ExpiresAt.IsZero() {
		detail += "; hard limit " + p.ExpiresAt.Format(time.RFC3339)
	}
	if len(t.Destroyed) > 0 {
		detail += fmt.Sprintf("; destroyed versions %v (keep %d)", t.Destroyed, p.Keep)
	}
	return detail
}

// StagedDetail is the audit detail of a staged version of length bytes with fingerprint fp.
func StagedDetail(version int64, fp string, length int64) string {
	return fmt.Sprintf("version %d staged (fingerprint %s, %d bytes)", version, fp, length)
}

// RollbackDetail is the audit detail of a staged version that DiscardSecret discarded.
func RollbackDetail(version int64) string { return fmt.Sprintf("version %d discarded", version) }

// VersionsDetail is the audit detail of retiring or deleting (verb "retired", "destroyed") an
// identity whose secret has n versions; none without versions.
func VersionsDetail(verb string, n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d secret versions %s", n, verb)
}

// DiscardDetail is the audit detail of a staged version that a promotion of version discarded.
func DiscardDetail(discarded, version int64) string {
	return fmt.Sprintf("version %d: left staged when version %d was promoted", discarded, version)
}

// RenewalError is the refusal of a renewal that policy.Renew turned down.
func RenewalError(err error) error { return fmt.Errorf("%v: %w", err, ErrDenied) }

// IdentityRevoker is implemented by engines that revoke a credential in fewer requests when the
// caller names its identity (Vault otherwise looks the token up to learn it).
type IdentityRevoker interface {
	// RevokeIdentityCredential is RevokeCredential(id) for a credential the caller says belongs
	// to identity. A wrong identity costs requests, never correctness: the engine then finds
	// the credential as RevokeCredential does.
	RevokeIdentityCredential(ctx context.Context, identity, id string) error
}

// RevokeCredentialOf revokes credential id of identity (as Open returned them), through
// IdentityRevoker when e implements it, else RevokeCredential.
func RevokeCredentialOf(ctx context.Context, e Engine, identity, id string) error {
	if r, ok := e.(IdentityRevoker); ok {
		return r.RevokeIdentityCredential(ctx, identity, id)
	}
	return e.RevokeCredential(ctx, id)
}
