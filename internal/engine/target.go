package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// Target is a declared target (nhi_target): a real system where an identity's credentials
// materialise as logins. It never holds the admin password: the engine keeps that apart
// (encrypted on the local engine, in the database secrets engine's connection config on Vault).
type Target struct {
	Name string `json:"name"`
	target.Connection
	// PasswordVersion is password_wo_version: the admin password is written again when it moves.
	PasswordVersion int64 `json:"password_version,omitempty"`
}

// KindTarget names target records in messages and audit events.
const KindTarget = "target"

// Targets stores targets and their admin passwords. Both engines implement it.
type Targets interface {
	// PutTarget creates or replaces target t. password replaces the stored admin password when
	// not empty; it is required when the engine holds none for t or the connection changes
	// (CheckTargetRewrite). The connection is checked with the password the target will use
	// before anything is written; a failed check is ErrInvalid and writes nothing.
	PutTarget(ctx context.Context, t Target, password string) error
	// GetTarget reads a target; ErrNotFound when there is none.
	GetTarget(ctx context.Context, name string) (Target, error)
	// CheckTarget checks that the target answers and returns its server version; ErrUnavailable
	// when it does not answer. The local engine connects with the stored admin password, the
	// Vault engine as the target's inspector login (LoginObserver).
	CheckTarget(ctx context.Context, name string) (serverVersion string, err error)
	// DeleteTarget removes a target and its stored password; ErrConflict while an active
	// identity names it.
	DeleteTarget(ctx context.Context, name string) error
}

// OpenTarget returns the client of the target at conn, logged in to with the admin password.
func OpenTarget(conn target.Connection, password string) (target.Target, error) {
	switch conn.Kind {
	case target.KindPostgreSQL:
		return postgres.New(conn, password)
	default:
		return nil, fmt.Errorf("target kind %q is not supported (only %q): %w", conn.Kind, target.KindPostgreSQL, ErrInvalid)
	}
}

// TargetError maps an error of a target client to the engine's typed errors: a target that does
// not answer or refuses the admin login is ErrUnavailable, a refused statement ErrInvalid.
func TargetError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, target.ErrUnreachable):
		return fmt.Errorf("target %q: %v: %w", name, err, ErrUnavailable)
	case errors.Is(err, target.ErrRejected):
		return fmt.Errorf("target %q: %v: %w", name, err, ErrInvalid)
	default:
		return fmt.Errorf("target %q: %w", name, err)
	}
}

// ServerVersion is the answer of Targets.CheckTarget for target name through client c, which the
// engine opened (with err): the version the target reports, or why it did not answer.
func ServerVersion(ctx context.Context, name string, c target.Target, err error) (string, error) {
	if err != nil {
		return "", err
	}
	version, err := c.Check(ctx)
	return version, TargetError(name, err)
}

// CheckNewTarget connects to a target about to be written, with its admin password: a refusal
// is ErrInvalid (the declaration is wrong: host, port, database, username or password), so that
// both engines refuse the same target the same way.
func CheckNewTarget(ctx context.Context, t Target, password string) error {
	c, err := OpenTarget(t.Connection, password)
	if err != nil {
		return err
	}
	if _, err := c.Check(ctx); err != nil {
		return fmt.Errorf("target %q: the connection check failed: %v: %w", t.Name, err, ErrInvalid)
	}
	return nil
}

// CheckTargetKept is the rule for an update of identity cur to next: its target cannot change
// (nor be set or removed), since the logins it holds on its target would be left working where
// nothing governs them any more. Both engines refuse such an update, and the plan says so first.
func CheckTargetKept(cur, next policy.Identity) error {
	if cur.Target == next.Target {
		return nil
	}
	return fmt.Errorf("identity %q: its target cannot change (%q in the engine, %q declared): the logins it holds there would be "+
		"left behind; retire it and declare a new identity for the new target: %w", next.Name, cur.Target, next.Target, ErrInvalid)
}

