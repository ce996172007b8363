package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

func TestVerifierMatches(t *testing.T) {
	v, err := postgres.Verifier("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") {
		t.Fatalf("verifier %q", v)
	}
	if match, ok := postgres.VerifierMatches(v, "s3cret"); !match || !ok {
		t.Errorf("VerifierMatches(own password) = %v, %v", match, ok)
	}
	if match, ok := postgres.VerifierMatches(v, "other"); match || !ok {
		t.Errorf("VerifierMatches(other password) = %v, %v", match, ok)
	}
	if _, ok := postgres.VerifierMatches("md5abcdef", "s3cret"); ok {
		t.Error("an md5 hash was taken for a SCRAM verifier")
	}
}

// TestLoginLifecycle runs every call of the target against the server of scripts/postgres-dev:
// a login that can SELECT what its role grants and nothing else, whose expiry moves, whose
// password changes, and which is gone after DropLogin, sessions included.
func TestLoginLifecycle(t *testing.T) {
	conn, adminPassword := acctest.Postgres(t)
	ctx := context.Background()
	p, err := postgres.New(conn, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	version, err := p.Check(ctx)
	if err != nil || !strings.HasPrefix(version, "15.") {
		t.Fatalf("Check = %q, %v; want a 15.x server", version, err)
	}

	reader, allowed, denied := acctest.Unique("reader_"), acctest.Unique("allowed_"), acctest.Unique("denied_")
	// A login and a role name with quotes and SQL in them: identifiers are quoted, not spliced.
	name := acctest.Unique(`nhi-"it's"; DROP ROLE x; `)
	acctest.PostgresExec(t, conn, adminPassword,
		"CREATE ROLE "+reader+" NOLOGIN",
		"CREATE TABLE "+allowed+" (n int)", "INSERT INTO "+allowed+" VALUES (1)",
		"CREATE TABLE "+denied+" (n int)",
		"GRANT SELECT ON "+allowed+" TO "+reader)
	t.Cleanup(func() {
		_ = p.DropLogin(ctx, name)
		acctest.PostgresExec(t, conn, adminPassword, "DROP TABLE "+allowed, "DROP TABLE "+denied, "DROP ROLE "+reader)
	})

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := p.CreateLogin(ctx, target.LoginSpec{Name: name, Password: "first-pw", ValidUntil: until, Roles: []string{reader},
		Comment: "nhi test"}); err != nil {
		t.Fatalf("CreateLogin: %v", err)
	}
	l, err := p.Inspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Exists || !l.CanLogin || !l.ValidUntil.Equal(until) || l.Infinite || len(l.Roles) != 1 || l.Roles[0] != reader || l.Comment != "nhi test" {
		t.Fatalf("Inspect after create = %+v", l)
	}
	if match, ok := postgres.VerifierMatches(l.Verifier, "first-pw"); !l.VerifierRead || !ok || !match {
		t.Errorf("stored verifier does not match the password (read %v, ok %v, match %v)", l.VerifierRead, ok, match)
	}

	listed, err := p.ListLogins(ctx, "nhi test")
	if err != nil || len(listed) != 1 || listed[0].Name != name || !listed[0].ValidUntil.Equal(until) || listed[0].Roles[0] != reader {
		t.Errorf("ListLogins(its comment) = %+v, %v; want the login alone", listed, err)
	}
	if match, checked, err := p.CheckPassword(ctx, name, "first-pw"); err != nil || !checked || !match {
		t.Errorf("CheckPassword(its password) = %v, %v, %v", match, checked, err)
	}
	if match, checked, err := p.CheckPassword(ctx, name, "other-pw"); err != nil || !checked || match {
		t.Errorf("CheckPassword(another password) = %v, %v, %v", match, checked, err)
	}
	c := acctest.PostgresConnect(t, conn, name, "first-pw")
	var n int
	if err := c.QueryRow(ctx, "SELECT n FROM "+allowed).Scan(&n); err != nil || n != 1 {
		t.Errorf("SELECT on the granted table: %d, %v", n, err)
	}
	if _, err := c.Exec(ctx, "SELECT n FROM "+denied); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("SELECT on a table the role does not grant: %v, want permission denied", err)
	}

	later := until.Add(30 * time.Minute)
	if err := p.ExtendLogin(ctx, name, later); err != nil {
		t.Fatal(err)
	}
	if l, _ := p.Inspect(ctx, name); !l.ValidUntil.Equal(later) {
		t.Errorf("VALID UNTIL after ExtendLogin = %s, want %s", l.ValidUntil, later)
	}

	if err := p.SetPassword(ctx, name, "second-pw"); err != nil {
		t.Fatal(err)
	}
	if err := p.Login(ctx, name, "first-pw"); !errors.Is(err, target.ErrUnreachable) || !errors.Is(err, target.ErrPasswordRefused) {
		t.Errorf("login with the replaced password: %v, want ErrPasswordRefused", err)
	}
	if err := p.Login(ctx, name, "second-pw"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}

	// The open session is terminated by the drop.
	if err := p.DropLogin(ctx, name); err != nil {
		t.Fatalf("DropLogin: %v", err)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("the login's session survived DropLogin")
	}
	if l, err := p.Inspect(ctx, name); err != nil || l.Exists {
		t.Errorf("Inspect after drop = %+v, %v; want no login", l, err)
	}
	if err := p.Login(ctx, name, "second-pw"); err == nil {
		t.Error("a dropped login still logs in")
	}
	if err := p.DropLogin(ctx, name); err != nil {
		t.Errorf("DropLogin of a missing login: %v", err)
	}
}

