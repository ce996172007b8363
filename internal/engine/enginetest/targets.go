package enginetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// RunTargets runs the conformance suite of targets (nhi_target) against engines made by
// factory, on the PostgreSQL server of scripts/postgres-dev (skipped, saying so, without one).
func RunTargets(t *testing.T, factory Factory) {
	t.Run("TargetRecords", func(t *testing.T) { testTargetRecords(t, factory) })
}

// RunTargetCredentials runs the suite of dynamic credentials on a target: logins that grant
// exactly their scopes, expire with the credential, move with its renewals and go with its
// revocation. Only the local engine passes it so far: the Vault engine does not drive the
// database secrets engine's dynamic roles yet, and refuses such credentials (issue 16).
func RunTargetCredentials(t *testing.T, factory Factory) {
	t.Run("TargetCredentials", func(t *testing.T) { testTargetCredentials(t, factory) })
	t.Run("TargetRetireDropsLogins", func(t *testing.T) { testTargetRetire(t, factory) })
	t.Run("TargetLoginRefused", func(t *testing.T) { testTargetLoginRefused(t, factory) })
}

// pgFixture is a target on the test server and, when roles is set, a group role that may SELECT
// one table and not another.
type pgFixture struct {
	conn                    target.Connection
	password                string
	admin                   *postgres.Postgres
	target                  engine.Target
	reader, allowed, denied string
}

func newPGFixture(t *testing.T) *pgFixture {
	t.Helper()
	conn, password := acctest.Postgres(t)
	admin, err := postgres.New(conn, password)
	must(t, err)
	f := &pgFixture{conn: conn, password: password, admin: admin,
		target: engine.Target{Name: acctest.Unique("db-"), Connection: conn, PasswordVersion: 1},
		reader: acctest.Unique("reader_"), allowed: acctest.Unique("allowed_"), denied: acctest.Unique("denied_")}
	acctest.PostgresExec(t, conn, password,
		"CREATE ROLE "+f.reader+" NOLOGIN",
		"CREATE TABLE "+f.allowed+" (n int)", "INSERT INTO "+f.allowed+" VALUES (7)",
		"CREATE TABLE "+f.denied+" (n int)",
		"GRANT SELECT ON "+f.allowed+" TO "+f.reader)
	t.Cleanup(func() {
		acctest.PostgresExec(t, conn, password, "DROP TABLE "+f.allowed, "DROP TABLE "+f.denied, "DROP ROLE "+f.reader)
	})
	return f
}

// wantGrants connects as the credential's login and checks it may SELECT the allowed table
// and not the denied one.
func (f *pgFixture) wantGrants(t *testing.T, user, password string) {
	t.Helper()
	ctx := context.Background()
	c := acctest.PostgresConnect(t, f.conn, user, password)
	defer func() { _ = c.Close(ctx) }()
	var n int
	if err := c.QueryRow(ctx, "SELECT n FROM "+f.allowed).Scan(&n); err != nil || n != 7 {
		t.Errorf("SELECT on the table the scope grants: %d, %v", n, err)
	}
	if _, err := c.Exec(ctx, "SELECT n FROM "+f.denied); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("SELECT on a table the scope does not grant: %v, want permission denied", err)
	}
}

// wantGone checks that the login no longer exists and no longer logs in.
func (f *pgFixture) wantGone(t *testing.T, user, password string) {
	t.Helper()
	ctx := context.Background()
	if l, err := f.admin.Inspect(ctx, user); err != nil || l.Exists {
		t.Errorf("login %s after revocation: %+v, %v; want no role", user, l, err)
	}
	if err := f.admin.Login(ctx, user, password); err == nil {
		t.Errorf("login %s still logs in after revocation", user)
	}
}

func testTargetRecords(t *testing.T, factory Factory) {
	f := newPGFixture(t)
	e, _, ctx := setup(t, factory)
	tg := f.target

	// A password that the server refuses, and a first write without one: refused, nothing written.
	wantErr(t, e.PutTarget(ctx, tg, "not-the-password"), engine.ErrInvalid)
	_, err := e.GetTarget(ctx, tg.Name)
	wantErr(t, err, engine.ErrNotFound)
	wantErr(t, e.PutTarget(ctx, tg, ""), engine.ErrInvalid)
	_, err = e.GetTarget(ctx, tg.Name)
	wantErr(t, err, engine.ErrNotFound)
	bad := tg
	bad.Kind = "mysql"
	wantErr(t, e.PutTarget(ctx, bad, f.password), engine.ErrInvalid)

	must(t, e.PutTarget(ctx, tg, f.password))
	got, err := e.GetTarget(ctx, tg.Name)
	must(t, err)
	if got != tg {
		t.Fatalf("GetTarget = %+v, want %+v", got, tg)
	}
	version, err := e.CheckTarget(ctx, tg.Name)
	must(t, err)
	if version != "" && !strings.HasPrefix(version, "15.") {
		t.Errorf("CheckTarget server version = %q, want 15.x (or none, on an engine that cannot connect itself)", version)
	}
	// Rewritten without the password: the stored one stays in use.
	must(t, e.PutTarget(ctx, tg, ""))
	_, err = e.CheckTarget(ctx, tg.Name)
	must(t, err)
	_, err = e.CheckTarget(ctx, "no-such-target")
	wantErr(t, err, engine.ErrNotFound)

	// An active identity keeps its target; once it is retired the target goes.
	id := ciIdentity("ci-db")
	id.Target, id.Scopes = tg.Name, []string{f.reader}
	_, err = e.CreateIdentity(ctx, id)
	must(t, err)
	wantErr(t, e.DeleteTarget(ctx, tg.Name), engine.ErrConflict)
	_, err = e.RetireIdentity(ctx, id.Name)
	must(t, err)
	wantDeletes(t, ctx, tg.Name, e.GetTarget, e.DeleteTarget)
}

