// Package postgres is the PostgreSQL target: logins are roles with LOGIN, a SCRAM-SHA-256
// password verifier computed here (the clear password never reaches the server or its logs), a
// VALID UNTIL expiry and role memberships for scopes. Identifiers are quoted with
// pgx.Identifier; the only literals are a verifier and a timestamp this package formats itself.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nhigov/terraform-provider-nhi/internal/target"
)

// connectTimeout bounds each connection attempt.
const connectTimeout = 10 * time.Second

// SSLModes are the sslmode values a connection accepts.
var SSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// Postgres is a PostgreSQL target. Each call opens its own short connection: targets are used a
// few times per apply, never in a hot loop.
type Postgres struct {
	conn     target.Connection
	password string
}

var _ target.Target = (*Postgres)(nil)

// New returns the target at conn, logged in to as conn.Username with password.
func New(conn target.Connection, password string) (*Postgres, error) {
	if conn.Kind != target.KindPostgreSQL {
		return nil, fmt.Errorf("%w: kind %q is not %q", target.ErrRejected, conn.Kind, target.KindPostgreSQL)
	}
	return &Postgres{conn: conn, password: password}, nil
}

// config is the pgx configuration of a connection as user with password. It is built through
// net/url, so no part of it is spliced into a connection string by hand.
func (p *Postgres) config(user, password string) (*pgx.ConnConfig, error) {
	q := url.Values{}
	sslmode := p.conn.SSLMode
	if sslmode == "" {
		sslmode = "prefer"
	}
	q.Set("sslmode", sslmode)
	q.Set("connect_timeout", strconv.Itoa(int(connectTimeout/time.Second)))
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort(p.conn.Host, strconv.FormatInt(p.conn.Port, 10)), Path: "/" + p.conn.Database, RawQuery: q.Encode()}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %v", target.ErrRejected, p.conn.Host, p.conn.Port, redact(err, password))
	}
	return cfg, nil
}

// Connect opens a connection to the target as user with password; the caller closes it.
func (p *Postgres) Connect(ctx context.Context, user, password string) (*pgx.Conn, error) {
	cfg, err := p.config(user, password)
	if err != nil {
		return nil, err
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "28P01": // invalid_password
		return nil, fmt.Errorf("%w: %w: %s:%d database %q as %q: %v", target.ErrUnreachable, target.ErrPasswordRefused, p.conn.Host, p.conn.Port,
			p.conn.Database, user, redact(err, password))
	case err != nil:
		return nil, fmt.Errorf("%w: %s:%d database %q as %q: %v", target.ErrUnreachable, p.conn.Host, p.conn.Port,
			p.conn.Database, user, redact(err, password))
	}
	return c, nil
}

// admin runs fn on a connection as the admin user.
func (p *Postgres) admin(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := p.Connect(ctx, p.conn.Username, p.password)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	return fn(c)
}

// Check connects as the admin user and returns server_version.
func (p *Postgres) Check(ctx context.Context) (string, error) {
	var version string
	err := p.admin(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SHOW server_version").Scan(&version)
	})
	return version, err
}

// Login connects as name with password and disconnects.
func (p *Postgres) Login(ctx context.Context, name, password string) error {
	c, err := p.Connect(ctx, name, password)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

// CreateLogin creates the login in one transaction: the role, its comment and its roles.
func (p *Postgres) CreateLogin(ctx context.Context, spec target.LoginSpec) error {
	stmts, err := LoginStatements(spec)
	if err != nil {
		return err
	}
	return p.run(ctx, "creating role "+spec.Name, stmts)
}

// LoginStatements create the login of spec as CreateLogin does: its password as a SCRAM
// verifier computed here, so that the statements never carry the clear password (Vault runs
// them for the Vault engine).
func LoginStatements(spec target.LoginSpec) ([]string, error) {
	verifier, err := Verifier(spec.Password)
	if err != nil {
		return nil, err
	}
	return createStatements(spec.Name, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD "+literal(verifier)+
		" VALID UNTIL "+validUntil(spec.ValidUntil), spec.Roles, spec.Comment), nil
}

// EnsureGroup creates the group role name (NOLOGIN, granted roles, commented) unless it exists;
// an existing role of that name that can log in (the one login of a rotated secret before its
// schedule turned alternating) stops logging in.
func (p *Postgres) EnsureGroup(ctx context.Context, name string, roles []string, comment string) error {
	l, err := p.Inspect(ctx, name)
	switch {
	case err != nil:
		return err
	case !l.Exists:
		return p.createRole(ctx, name, "NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT", roles, comment)
	case l.CanLogin:
		return p.run(ctx, "disabling the login of group role "+name, []string{NoLoginStatement(name)})
	}
	return nil
}

// NoLoginStatement makes role name stop logging in (a group role).
func NoLoginStatement(name string) string { return "ALTER ROLE " + ident(name) + " NOLOGIN" }

// createRole creates role name WITH options, member of roles, with comment, in one transaction.
func (p *Postgres) createRole(ctx context.Context, name, options string, roles []string, comment string) error {
	return p.run(ctx, "creating role "+name, createStatements(name, options, roles, comment))
}

// run runs stmts as the admin user in one transaction; what names the change in an error.
func (p *Postgres) run(ctx context.Context, what string, stmts []string) error {
	return p.admin(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			for _, stmt := range stmts {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return rejected(what, err)
				}
			}
			return nil
		})
	})
}