// CheckTargetRewrite is the rule for a PutTarget of t without a password, given what the engine
// holds for t (have, or readErr when reading it failed): it must hold a target of that name (its
// password then stays in use) with the same connection, since a password is checked against the
// connection it was given for (and Vault writes its connection configuration whole).
func CheckTargetRewrite(have Target, readErr error, t Target) error {
	switch {
	case errors.Is(readErr, ErrNotFound):
		return fmt.Errorf("%s %q: the engine holds no admin password for it: set password_wo: %w", KindTarget, t.Name, ErrInvalid)
	case readErr != nil:
		return readErr
	case have.Connection != t.Connection:
		return fmt.Errorf("%s %q: a changed connection needs its admin password again: set password_wo and move password_wo_version: %w",
			KindTarget, t.Name, ErrInvalid)
	}
	return nil
}

// maxLoginName is the longest role name PostgreSQL keeps (NAMEDATALEN - 1 bytes).
const maxLoginName = 63

// LoginName is the name of the login of credential credID of identity: "nhi_" and the
// identity's name, cut to fit, then "_" and the credential's own suffix, so a login traces back
// to its identity and credential in the target's own audit.
func LoginName(identity, credID string) string {
	suffix := credID
	if i := strings.LastIndexByte(credID, '-'); i >= 0 {
		suffix = credID[i+1:]
	}
	head := "nhi_" + loginSafe(identity)
	if room := maxLoginName - 1 - len(suffix); len(head) > room {
		head = head[:room]
	}
	return head + "_" + suffix
}

// loginSafe keeps the letters, digits, '_' and '-' of a name (ASCII), '_' for anything else.
func loginSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			return unicode.ToLower(r)
		}
		return '_'
	}, name)
}

// RotatedLoginName is the stable login of a persistent identity on its target, whose password is
// the identity's rotated secret: "nhi_" and the identity's name (lower case, cut to fit), then
// "_" and 8 hex digits of the SHA-256 of the exact name, with room left for the "_a" and "_b" of
// alternating logins; with the alternating strategy it names their group role. The digest keeps
// names that loginSafe folds together ("App.svc", "app_svc") apart, and a name that ends in hex
// digits never ends in "_a" or "_b", so one identity's group never names another's login.
func RotatedLoginName(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	digest := "_" + hex.EncodeToString(sum[:4])
	name := "nhi_" + loginSafe(identity)
	if room := maxLoginName - 2 - len(digest); len(name) > room {
		name = name[:room]
	}
	return name + digest
}

// InspectorLoginName is the login through which an engine that does not hold a target's admin
// password itself (Vault) reads the target's roles back: "nhi-inspect-" and the target's name,
// cut to fit. The "nhi-" start sets it apart from every login named after an identity ("nhi_").
func InspectorLoginName(targetName string) string {
	name := "nhi-inspect-" + loginSafe(targetName)
	if len(name) > maxLoginName {
		name = name[:maxLoginName]
	}
	return name
}

// InspectorLoginComment marks a target's inspector login. ParseLoginComment does not take it:
// it is no credential.
func InspectorLoginComment(owner, targetName string) string {
	return loginCommentPrefix + owner + ": inspector of target " + targetName
}

// RotatedLoginComment marks the logins and group role of a persistent identity's rotated secret.
// ParseLoginComment does not take it: those logins are not credentials.
func RotatedLoginComment(owner, identity string) string {
	return loginCommentPrefix + owner + ": rotated secret of identity " + identity
}

// loginCommentPrefix starts the comment of every login the engines make.
const loginCommentPrefix = "terraform-provider-nhi "

// LoginComment is the comment an engine puts on a login it makes for credential credID of
// identity: what the drift checks of logins read back (ParseLoginComment). owner tells engines
// apart that share a target (LoginObserver.LoginOwner), so that one never takes another's logins
// for its own orphans. credID is empty for the logins of a Vault dynamic role, which makes the
// logins of many credentials with one comment: the comment then names no credential, and the
// credential a login belongs to is the one recorded with the login's name (the drift rules
// match logins to credentials by name in any case).
func LoginComment(owner, identity, credID string) string {
	if credID == "" {
		credID = loginCredentialByName
	}
	return loginCommentPrefix + owner + ": identity " + identity + ", credential " + credID
}

// loginCredentialByName stands for the credential in the comment of a login of a Vault dynamic
// role; no credential ID has a space.
const loginCredentialByName = "recorded by login name"