func TestExpiredLoginRefused(t *testing.T) {
	conn, adminPassword := acctest.Postgres(t)
	ctx := context.Background()
	p, _ := postgres.New(conn, adminPassword)
	name := acctest.Unique("nhi_expired_")
	if err := p.CreateLogin(ctx, target.LoginSpec{Name: name, Password: "pw", ValidUntil: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.DropLogin(ctx, name) })
	if err := p.Login(ctx, name, "pw"); err == nil {
		t.Error("a login past VALID UNTIL logged in")
	}
	if err := p.CreateLogin(ctx, target.LoginSpec{Name: acctest.Unique("nhi_"), Password: "pw", Roles: []string{acctest.Unique("no_such_role_")}}); !errors.Is(err, target.ErrRejected) {
		t.Errorf("CreateLogin with a missing role: %v, want ErrRejected", err)
	}
}

func TestCheckWrongPassword(t *testing.T) {
	conn, _ := acctest.Postgres(t)
	const wrong = "wrong-password-9f2c"
	p, _ := postgres.New(conn, wrong)
	_, err := p.Check(context.Background())
	if !errors.Is(err, target.ErrUnreachable) || !errors.Is(err, target.ErrPasswordRefused) {
		t.Errorf("Check with a wrong password: %v, want ErrUnreachable and ErrPasswordRefused", err)
	}
	if err != nil && strings.Contains(err.Error(), wrong) {
		t.Errorf("the error quotes the password: %v", err)
	}
	// A server that does not answer is unreachable, but no refused password.
	relay := acctest.NewPostgresRelay(t, conn)
	relay.Down()
	down, _ := postgres.New(relay.Conn, wrong)
	if err := down.Login(context.Background(), conn.Username, wrong); !errors.Is(err, target.ErrUnreachable) || errors.Is(err, target.ErrPasswordRefused) {
		t.Errorf("Login to a target that is down: %v, want ErrUnreachable only", err)
	}
}

// TestPrivilegedRolesRefused: a login or group role cannot be granted a role that is SUPERUSER,
// CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, nor one that is a member of such a role: the
// error names the role and why, and nothing is created or granted. A plain role with quotes and
// the check's own dollar tag in its name is granted.
func TestPrivilegedRolesRefused(t *testing.T) {
	f := acctest.NewPostgresFixture(t)
	conn, adminPassword, p, ctx := f.Conn, f.Password, f.Admin, context.Background()
	su, cr, member, plain := acctest.Unique("su_"), acctest.Unique("cr_"), acctest.Unique("member_"), acctest.Unique(`plain'$nhi$_`)
	login := acctest.Unique("nhi_priv_")
	acctest.PostgresExec(t, conn, adminPassword,
		"CREATE ROLE "+su+" NOLOGIN SUPERUSER", "CREATE ROLE "+cr+" NOLOGIN CREATEROLE BYPASSRLS",
		"CREATE ROLE "+member+" NOLOGIN IN ROLE "+su, `CREATE ROLE "`+strings.ReplaceAll(plain, `"`, `""`)+`" NOLOGIN`)
	t.Cleanup(func() {
		_ = p.DropLogin(ctx, login)
		acctest.PostgresExec(t, conn, adminPassword, "DROP ROLE "+member, "DROP ROLE "+su, "DROP ROLE "+cr, `DROP ROLE "`+plain+`"`)
	})
	for _, tc := range []struct {
		roles []string
		want  string
	}{
		{[]string{plain, su}, su + " is SUPERUSER"},
		{[]string{cr}, cr + " is CREATEROLE BYPASSRLS"},
		{[]string{member}, member + " (member of " + su + ") is SUPERUSER"},
	} {
		err := p.CreateLogin(ctx, target.LoginSpec{Name: login, Password: "pw-" + login, ValidUntil: time.Now().Add(time.Hour), Roles: tc.roles})
		if !errors.Is(err, target.ErrRejected) || !strings.Contains(err.Error(), "privileged roles cannot be scopes: "+tc.want) {
			t.Errorf("CreateLogin granted %v: %v; want it rejected saying %q", tc.roles, err, tc.want)
		}
		if l, err := p.Inspect(ctx, login); err != nil || l.Exists {
			t.Fatalf("login after a refused CreateLogin: %+v, %v", l, err)
		}
	}
	if err := p.CreateLogin(ctx, target.LoginSpec{Name: login, Password: "pw", ValidUntil: time.Now().Add(time.Hour), Roles: []string{plain}}); err != nil {
		t.Fatalf("CreateLogin granted a plain role: %v", err)
	}
	if err := p.SetRoles(ctx, login, []string{plain, member}); !errors.Is(err, target.ErrRejected) || !strings.Contains(err.Error(), member) {
		t.Errorf("SetRoles adding %s: %v; want it rejected naming it", member, err)
	}
	if l, err := p.Inspect(ctx, login); err != nil || len(l.Roles) != 1 || l.Roles[0] != plain {
		t.Errorf("roles after a refused SetRoles: %+v, %v; want only %s", l.Roles, err, plain)
	}
}