// createStatements create role name WITH options, member of roles, with comment, after
// PrivilegeCheck has refused privileged roles among roles.
func createStatements(name, options string, roles []string, comment string) []string {
	role := ident(name)
	stmts := append(PrivilegeCheck(roles), "CREATE ROLE "+role+" WITH "+options+inRoles(roles))
	if comment != "" {
		// COMMENT takes a literal only; the comment is the provider's own marker.
		stmts = append(stmts, "COMMENT ON ROLE "+role+" IS "+literal(comment))
	}
	return stmts
}

// ExtendLogin moves the login's VALID UNTIL.
func (p *Postgres) ExtendLogin(ctx context.Context, name string, until time.Time) error {
	return p.admin(ctx, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, ValidUntilStatement(name, until)); err != nil {
			return rejected("extending login "+name, err)
		}
		return nil
	})
}

// SetRoles grants the roles name lacks and revokes those it holds beyond roles, in one
// transaction.
func (p *Postgres) SetRoles(ctx context.Context, name string, roles []string) error {
	l, err := p.Inspect(ctx, name)
	if err != nil {
		return err
	}
	if !l.Exists {
		return fmt.Errorf("%w: role %s does not exist", target.ErrRejected, name)
	}
	stmts := RoleStatements(name, l.Roles, roles)
	if len(stmts) == 0 {
		return nil
	}
	return p.run(ctx, "setting the roles of "+name, stmts)
}

// RoleStatements grant role name the roles of want it lacks (it holds have), after
// PrivilegeCheck has refused privileged roles among them, and revoke those it holds beyond want;
// none when it holds exactly want.
func RoleStatements(name string, have, want []string) []string {
	var grants []string
	for _, r := range want {
		if !slices.Contains(have, r) {
			grants = append(grants, r)
		}
	}
	stmts := PrivilegeCheck(grants)
	for _, r := range grants {
		stmts = append(stmts, "GRANT "+ident(r)+" TO "+ident(name))
	}
	for _, r := range have {
		if !slices.Contains(want, r) {
			stmts = append(stmts, "REVOKE "+ident(r)+" FROM "+ident(name))
		}
	}
	return stmts
}

// SetPassword replaces the login's password verifier, and lets it log in (a role that was a
// group of alternating logins before its schedule changed could not).
func (p *Postgres) SetPassword(ctx context.Context, name, password string) error {
	stmt, err := PasswordStatement(name, password)
	if err != nil {
		return err
	}
	return p.run(ctx, "setting the password of login "+name, []string{stmt})
}

// PasswordStatement sets the password of login name as SetPassword does: a SCRAM verifier
// computed here, never the clear password.
func PasswordStatement(name, password string) (string, error) {
	verifier, err := Verifier(password)
	if err != nil {
		return "", err
	}
	return "ALTER ROLE " + ident(name) + " LOGIN PASSWORD " + literal(verifier), nil
}

// VaultStatements are the statements of a role of Vault's database secrets engine whose logins
// are the ones CreateLogin, ExtendLogin and DropLogin make here: created with the password and
// expiry Vault fills in ({{name}}, {{password}}, {{expiration}}), granted exactly roles and
// commented, moved on renewal, dropped with their sessions on revocation. Vault runs each list
// in one transaction.
func VaultStatements(roles []string, comment string) (creation, renew, revocation []string) {
	const name = `"{{name}}"`
	create := "CREATE ROLE " + name + " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'" +
		inRoles(roles)
	creation = append(PrivilegeCheck(roles), create, "COMMENT ON ROLE "+name+" IS "+literal(comment))
	renew = []string{"ALTER ROLE " + name + " VALID UNTIL '{{expiration}}'"}
	return creation, renew, DropStatements("{{name}}")
}