// ParseLoginComment returns the owner, identity and credential a LoginComment names; credID is
// empty when the comment names none.
func ParseLoginComment(comment string) (owner, identity, credID string, ok bool) {
	rest, ok := strings.CutPrefix(comment, loginCommentPrefix)
	if !ok {
		return "", "", "", false
	}
	owner, rest, ok = strings.Cut(rest, ": identity ")
	if !ok || owner == "" {
		return "", "", "", false
	}
	identity, credID, ok = strings.Cut(rest, ", credential ")
	switch credID {
	case loginCredentialByName:
		credID = ""
	case "":
		ok = false
	}
	return owner, identity, credID, ok && identity != ""
}

// LoginObserver is implemented by engines that can read back the logins they made on targets:
// the local engine connects to them as the admin user; the Vault engine as each target's
// inspector login (InspectorLoginName), whose password a static role of Vault's database
// secrets engine rotates and which holds no privilege.
type LoginObserver interface {
	// LoginOwner is what this engine's login comments name as their owner (LoginComment).
	LoginOwner() string
	// ObserveLogins reads the logins the provider made on every target, or, for an identity,
	// those of that identity on its target.
	ObserveLogins(ctx context.Context, identity string) ([]policy.LoginObservation, error)
}

// UncheckedTarget is the observation of target name when reading its logins failed with err:
// for a target that did not answer (ErrUnavailable), the drift rules' target-unchecked finding
// about identity (about every identity on the target when empty), so that one unreachable target
// neither fails a refresh nor the fleet's report; ok is false for any other error, which the
// caller returns. Both engines observe an unreachable target through it.
func UncheckedTarget(name, identity string, err error) (obs policy.LoginObservation, ok bool) {
	if !errors.Is(err, ErrUnavailable) {
		return obs, false
	}
	return policy.LoginObservation{Target: name, Identity: identity, Unchecked: err.Error()}, true
}

// ObserveTargetLogins reads the logins on a target that owner made (LoginComment), for identity
// (any when empty), as the drift rules observe them, logged in as the admin user.
func ObserveTargetLogins(ctx context.Context, t Target, password, owner, identity string) ([]policy.LoginObservation, error) {
	c, err := OpenTarget(t.Connection, password)
	if err != nil {
		return nil, err
	}
	return TargetLogins(ctx, t.Name, c, owner, identity)
}

// TargetLogins is ObserveTargetLogins through client c of target name, logged in as any user
// that may read the target's roles: the logins of credentials, and the alternating logins of
// rotated secrets (policy.LoginObservation.Member), which may hold their group role only.
func TargetLogins(ctx context.Context, name string, c target.Target, owner, identity string) ([]policy.LoginObservation, error) {
	// The target filters by the comment's start: the owner's logins, or one identity's only.
	prefixes := []string{loginCommentPrefix + owner + ": "}
	if identity != "" {
		prefixes = []string{loginCommentPrefix + owner + ": identity " + identity + ", credential ", RotatedLoginComment(owner, identity)}
	}
	var out []policy.LoginObservation
	for _, prefix := range prefixes {
		logins, err := c.ListLogins(ctx, prefix)
		if err != nil {
			return nil, TargetError(name, err)
		}
		for _, l := range logins {
			if obs, ok := loginObservation(name, l, owner, identity); ok {
				out = append(out, obs)
			}
		}
	}
	return out, nil
}

// loginObservation is login l of target name as the drift rules observe it, when owner made it
// for identity (any when empty): a credential's login, or one of the alternating logins of a
// rotated secret.
func loginObservation(name string, l target.Login, owner, identity string) (policy.LoginObservation, bool) {
	if by, who, credID, ok := ParseLoginComment(l.Comment); ok {
		return policy.LoginObservation{Target: name, Name: l.Name, Identity: who, Credential: credID,
			ValidUntil: l.ValidUntil, Infinite: l.Infinite, Roles: l.Roles}, by == owner && (identity == "" || who == identity)
	}
	who, ok := strings.CutPrefix(l.Comment, RotatedLoginComment(owner, ""))
	if !ok || (identity != "" && who != identity) {
		return policy.LoginObservation{}, false
	}
	group := RotatedLoginName(who)
	if l.Name != group+"_a" && l.Name != group+"_b" {
		return policy.LoginObservation{}, false // the group role, or the one login: observed with the rotated secret
	}
	return policy.LoginObservation{Target: name, Name: l.Name, Identity: who, Member: true, RolesHolder: group, Roles: l.Roles}, true
}