// targetIdentity sets up f's target and an ephemeral identity on it whose one scope is f's role,
// with the engine's clock at the wall clock: PostgreSQL checks VALID UNTIL against its own.
func targetIdentity(t *testing.T, factory Factory, name string) (engine.Engine, *pgFixture, context.Context, func(time.Duration)) {
	t.Helper()
	f := newPGFixture(t)
	e, clk, ctx := setup(t, factory)
	clk.Set(time.Now())
	must(t, e.PutTarget(ctx, f.target, f.password))
	id := ciIdentity(name)
	id.Target, id.Scopes = f.target.Name, []string{f.reader}
	_, err := e.CreateIdentity(ctx, id)
	must(t, err)
	return e, f, ctx, clk.Advance
}

func testTargetCredentials(t *testing.T, factory Factory) {
	e, f, ctx, advance := targetIdentity(t, factory, "ci-pg")
	cred, password, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg", Requester: "test"})
	must(t, err)
	if cred.Target != f.target.Name || !strings.HasPrefix(cred.Username, "nhi_ci-pg_") {
		t.Fatalf("credential %+v: want a login on %s named after its identity", cred, f.target.Name)
	}
	t.Cleanup(func() { _ = f.admin.DropLogin(context.Background(), cred.Username) })
	l, err := f.admin.Inspect(ctx, cred.Username)
	must(t, err)
	if !l.Exists || !l.ValidUntil.Equal(cred.ExpiresAt.Truncate(time.Microsecond)) || !slices.Equal(l.Roles, []string{f.reader}) ||
		!strings.Contains(l.Comment, "ci-pg") {
		t.Fatalf("login after issue = %+v; want VALID UNTIL %s and roles [%s]", l, cred.ExpiresAt, f.reader)
	}
	f.wantGrants(t, cred.Username, password)
	if id, err := e.Authenticate(ctx, password); err != nil || id != "ci-pg" {
		t.Errorf("Authenticate(the login's password) = %q, %v", id, err)
	}

	advance(10 * time.Minute)
	renewed, err := e.RenewCredential(ctx, cred.ID, password)
	must(t, err)
	if !renewed.ExpiresAt.After(cred.ExpiresAt) || renewed.ExpiresAt.After(renewed.HardExpiresAt) {
		t.Fatalf("renewal moved the expiry from %s to %s (hard expiry %s)", cred.ExpiresAt, renewed.ExpiresAt, renewed.HardExpiresAt)
	}
	l, err = f.admin.Inspect(ctx, cred.Username)
	must(t, err)
	if !l.ValidUntil.Equal(renewed.ExpiresAt.Truncate(time.Microsecond)) {
		t.Errorf("VALID UNTIL after renewal = %s, want %s", l.ValidUntil, renewed.ExpiresAt)
	}

	must(t, engine.RevokeCredentialOf(ctx, e, "ci-pg", cred.ID))
	f.wantGone(t, cred.Username, password)
	// Revoking again is no error, on the engine or the target.
	must(t, e.RevokeCredential(ctx, cred.ID))
}

func testTargetRetire(t *testing.T, factory Factory) {
	e, f, ctx, _ := targetIdentity(t, factory, "ci-pg-retired")
	var creds []engine.Credential
	var passwords []string
	for range 2 {
		c, p, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg-retired"})
		must(t, err)
		t.Cleanup(func() { _ = f.admin.DropLogin(context.Background(), c.Username) })
		creds, passwords = append(creds, c), append(passwords, p)
	}
	_, err := e.RetireIdentity(ctx, "ci-pg-retired")
	must(t, err)
	for i, c := range creds {
		f.wantGone(t, c.Username, passwords[i])
	}
}

// testTargetLoginRefused: a scope naming a role the target lacks makes the target refuse the
// login; the credential's record is revoked again and nothing stays live.
func testTargetLoginRefused(t *testing.T, factory Factory) {
	e, f, ctx, _ := targetIdentity(t, factory, "ci-pg-missing")
	id, err := e.GetIdentity(ctx, "ci-pg-missing")
	must(t, err)
	id.Scopes = []string{f.reader, acctest.Unique("no_such_role_")}
	_, err = e.UpdateIdentity(ctx, id)
	must(t, err)
	_, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: id.Name})
	if !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("IssueCredential with a scope the target lacks: %v, want ErrInvalid", err)
	}
	live, err := e.LiveCredentials(ctx, id.Name)
	must(t, err)
	if len(live) != 0 {
		t.Errorf("live credentials after a refused login: %+v", live)
	}
}