// DropStatements drop the existing role name as DropLogin does, in one transaction run by
// Vault: no new session, its sessions terminated, what it owns handed to the admin user.
func DropStatements(name string) []string {
	role := ident(name)
	return []string{
		"ALTER ROLE " + role + " NOLOGIN",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = " + literal(name) + " AND pid <> pg_backend_pid()",
		"REASSIGN OWNED BY " + role + " TO CURRENT_USER",
		"DROP OWNED BY " + role,
		"DROP ROLE IF EXISTS " + role,
	}
}

// GroupStatements create the group role name as EnsureGroup does (NOLOGIN, granted roles,
// commented), for Vault to run.
func GroupStatements(name string, roles []string, comment string) []string {
	return createStatements(name, "NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT", roles, comment)
}

// MemberLoginStatements create login name, member of group, commented, with no password yet
// (PasswordStatement sets it, in the same transaction), for Vault to run.
func MemberLoginStatements(name, group, comment string) []string {
	return createStatements(name, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT", []string{group}, comment)
}

// ValidUntilStatement moves the login's VALID UNTIL ('infinity' for the zero time), as
// ExtendLogin does.
func ValidUntilStatement(name string, until time.Time) string {
	return "ALTER ROLE " + ident(name) + " VALID UNTIL " + validUntil(until)
}

// DropLogin terminates the login's sessions, hands what it owns in the target's database to the
// admin user, drops its privileges there, and drops the role.
func (p *Postgres) DropLogin(ctx context.Context, name string) error {
	return p.admin(ctx, func(c *pgx.Conn) error {
		var exists bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
			return rejected("looking up login "+name, err)
		}
		if !exists {
			return nil
		}
		// NOLOGIN first, so no new session starts between the terminate and the drop.
		role := ident(name)
		if _, err := c.Exec(ctx, "ALTER ROLE "+role+" NOLOGIN"); err != nil {
			return rejected("disabling login "+name, err)
		}
		if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", name); err != nil {
			return rejected("terminating the sessions of login "+name, err)
		}
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			for _, stmt := range []string{"REASSIGN OWNED BY " + role + " TO CURRENT_USER", "DROP OWNED BY " + role, "DROP ROLE " + role} {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return rejected("dropping login "+name, err)
				}
			}
			return nil
		})
	})
}

// loginColumns reads a role as a Login: can it log in, its VALID UNTIL, the roles granted to it
// and its comment (scanLogin).
const loginColumns = `r.rolname::text, r.rolcanlogin, r.rolvaliduntil,
  COALESCE((SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}'),
  shobj_description(r.oid, 'pg_authid')`

func scanLogin(row pgx.Row) (target.Login, error) {
	var (
		l       target.Login
		until   pgtype.Timestamptz
		comment pgtype.Text
	)
	if err := row.Scan(&l.Name, &l.CanLogin, &until, &l.Roles, &comment); err != nil {
		return l, err
	}
	l.Exists, l.Comment = true, comment.String
	switch {
	case until.InfinityModifier == pgtype.Infinity:
		l.Infinite = true
	case until.Valid && until.InfinityModifier == pgtype.Finite:
		l.ValidUntil = until.Time.UTC()
	}
	slices.Sort(l.Roles)
	return l, nil
}

// Inspect reads the login back: expiry, granted roles, comment and, when the admin user may
// read pg_authid, its password verifier.
func (p *Postgres) Inspect(ctx context.Context, name string) (target.Login, error) {
	l := target.Login{Name: name}
	err := p.admin(ctx, func(c *pgx.Conn) error {
		found, err := scanLogin(c.QueryRow(ctx, "SELECT "+loginColumns+" FROM pg_roles r WHERE r.rolname = $1", name))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return rejected("reading login "+name, err)
		}
		l = found
		var verifier pgtype.Text
		err = c.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", name).Scan(&verifier)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege: not a superuser
			return nil
		}
		if err != nil {
			return rejected("reading the password verifier of login "+name, err)
		}
		l.Verifier, l.VerifierRead = verifier.String, true
		return nil
	})
	return l, err
}

