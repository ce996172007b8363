// Package target defines the small interface through which both engines reach a real system
// where credentials materialise (issue 16): a database whose logins are an identity's dynamic
// credentials or its rotated secret. PostgreSQL (target/postgres) is the first implementation;
// later targets (MySQL, cloud IAM) implement the same interface.
package target

import (
	"context"
	"errors"
	"time"
)

// KindPostgreSQL is the kind of a PostgreSQL target.
const KindPostgreSQL = "postgresql"

// ErrUnreachable wraps a failure to connect to, or to log in to, a target.
var ErrUnreachable = errors.New("target unreachable")

// ErrPasswordRefused wraps, besides ErrUnreachable, a login the target refused for its password
// (a wrong password, or a login that does not exist or whose password has expired: PostgreSQL
// does not tell them apart), as against a target that does not answer.
var ErrPasswordRefused = errors.New("password refused")

// ErrRejected wraps a statement the target refused (a granted role that does not exist, a
// missing privilege of the admin user).
var ErrRejected = errors.New("target rejected the change")

// Connection is where a target is and whom the provider logs in as; the password is apart.
type Connection struct {
	Kind     string `json:"kind"`
	Host     string `json:"host"`
	Port     int64  `json:"port"`
	Database string `json:"database"`
	SSLMode  string `json:"sslmode"`
	Username string `json:"username"`
}

// LoginSpec is a login to create.
type LoginSpec struct {
	Name     string
	Password string
	// ValidUntil is when the login stops working; zero means no expiry (persistent logins).
	ValidUntil time.Time
	// Roles are granted to the login, exactly these.
	Roles []string
	// Comment marks the login as made by the provider (what the drift check of orphaned logins
	// reads back).
	Comment string
}

// Login is what a target holds for a login, as Inspect reads it.
type Login struct {
	Name   string
	Exists bool
	// CanLogin is false for a role that cannot log in.
	CanLogin bool
	// ValidUntil is the login's expiry; zero with Infinite false means none was set.
	ValidUntil time.Time
	// Infinite is true for VALID UNTIL 'infinity'.
	Infinite bool
	// Roles are the roles granted to the login, sorted.
	Roles []string
	// Verifier is the stored password verifier when VerifierRead (the admin user may read it).
	Verifier     string
	VerifierRead bool
	Comment      string
}

// Target is one real system that holds logins.
type Target interface {
	// Check connects and returns the server's version.
	Check(ctx context.Context) (version string, err error)
	// CreateLogin creates a login with a password, an expiry and exactly the given roles.
	CreateLogin(ctx context.Context, spec LoginSpec) error
	// EnsureGroup creates a role that cannot log in, granted roles and commented, unless a role
	// of that name exists (which then stops logging in): the group of alternating logins.
	EnsureGroup(ctx context.Context, name string, roles []string, comment string) error
	// ExtendLogin moves a login's expiry; the zero time means none (infinity).
	ExtendLogin(ctx context.Context, name string, validUntil time.Time) error
	// SetRoles grants and revokes so that role name is a member of exactly roles.
	SetRoles(ctx context.Context, name string, roles []string) error
	// SetPassword replaces a login's password (and lets it log in).
	SetPassword(ctx context.Context, name, password string) error
	// DropLogin terminates the login's sessions and removes it; a missing login is no error.
	DropLogin(ctx context.Context, name string) error
	// Inspect reads a login back; Exists is false when there is none.
	Inspect(ctx context.Context, name string) (Login, error)
	// CheckPassword tells whether login name holds password, by its stored verifier: checked is
	// false when the verifier cannot be read or compared; a missing login holds none.
	CheckPassword(ctx context.Context, name, password string) (match, checked bool, err error)
	// ListLogins reads back every login whose comment starts with prefix (the provider's
	// marker), without password verifiers.
	ListLogins(ctx context.Context, prefix string) ([]Login, error)
	// Login connects as name with password: whether that password works now.
	Login(ctx context.Context, name, password string) error
}