// CheckPassword compares the login's SCRAM verifier with password.
func (p *Postgres) CheckPassword(ctx context.Context, name, password string) (match, checked bool, err error) {
	l, err := p.Inspect(ctx, name)
	switch {
	case err != nil:
		return false, false, err
	case !l.Exists:
		return false, true, nil
	case !l.VerifierRead:
		return false, false, nil
	}
	match, checked = VerifierMatches(l.Verifier, password)
	return match, checked, nil
}

// ListLogins reads back every role whose comment starts with prefix, by name.
func (p *Postgres) ListLogins(ctx context.Context, prefix string) ([]target.Login, error) {
	var out []target.Login
	err := p.admin(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT "+loginColumns+" FROM pg_roles r WHERE starts_with(COALESCE(shobj_description(r.oid, 'pg_authid'), ''), $1) ORDER BY r.rolname", prefix)
		if err != nil {
			return rejected("listing logins", err)
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLogin(rows)
			if err != nil {
				return rejected("listing logins", err)
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// privilegedAttributes are the role attributes that make a role too privileged to be a scope:
// a login granted such a role, or a role that is a member of one (which it may SET ROLE to),
// could take over the server, make roles or databases, read every row or stream the WAL.
const privilegedAttributes = "g.rolsuper OR g.rolcreaterole OR g.rolcreatedb OR g.rolreplication OR g.rolbypassrls"

// PrivilegeCheck is the rule on the roles a login or group role is granted (an identity's
// scopes), for both engines: one statement, run first in the transaction that grants them (by
// the local engine itself, by Vault in a dynamic role's creation statements), that fails it
// with an error naming each role among roles that is SUPERUSER, CREATEROLE, CREATEDB,
// REPLICATION or BYPASSRLS, or a member (directly or not) of such a role. None for no roles.
// The statement is a DO block: Vault runs a statement holding END as it is, unsplit.
func PrivilegeCheck(roles []string) []string {
	if len(roles) == 0 {
		return nil
	}
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = literal(r)
	}
	body := `
DECLARE bad text;
BEGIN
  WITH RECURSIVE up(scope, oid) AS (
    SELECT r.rolname::text, r.oid FROM pg_roles r WHERE r.rolname = ANY (ARRAY[` + strings.Join(quoted, ", ") + `]::text[])
    UNION
    SELECT up.scope, m.roleid FROM up JOIN pg_auth_members m ON m.member = up.oid)
  SELECT string_agg(up.scope || CASE WHEN g.rolname = up.scope THEN '' ELSE ' (member of ' || g.rolname || ')' END || ' is' ||
      CASE WHEN g.rolsuper THEN ' SUPERUSER' ELSE '' END || CASE WHEN g.rolcreaterole THEN ' CREATEROLE' ELSE '' END ||
      CASE WHEN g.rolcreatedb THEN ' CREATEDB' ELSE '' END || CASE WHEN g.rolreplication THEN ' REPLICATION' ELSE '' END ||
      CASE WHEN g.rolbypassrls THEN ' BYPASSRLS' ELSE '' END, '; ' ORDER BY up.scope, g.rolname)
    INTO bad FROM up JOIN pg_roles g ON g.oid = up.oid WHERE ` + privilegedAttributes + `;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'privileged roles cannot be scopes: %', bad USING ERRCODE = '42501';
  END IF;
END
`
	// A dollar-quote tag that the body (its role names) does not contain.
	tag := "$nhi$"
	for strings.Contains(body, tag) {
		tag = tag[:len(tag)-1] + "x$"
	}
	return []string{"DO " + tag + body + tag}
}

// inRoles is the IN ROLE clause granting roles, quoted; empty for none.
func inRoles(roles []string) string {
	if len(roles) == 0 {
		return ""
	}
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = ident(r)
	}
	return " IN ROLE " + strings.Join(quoted, ", ")
}

// ident quotes a role name.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string literal made by this package (a verifier, a timestamp, the
// provider's comment): standard_conforming_strings is on in every supported PostgreSQL, so
// doubling single quotes is the whole escape; NUL bytes cannot occur in them.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// validUntil is the VALID UNTIL literal of t, cut to the microseconds PostgreSQL keeps (never
// rounded up past t): 'infinity' for the zero time (no expiry).
func validUntil(t time.Time) string {
	if t.IsZero() {
		return literal("infinity")
	}
	return literal(t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
}

func rejected(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", target.ErrRejected, what, err)
}

// redact removes a password from an error's text, in case a driver error quotes the
// connection string.
func redact(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "<redacted>")
		msg = strings.ReplaceAll(msg, url.QueryEscape(password), "<redacted>")
	}
	return msg
}
