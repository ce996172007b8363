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
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
)

// RunTargets runs the conformance suite of targets (nhi_target) against engines made by
// factory, on the PostgreSQL server of scripts/postgres-dev (skipped, saying so, without one).
func RunTargets(t *testing.T, factory Factory) {
	t.Run("TargetRecords", func(t *testing.T) { testTargetRecords(t, factory) })
}

// RunTargetCredentials runs the suite of dynamic credentials on a target: logins that grant
// exactly their scopes, expire with the credential, move with its renewals and go with its
// revocation.
func RunTargetCredentials(t *testing.T, factory Factory) {
	t.Run("TargetCredentials", func(t *testing.T) { testTargetCredentials(t, factory) })
	t.Run("TargetRetireDropsLogins", func(t *testing.T) { testTargetRetire(t, factory) })
	t.Run("TargetRetireTargetDown", func(t *testing.T) { testTargetRetireTargetDown(t, factory) })
	t.Run("TargetRenewRefused", func(t *testing.T) { testTargetRenewRefused(t, factory) })
	t.Run("TargetUnreachable", func(t *testing.T) { testTargetUnreachable(t, factory) })
	t.Run("TargetPrivilegedScope", func(t *testing.T) { testTargetPrivilegedScope(t, factory) })
	t.Run("TargetLoginRefused", func(t *testing.T) { testTargetLoginRefused(t, factory) })
	t.Run("TargetDrift", func(t *testing.T) { testTargetDrift(t, factory) })
}

func testTargetRecords(t *testing.T, factory Factory) {
	f := acctest.NewPostgresFixture(t)
	e, _, ctx := setup(t, factory)
	tg := engine.Target{Name: acctest.Unique("db-"), Connection: f.Conn, PasswordVersion: 1}

	// A password that the server refuses, and a first write without one: refused, nothing written.
	wantErr(t, e.PutTarget(ctx, tg, "not-the-password"), engine.ErrInvalid)
	_, err := e.GetTarget(ctx, tg.Name)
	wantErr(t, err, engine.ErrNotFound)
	wantErr(t, e.PutTarget(ctx, tg, ""), engine.ErrInvalid)
	_, err = e.GetTarget(ctx, tg.Name)
	wantErr(t, err, engine.ErrNotFound)
	bad := tg
	bad.Kind = "mysql"
	wantErr(t, e.PutTarget(ctx, bad, f.Password), engine.ErrInvalid)

	must(t, e.PutTarget(ctx, tg, f.Password))
	got, err := e.GetTarget(ctx, tg.Name)
	must(t, err)
	if got != tg {
		t.Fatalf("GetTarget = %+v, want %+v", got, tg)
	}
	version, err := e.CheckTarget(ctx, tg.Name)
	must(t, err)
	if !strings.HasPrefix(version, "15.") {
		t.Errorf("CheckTarget server version = %q, want 15.x", version)
	}
	// Rewritten without the password: the stored one stays in use; with another connection,
	// refused on every engine (the password belongs to the connection it was given for).
	must(t, e.PutTarget(ctx, tg, ""))
	moved := tg
	moved.Host = "localhost"
	wantErr(t, e.PutTarget(ctx, moved, ""), engine.ErrInvalid)
	got, err = e.GetTarget(ctx, tg.Name)
	must(t, err)
	if got != tg {
		t.Fatalf("a refused rewrite changed the target: %+v", got)
	}
	_, err = e.CheckTarget(ctx, tg.Name)
	must(t, err)
	_, err = e.CheckTarget(ctx, "no-such-target")
	wantErr(t, err, engine.ErrNotFound)

	// An active identity keeps its target; once it is retired the target goes.
	id := ciIdentity("ci-db")
	id.Target, id.Scopes = tg.Name, []string{f.Reader}
	_, err = e.CreateIdentity(ctx, id)
	must(t, err)
	wantErr(t, e.DeleteTarget(ctx, tg.Name), engine.ErrConflict)
	_, err = e.RetireIdentity(ctx, id.Name)
	must(t, err)
	wantDeletes(t, ctx, tg.Name, e.GetTarget, e.DeleteTarget)
	// An engine's inspector login (Vault's) goes with its target.
	if l, err := f.Admin.Inspect(ctx, engine.InspectorLoginName(tg.Name)); err != nil || l.Exists {
		t.Errorf("the inspector login of a deleted target: %+v, %v; want it dropped", l, err)
	}
}

// targetIdentity sets up f's target and an ephemeral identity on it whose one scope is f's role,
// with the engine's clock at the wall clock: PostgreSQL checks VALID UNTIL against its own (and
// Vault sets it from its own). sync moves the engine's clock to the wall clock again.
func targetIdentity(t *testing.T, factory Factory, name string) (e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, sync func()) {
	t.Helper()
	f = acctest.NewPostgresFixture(t)
	e, ctx, sync = targetIdentityAt(t, factory, f, f.Conn, name)
	return e, f, ctx, sync
}

// relayedTargetIdentity is targetIdentity with the target reached through a relay that the test
// takes down and brings back (acctest.PostgresRelay); f.Admin still reaches the server directly.
func relayedTargetIdentity(t *testing.T, factory Factory, name string) (engine.Engine, *acctest.PostgresFixture, *acctest.PostgresRelay, context.Context) {
	t.Helper()
	f := acctest.NewPostgresFixture(t)
	relay := acctest.NewPostgresRelay(t, f.Conn)
	e, ctx, _ := targetIdentityAt(t, factory, f, relay.Conn, name)
	return e, f, relay, ctx
}

func targetIdentityAt(t *testing.T, factory Factory, f *acctest.PostgresFixture, conn target.Connection, name string) (e engine.Engine, ctx context.Context, sync func()) {
	t.Helper()
	e, clk, ctx := setup(t, factory)
	sync = func() { clk.Set(time.Now()) }
	sync()
	must(t, e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: conn, PasswordVersion: 1}, f.Password))
	id := ciIdentity(name)
	id.Target, id.Scopes = f.Target, []string{f.Reader}
	_, err := e.CreateIdentity(ctx, id)
	must(t, err)
	return e, ctx, sync
}

func testTargetCredentials(t *testing.T, factory Factory) {
	e, f, ctx, sync := targetIdentity(t, factory, "ci-pg")
	cred, password, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg", Requester: "test"})
	must(t, err)
	if cred.Target != f.Target || !strings.HasPrefix(cred.Username, "nhi_ci-pg_") {
		t.Fatalf("credential %+v: want a login on %s named after its identity", cred, f.Target)
	}
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), cred.Username) })
	l, err := f.Admin.Inspect(ctx, cred.Username)
	must(t, err)
	if !l.Exists || !acctest.ValidUntil(l, cred.ExpiresAt) || !slices.Equal(l.Roles, []string{f.Reader}) ||
		!strings.Contains(l.Comment, "ci-pg") {
		t.Fatalf("login after issue = %+v; want VALID UNTIL %s and roles [%s]", l, cred.ExpiresAt, f.Reader)
	}
	must(t, f.WantGrants(cred.Username, password))
	_, err = e.RenewCredential(ctx, cred.ID, "not-the-password")
	wantErr(t, err, engine.ErrDenied)

	// A renewal a little later moves VALID UNTIL: both clocks pass a whole second first, as
	// Vault sets VALID UNTIL in whole seconds.
	time.Sleep(1100 * time.Millisecond)
	sync()
	renewed, err := e.RenewCredential(ctx, cred.ID, password)
	must(t, err)
	if !renewed.ExpiresAt.After(cred.ExpiresAt) || renewed.ExpiresAt.After(renewed.HardExpiresAt) || renewed.RenewCount != 1 {
		t.Fatalf("renewal moved the expiry from %s to %s (hard expiry %s), count %d", cred.ExpiresAt, renewed.ExpiresAt, renewed.HardExpiresAt, renewed.RenewCount)
	}
	before := l.ValidUntil
	l, err = f.Admin.Inspect(ctx, cred.Username)
	must(t, err)
	if !acctest.ValidUntil(l, renewed.ExpiresAt) || !l.ValidUntil.After(before) {
		t.Errorf("VALID UNTIL after renewal = %s (before %s), want %s", l.ValidUntil, before, renewed.ExpiresAt)
	}

	must(t, engine.RevokeCredentialOf(ctx, e, "ci-pg", cred.ID))
	must(t, f.WantGone(cred.Username, password))
	// Revoking again is no error, on the engine or the target.
	must(t, e.RevokeCredential(ctx, cred.ID))
}

func testTargetRetire(t *testing.T, factory Factory) {
	e, f, ctx, _ := targetIdentity(t, factory, "ci-pg-retired")
	creds, passwords := issueTwo(t, e, f, ctx, "ci-pg-retired")
	_, err := e.RetireIdentity(ctx, "ci-pg-retired")
	must(t, err)
	for i, c := range creds {
		must(t, f.WantGone(c.Username, passwords[i]))
	}
}

// issueTwo issues two credentials to identity on f's target, their logins dropped when the test
// ends, and returns them with their passwords.
func issueTwo(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, identity string) ([]engine.Credential, []string) {
	t.Helper()
	var creds []engine.Credential
	var passwords []string
	for range 2 {
		c, p, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: identity})
		must(t, err)
		t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), c.Username) })
		creds, passwords = append(creds, c), append(passwords, p)
	}
	return creds, passwords
}

// testTargetRetireTargetDown: a retire while the target is down fails, having revoked the
// credentials in the engine; the next retire, with the target back, drops the logins that the
// engine made for the identity (found on the target by their comment, not from its credentials,
// which the first retire ended).
func testTargetRetireTargetDown(t *testing.T, factory Factory) {
	e, f, relay, ctx := relayedTargetIdentity(t, factory, "ci-pg-retire-down")
	creds, passwords := issueTwo(t, e, f, ctx, "ci-pg-retire-down")
	relay.Down()
	// A close that cannot reach the target fails, the same on every engine.
	wantErr(t, engine.RevokeCredentialOf(ctx, e, "ci-pg-retire-down", creds[0].ID), engine.ErrUnavailable)
	if _, err := e.RetireIdentity(ctx, "ci-pg-retire-down"); err == nil {
		t.Fatal("RetireIdentity with its target down succeeded; want an error saying the logins were not dropped")
	}
	relay.Up()
	_, err := e.RetireIdentity(ctx, "ci-pg-retire-down")
	must(t, err)
	for i, c := range creds {
		must(t, f.WantGone(c.Username, passwords[i]))
	}
}

// testTargetRenewRefused: a renewal that the target refuses (it is down) fails and spends none
// of the credential's renewal budget; once the target is back the renewal goes through.
func testTargetRenewRefused(t *testing.T, factory Factory) {
	e, f, relay, ctx := relayedTargetIdentity(t, factory, "ci-pg-renew-down")
	cred, password, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg-renew-down"})
	must(t, err)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), cred.Username) })
	relay.Down()
	if _, err := e.RenewCredential(ctx, cred.ID, password); err == nil {
		t.Fatal("RenewCredential with its target down succeeded")
	}
	relay.Up()
	live, err := e.LiveCredentials(ctx, cred.Identity)
	must(t, err)
	i := slices.IndexFunc(live, func(c engine.Credential) bool { return c.ID == cred.ID })
	if i < 0 || live[i].RenewCount != 0 || !live[i].ExpiresAt.Equal(cred.ExpiresAt) {
		t.Fatalf("credential after a refused renewal: %+v; want it live, renewed 0 times, expiring at %s", live, cred.ExpiresAt)
	}
	renewed, err := e.RenewCredential(ctx, cred.ID, password)
	must(t, err)
	if renewed.RenewCount != 1 {
		t.Errorf("renewal after the target came back: count %d, want 1", renewed.RenewCount)
	}
}

// testTargetUnreachable: a target that does not answer fails neither the refresh of an identity
// on it nor the fleet's report: each says, as a medium target-unchecked finding about the
// identity, that its logins were not checked, and the report's other findings stay (an identity
// elsewhere). Once the target answers again the finding goes.
func testTargetUnreachable(t *testing.T, factory Factory) {
	e, f, relay, ctx := relayedTargetIdentity(t, factory, "ci-pg-down")
	cred, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg-down"})
	must(t, err)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), cred.Username) })
	// An identity on no target, whose finding (no owner) must survive the outage in the report.
	other := ciIdentity("ci-pg-elsewhere")
	other.Owner = ""
	_, err = e.CreateIdentity(ctx, other)
	must(t, err)
	unchecked := func(what string, fleet policy.Fleet, want bool) {
		t.Helper()
		var got []policy.Finding
		for _, fd := range policy.Drift(fleet).Findings {
			if fd.Rule == policy.RuleTargetUnchecked {
				got = append(got, fd)
			}
		}
		switch {
		case !want && len(got) > 0:
			t.Errorf("%s: %+v; want no %s finding", what, got, policy.RuleTargetUnchecked)
		case want && (len(got) != 1 || got[0].Subject != "identity/ci-pg-down" || got[0].Severity != policy.SeverityMedium ||
			got[0].Object != "target/"+f.Target):
			t.Errorf("%s: %+v; want one medium %s finding about identity/ci-pg-down, target/%s", what, got, policy.RuleTargetUnchecked, f.Target)
		}
	}
	relay.Down()
	fleet, err := engine.ReadObserved(ctx, e, "ci-pg-down", time.Now())
	must(t, err)
	unchecked("refresh with the target down", fleet, true)
	fleet, err = engine.Observe(ctx, e, time.Now())
	must(t, err)
	unchecked("fleet report with the target down", fleet, true)
	if len(policy.Drift(fleet).About("ci-pg-elsewhere")) == 0 {
		t.Error("fleet report with the target down: the other identity's findings are missing")
	}
	relay.Up()
	fleet, err = engine.ReadObserved(ctx, e, "ci-pg-down", time.Now())
	must(t, err)
	unchecked("refresh with the target back", fleet, false)
	fleet, err = engine.Observe(ctx, e, time.Now())
	must(t, err)
	unchecked("fleet report with the target back", fleet, false)
}

// privilegedScope makes a role on f's server that is a member of a SUPERUSER role, dropped when
// the test ends, and adds it to identity's scopes: a scope that the engines must refuse to
// grant. The update itself is accepted (the plan cannot check it).
func privilegedScope(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, identity string) string {
	t.Helper()
	su, member := acctest.Unique("su_"), acctest.Unique("member_")
	acctest.PostgresExec(t, f.Conn, f.Password, "CREATE ROLE "+su+" NOLOGIN SUPERUSER", "CREATE ROLE "+member+" NOLOGIN IN ROLE "+su)
	t.Cleanup(func() { acctest.PostgresExec(t, f.Conn, f.Password, "DROP ROLE "+member, "DROP ROLE "+su) })
	id, err := e.GetIdentity(ctx, identity)
	must(t, err)
	id.Scopes = []string{f.Reader, member}
	_, err = e.UpdateIdentity(ctx, id)
	must(t, err)
	return member
}

// wantPrivilegedRefused checks that err is the refusal of scope role, the same on every engine.
func wantPrivilegedRefused(t *testing.T, err error, role string) {
	t.Helper()
	if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "privileged roles cannot be scopes: "+role+" (member of ") {
		t.Fatalf("granting privileged scope %s: %v; want ErrInvalid naming it", role, err)
	}
}

// testTargetPrivilegedScope: a scope that is a privileged role (here a member of a SUPERUSER
// role) is refused at issue, with an error naming it, and no login is left.
func testTargetPrivilegedScope(t *testing.T, factory Factory) {
	e, f, ctx, _ := targetIdentity(t, factory, "ci-pg-privileged")
	role := privilegedScope(t, e, f, ctx, "ci-pg-privileged")
	_, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg-privileged"})
	wantPrivilegedRefused(t, err, role)
	live, err := e.LiveCredentials(ctx, "ci-pg-privileged")
	must(t, err)
	observer, ok := e.(engine.LoginObserver)
	if !ok {
		t.Fatalf("%T is no engine.LoginObserver", e)
	}
	logins, err := observer.ObserveLogins(ctx, "ci-pg-privileged")
	must(t, err)
	if len(live) != 0 || len(logins) != 0 {
		t.Errorf("after a refused issue: live credentials %+v, logins %+v; want none", live, logins)
	}
}

// testTargetLoginRefused: a scope naming a role the target lacks makes the target refuse the
// login; the credential's record is revoked again and nothing stays live.
func testTargetLoginRefused(t *testing.T, factory Factory) {
	e, f, ctx, _ := targetIdentity(t, factory, "ci-pg-missing")
	id, err := e.GetIdentity(ctx, "ci-pg-missing")
	must(t, err)
	id.Scopes = []string{f.Reader, acctest.Unique("no_such_role_")}
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

// testTargetDrift changes a target by hand: a login left behind with the provider's marker, a
// live credential's login made valid forever and granted another role. Each is a finding of the
// identity's refresh and of the fleet's report. The next issue repairs what the engine owns (the
// orphan dropped, VALID UNTIL set back to the hard expiry) and leaves another engine's login
// alone; closing the credential drops the login with the extra grant.
func testTargetDrift(t *testing.T, factory Factory) {
	e, f, ctx, sync := targetIdentity(t, factory, "ci-pg-drift")
	observer, ok := e.(engine.LoginObserver)
	if !ok {
		t.Fatalf("%T is no engine.LoginObserver: it cannot check drift on targets", e)
	}
	cred, password, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg-drift"})
	must(t, err)
	orphan, extra, foreign := acctest.Unique("nhi_ci-pg-drift_"), acctest.Unique("extra_"), acctest.Unique("nhi_ci-pg-drift_")
	t.Cleanup(func() {
		_ = f.Admin.DropLogin(context.Background(), cred.Username)
		_ = f.Admin.DropLogin(context.Background(), orphan)
		_ = f.Admin.DropLogin(context.Background(), foreign)
		acctest.PostgresExec(t, f.Conn, f.Password, "DROP ROLE IF EXISTS "+extra)
	})
	acctest.PostgresExec(t, f.Conn, f.Password,
		"CREATE ROLE \""+orphan+"\" LOGIN",
		"COMMENT ON ROLE \""+orphan+"\" IS '"+engine.LoginComment(observer.LoginOwner(), "ci-pg-drift", "cred-gone")+"'",
		// Another engine's login for an identity of the same name: not this engine's to judge.
		"CREATE ROLE \""+foreign+"\" LOGIN",
		"COMMENT ON ROLE \""+foreign+"\" IS '"+engine.LoginComment("another engine", "ci-pg-drift", "cred-other")+"'",
		"CREATE ROLE "+extra+" NOLOGIN",
		"GRANT "+extra+" TO \""+cred.Username+"\"",
		"ALTER ROLE \""+cred.Username+"\" VALID UNTIL 'infinity'")

	wantRules := func(what string, fleet policy.Fleet, want ...string) {
		t.Helper()
		var got []string
		for _, fd := range policy.Drift(fleet).About("ci-pg-drift") {
			if strings.HasPrefix(fd.Object, "login/") {
				got = append(got, fd.Rule+" "+strings.TrimPrefix(fd.Object, "login/"))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: login findings %q, want %q", what, got, want)
		}
	}
	drifted := []string{policy.RuleOrphanedLogin + " " + orphan, policy.RuleLoginValidityAboveHard + " " + cred.Username,
		policy.RulePrivilegeEscalation + " " + cred.Username}
	fleet, err := engine.ReadObserved(ctx, e, "ci-pg-drift", time.Now())
	must(t, err)
	wantRules("refresh", fleet, drifted...)
	fleet, err = engine.Observe(ctx, e, time.Now())
	must(t, err)
	wantRules("fleet report", fleet, drifted...)

	// The next issue repairs what the engine owns: the orphan goes, VALID UNTIL comes back.
	sync()
	second, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-pg-drift"})
	must(t, err)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), second.Username) })
	fleet, err = engine.ReadObserved(ctx, e, "ci-pg-drift", time.Now())
	must(t, err)
	wantRules("after the next issue", fleet, policy.RulePrivilegeEscalation+" "+cred.Username)
	if l, err := f.Admin.Inspect(ctx, orphan); err != nil || l.Exists {
		t.Errorf("orphaned login after the next issue: %+v, %v", l, err)
	}
	if l, err := f.Admin.Inspect(ctx, cred.Username); err != nil || !acctest.ValidUntil(l, cred.HardExpiresAt) {
		t.Errorf("the live login's VALID UNTIL after the next issue: %+v, %v; want its hard expiry %s", l, err, cred.HardExpiresAt)
	}
	if l, err := f.Admin.Inspect(ctx, foreign); err != nil || !l.Exists {
		t.Errorf("another engine's login after the next issue: %+v, %v; want it left alone", l, err)
	}
	// Closing the credential drops its login, extra grant and all.
	must(t, engine.RevokeCredentialOf(ctx, e, "ci-pg-drift", cred.ID))
	must(t, f.WantGone(cred.Username, password))
	fleet, err = engine.ReadObserved(ctx, e, "ci-pg-drift", time.Now())
	must(t, err)
	wantRules("after close", fleet)
}

// RunTargetRotation runs the suite of rotated passwords of persistent identities on a target:
// one login whose password each rotation replaces, and alternating logins with an overlap.
func RunTargetRotation(t *testing.T, factory Factory) {
	t.Run("TargetRotationOneLogin", func(t *testing.T) { testTargetRotationOneLogin(t, factory) })
	t.Run("TargetRotationAlternating", func(t *testing.T) { testTargetRotationAlternating(t, factory) })
	t.Run("TargetRotatedLoginNotTakenOver", func(t *testing.T) { testTargetRotatedLoginNotTakenOver(t, factory) })
	t.Run("TargetRotationPrivilegedScope", func(t *testing.T) { testTargetRotationPrivilegedScope(t, factory) })
	t.Run("TargetRotatedPasswordChanged", func(t *testing.T) { testTargetRotatedPasswordChanged(t, factory) })
	t.Run("TargetRotationNoClearPassword", func(t *testing.T) { testTargetRotationNoClearPassword(t, factory) })
}

// testTargetRotationPrivilegedScope: staging the rotated secret of a persistent identity whose
// scopes name a privileged role is refused with an error naming it, and no role is made, with
// one login and with alternating logins.
func testTargetRotationPrivilegedScope(t *testing.T, factory Factory) {
	eachStrategy(t, factory, "svc-pg-privileged", func(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, name, _ string) {
		role := privilegedScope(t, e, f, ctx, name)
		_, _, err := e.StageSecret(ctx, name, 32)
		wantPrivilegedRefused(t, err, role)
		base := engine.RotatedLoginName(name)
		for _, login := range []string{base + "_a", base + "_b", base} {
			if l, err := f.Admin.Inspect(ctx, login); err != nil || l.Exists {
				t.Errorf("role %s after a refused staging: %+v, %v", login, l, err)
			}
		}
	})
}

// eachStrategy runs test with one login and with alternating logins, each on its own persistent
// identity (targetPersistent) named prefix + "-one" or "-alt".
func eachStrategy(t *testing.T, factory Factory, prefix string, test func(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, name, strategy string)) {
	for _, strategy := range []string{"", policy.StrategyAlternating} {
		name := prefix + "-one"
		if strategy == policy.StrategyAlternating {
			name = prefix + "-alt"
		}
		t.Run(name, func(t *testing.T) {
			e, f, ctx := targetPersistent(t, factory, name, strategy)
			test(t, e, f, ctx, name, strategy)
		})
	}
}

// targetPersistent sets up f's target and a persistent identity on it whose one scope is f's
// role, with a rotation schedule of strategy, at the wall clock.
func targetPersistent(t *testing.T, factory Factory, name, strategy string) (engine.Engine, *acctest.PostgresFixture, context.Context) {
	t.Helper()
	f := acctest.NewPostgresFixture(t)
	e, clk, ctx := setup(t, factory)
	clk.Set(time.Now())
	must(t, e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: f.Conn, PasswordVersion: 1}, f.Password))
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc", Target: f.Target, Scopes: []string{f.Reader}})
	must(t, err)
	must(t, e.PutRotationSchedule(ctx, policy.RotationSchedule{Identity: name, Interval: policy.Day, Verify: true, SecretLength: 32, Strategy: strategy}))
	base := engine.RotatedLoginName(name)
	t.Cleanup(func() {
		for _, l := range []string{base + "_a", base + "_b", base} {
			_ = f.Admin.DropLogin(context.Background(), l)
		}
	})
	return e, f, ctx
}

// testTargetRotatedLoginNotTakenOver: a role that holds the name of an identity's rotated login
// (the one login, or an alternating login) but was not made by this engine (made by hand here) is
// never taken over: staging a secret on it is refused with ErrConflict and leaves its password
// alone, and retiring the identity does not drop it.
func testTargetRotatedLoginNotTakenOver(t *testing.T, factory Factory) {
	eachStrategy(t, factory, "svc-taken", func(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, name, strategy string) {
		login := engine.RotatedLoginName(name)
		if strategy == policy.StrategyAlternating {
			login += "_a"
		}
		acctest.PostgresExec(t, f.Conn, f.Password, `CREATE ROLE "`+login+`" LOGIN PASSWORD 'made-by-hand'`)
		_, _, err := e.StageSecret(ctx, name, 32)
		wantErr(t, err, engine.ErrConflict)
		if err := f.Admin.Login(ctx, login, "made-by-hand"); err != nil {
			t.Fatalf("the hand-made role's password was changed: %v", err)
		}
		if vs, err := e.ListSecretVersions(ctx, name); err != nil || len(vs) != 0 {
			t.Errorf("versions after a refused staging: %+v, %v; want none", vs, err)
		}
		_, err = e.RetireIdentity(ctx, name)
		must(t, err)
		if l, err := f.Admin.Inspect(ctx, login); err != nil || !l.Exists {
			t.Fatalf("retiring the identity dropped the hand-made role: %+v, %v", l, err)
		}
	})
}

// rotate stages a version, verifies it by authenticating, and promotes it with overlap.
func rotate(t *testing.T, e engine.Engine, ctx context.Context, identity string, overlap time.Duration) string {
	t.Helper()
	v, secret, err := e.StageSecret(ctx, identity, 32)
	must(t, err)
	who, err := e.Authenticate(ctx, secret)
	must(t, err)
	if who != identity {
		t.Fatalf("Authenticate(staged) = %q, want %q", who, identity)
	}
	_, err = e.PromoteSecret(ctx, identity, v.Version, engine.PromoteOptions{Overlap: overlap})
	must(t, err)
	return secret
}

func testTargetRotationOneLogin(t *testing.T, factory Factory) {
	e, f, ctx := targetPersistent(t, factory, "svc-pg", "")
	login := engine.RotatedLoginName("svc-pg")
	// A first version rolled back (its verification failed) leaves no password that logs in.
	v, discarded, err := e.StageSecret(ctx, "svc-pg", 32)
	must(t, err)
	must(t, e.DiscardSecret(ctx, "svc-pg", v.Version))
	if err := f.Admin.Login(ctx, login, discarded); err == nil {
		t.Error("a discarded first version's password logs in")
	}
	first := rotate(t, e, ctx, "svc-pg", 0)
	must(t, f.WantGrants(login, first))

	// A rotation replaces the password: the new one logs in, the old one no more.
	second := rotate(t, e, ctx, "svc-pg", 0)
	must(t, f.WantGrants(login, second))
	if err := f.Admin.Login(ctx, login, first); err == nil {
		t.Error("the replaced password still logs in")
	}
	// A password changed on the target by hand is a finding (TargetRotatedPasswordChanged). A
	// password set by hand with an MD5 verifier is one too where the engine checks by logging in
	// (Vault); where it compares verifiers (the local engine), it cannot compare an MD5 one and
	// says so.
	if _, ok := e.(engine.LoginObserver); ok {
		wantPasswordChecked(t, e, ctx, "svc-pg", login)
		acctest.PostgresExec(t, f.Conn, f.Password, `ALTER ROLE "`+login+`" PASSWORD 'changed-by-hand'`)
		wantPasswordFinding(t, e, ctx, "svc-pg", true)
		acctest.PostgresExec(t, f.Conn, f.Password, "SET password_encryption = 'md5'", `ALTER ROLE "`+login+`" PASSWORD 'md5-by-hand'`)
		if why := rotatedObservation(t, e, ctx, "svc-pg", login).PasswordUnchecked; why != policy.PasswordNotSCRAM {
			wantPasswordFinding(t, e, ctx, "svc-pg", true)
		}
		second = rotate(t, e, ctx, "svc-pg", 0) // the next rotation puts a password the provider controls back
		wantPasswordFinding(t, e, ctx, "svc-pg", false)

		// A rotated secret grants the identity's scopes as they are now: a scope removed is
		// revoked from its login at the update; a role granted by hand is a privilege escalation
		// until the next update takes it back.
		extra := acctest.Unique("extra_")
		acctest.PostgresExec(t, f.Conn, f.Password, "CREATE ROLE "+extra+" NOLOGIN")
		t.Cleanup(func() { acctest.PostgresExec(t, f.Conn, f.Password, "DROP ROLE IF EXISTS "+extra) })
		id, err := e.GetIdentity(ctx, "svc-pg")
		must(t, err)
		id.Scopes = []string{f.Reader, extra}
		_, err = e.UpdateIdentity(ctx, id)
		must(t, err)
		if l, err := f.Admin.Inspect(ctx, login); err != nil || !slices.Equal(l.Roles, slices.Sorted(slices.Values(id.Scopes))) {
			t.Errorf("login roles after a scope was added: %+v, %v; want %v", l.Roles, err, id.Scopes)
		}
		id.Scopes = []string{f.Reader}
		_, err = e.UpdateIdentity(ctx, id)
		must(t, err)
		must(t, f.WantGrants(login, second))
		acctest.PostgresExec(t, f.Conn, f.Password, "GRANT "+extra+` TO "`+login+`"`)
		wantRule(t, e, ctx, "svc-pg", policy.RulePrivilegeEscalation, true)
		_, err = e.UpdateIdentity(ctx, id)
		must(t, err)
		wantRule(t, e, ctx, "svc-pg", policy.RulePrivilegeEscalation, false)
	}
	// One login holds one password: an overlap is refused, and nothing changes.
	v, third, err := e.StageSecret(ctx, "svc-pg", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-pg", v.Version, engine.PromoteOptions{Overlap: time.Hour})
	wantErr(t, err, engine.ErrInvalid)
	must(t, e.DiscardSecret(ctx, "svc-pg", v.Version))
	must(t, f.WantGrants(login, second))
	if err := f.Admin.Login(ctx, login, third); err == nil {
		t.Error("a discarded password logs in")
	}

	// A verification that fails (the target refuses the login, here made expired by hand) keeps
	// the old password current once the staged version is discarded: the rollback.
	v, fourth, err := e.StageSecret(ctx, "svc-pg", 32)
	must(t, err)
	acctest.PostgresExec(t, f.Conn, f.Password, `ALTER ROLE "`+login+`" VALID UNTIL '2000-01-01'`)
	_, err = e.Authenticate(ctx, fourth)
	wantErr(t, err, engine.ErrDenied)
	must(t, e.DiscardSecret(ctx, "svc-pg", v.Version))
	must(t, f.WantGrants(login, second))
	cur, value, err := e.CurrentSecret(ctx, "svc-pg")
	must(t, err)
	if value != second {
		t.Errorf("current secret after the rollback is version %d, not the one before the failed rotation", cur.Version)
	}

	// Turning the schedule alternating: the one login becomes the group of two logins taking
	// turns, and stops logging in itself.
	must(t, e.PutRotationSchedule(ctx, policy.RotationSchedule{Identity: "svc-pg", Interval: policy.Day, Verify: true, SecretLength: 32,
		Strategy: policy.StrategyAlternating}))
	alternate := rotate(t, e, ctx, "svc-pg", time.Hour)
	must(t, f.WantGrants(login+"_a", alternate))
	if err := f.Admin.Login(ctx, login, second); err == nil {
		t.Error("the one login still logs in once the schedule alternates")
	}

	// Retiring the identity drops its logins.
	_, err = e.RetireIdentity(ctx, "svc-pg")
	must(t, err)
	must(t, f.WantGone(login, second))
	must(t, f.WantGone(login+"_a", alternate))
}

func testTargetRotationAlternating(t *testing.T, factory Factory) {
	e, f, ctx := targetPersistent(t, factory, "svc-pg-alt", policy.StrategyAlternating)
	base := engine.RotatedLoginName("svc-pg-alt")
	first := rotate(t, e, ctx, "svc-pg-alt", 0)
	must(t, f.WantGrants(base+"_a", first))

	// The group role holds the identity's scopes as they are now: an update grants a scope added
	// and revokes a scope removed.
	extra := acctest.Unique("extra_")
	acctest.PostgresExec(t, f.Conn, f.Password, "CREATE ROLE "+extra+" NOLOGIN")
	t.Cleanup(func() { acctest.PostgresExec(t, f.Conn, f.Password, "DROP ROLE IF EXISTS "+extra) })
	id, err := e.GetIdentity(ctx, "svc-pg-alt")
	must(t, err)
	for _, scopes := range [][]string{{f.Reader, extra}, {f.Reader}} {
		id.Scopes = scopes
		_, err = e.UpdateIdentity(ctx, id)
		must(t, err)
		if g, err := f.Admin.Inspect(ctx, base); err != nil || !slices.Equal(g.Roles, slices.Sorted(slices.Values(scopes))) {
			t.Errorf("group role's roles after an update to scopes %v: %+v, %v", scopes, g.Roles, err)
		}
	}
	must(t, f.WantGrants(base+"_a", first))

	// A role granted by hand to an alternating login itself (not its group) is a
	// privilege-escalation finding on that login, in the refresh and in the fleet's report.
	acctest.PostgresExec(t, f.Conn, f.Password, "GRANT "+extra+" TO \""+base+"_a\"")
	wantLoginEscalation(t, e, ctx, "svc-pg-alt", base+"_a", true)
	acctest.PostgresExec(t, f.Conn, f.Password, "REVOKE "+extra+" FROM \""+base+"_a\"")
	wantLoginEscalation(t, e, ctx, "svc-pg-alt", base+"_a", false)

	// The next version goes to the other login; the first still logs in during the overlap, and
	// its login is VALID UNTIL the overlap's end.
	// The overlap leaves room for a loaded machine (a login costs a SCRAM exchange); the wait
	// below ends at the login's own VALID UNTIL, not after a fixed time.
	const overlap = 8 * time.Second
	second := rotate(t, e, ctx, "svc-pg-alt", overlap)
	must(t, f.WantGrants(base+"_b", second))
	must(t, f.WantGrants(base+"_a", first))
	l, err := f.Admin.Inspect(ctx, base+"_a")
	must(t, err)
	if l.Infinite || l.ValidUntil.IsZero() || l.ValidUntil.After(time.Now().Add(overlap+time.Second)) {
		t.Errorf("the previous login is VALID UNTIL %s (infinite %v), want the overlap's end", l.ValidUntil, l.Infinite)
	}
	// After the overlap (by PostgreSQL's clock) the previous login no longer logs in.
	time.Sleep(time.Until(l.ValidUntil) + 500*time.Millisecond)
	if err := f.Admin.Login(ctx, base+"_a", first); err == nil {
		t.Error("the previous login still logs in after the overlap")
	}
	// The third version takes the first login back; a rollback of a staged version stops it.
	v, third, err := e.StageSecret(ctx, "svc-pg-alt", 32)
	must(t, err)
	must(t, f.WantGrants(base+"_a", third))
	must(t, e.DiscardSecret(ctx, "svc-pg-alt", v.Version))
	if err := f.Admin.Login(ctx, base+"_a", third); err == nil {
		t.Error("a discarded version's login still logs in")
	}
	must(t, f.WantGrants(base+"_b", second))

	_, err = e.RetireIdentity(ctx, "svc-pg-alt")
	must(t, err)
	for _, login := range []string{base + "_a", base + "_b", base} {
		if l, err := f.Admin.Inspect(ctx, login); err != nil || l.Exists {
			t.Errorf("role %s after retirement: %+v, %v", login, l, err)
		}
	}
}

// testTargetRotatedPasswordChanged: the current login of a rotated secret that no longer holds
// the current secret (its password changed on the target by hand) is a target-password-changed
// finding on every engine, with one login and with alternating logins; the next rotation clears
// it. A target that does not answer is no such finding but target-unchecked.
func testTargetRotatedPasswordChanged(t *testing.T, factory Factory) {
	eachStrategy(t, factory, "svc-pw", func(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, name, strategy string) {
		if _, ok := e.(engine.LoginObserver); !ok {
			t.Skip("the engine observes no logins on targets")
		}
		login := engine.RotatedLoginName(name)
		if strategy == policy.StrategyAlternating {
			login += "_a"
		}
		rotate(t, e, ctx, name, 0)
		wantPasswordChecked(t, e, ctx, name, login)
		acctest.PostgresExec(t, f.Conn, f.Password, `ALTER ROLE "`+login+`" PASSWORD 'changed-by-hand'`)
		wantPasswordFinding(t, e, ctx, name, true)
		next := rotate(t, e, ctx, name, 0)
		wantPasswordFinding(t, e, ctx, name, false)
		if strategy == policy.StrategyAlternating {
			login = engine.RotatedLoginName(name) + "_b"
		}
		must(t, f.WantGrants(login, next))
		wantPasswordChecked(t, e, ctx, name, login)

		// The target reached through a relay that goes down: target-unchecked, no password finding.
		relay := acctest.NewPostgresRelay(t, f.Conn)
		must(t, e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: relay.Conn, PasswordVersion: 2}, f.Password))
		wantPasswordChecked(t, e, ctx, name, login)
		relay.Down()
		wantRule(t, e, ctx, name, policy.RuleTargetUnchecked, true)
		wantPasswordFinding(t, e, ctx, name, false)
		relay.Up()
		wantPasswordChecked(t, e, ctx, name, login)
	})
}

// testTargetRotationNoClearPassword: the passwords of a rotated secret reach PostgreSQL only as
// SCRAM verifiers, with one login and with alternating logins, staged, promoted or rolled back:
// the test server logs every statement (scripts/postgres-dev, log_statement=all), and its log
// holds the statements that set the login's verifier but none of the passwords.
func testTargetRotationNoClearPassword(t *testing.T, factory Factory) {
	eachStrategy(t, factory, "svc-clear", func(t *testing.T, e engine.Engine, f *acctest.PostgresFixture, ctx context.Context, name, strategy string) {
		acctest.PostgresLog(t) // skips without the server's log
		passwords := []string{rotate(t, e, ctx, name, 0), rotate(t, e, ctx, name, 0)}
		v, discarded, err := e.StageSecret(ctx, name, 32)
		must(t, err)
		must(t, e.DiscardSecret(ctx, name, v.Version))
		passwords = append(passwords, discarded)
		login := engine.RotatedLoginName(name)
		if strategy == policy.StrategyAlternating {
			login += "_a"
		}
		log := acctest.PostgresLog(t)
		for i, pw := range passwords {
			if strings.Contains(log, pw) {
				t.Errorf("the server's log holds password %d of identity %s in clear", i+1, name)
			}
		}
		if setVerifier := `ALTER ROLE "` + login + `" LOGIN PASSWORD 'SCRAM-SHA-256$`; !strings.Contains(log, setVerifier) {
			t.Errorf("the server's log holds no statement setting the verifier of login %s (%q): is log_statement=all on?", login, setVerifier)
		}
	})
}

// wantPasswordChecked checks that the refresh of identity compared its current login's password
// with the current secret and found it held.
func wantPasswordChecked(t *testing.T, e engine.Engine, ctx context.Context, identity, login string) {
	t.Helper()
	if l := rotatedObservation(t, e, ctx, identity, login); l.PasswordUnchecked != "" || !l.PasswordMatches {
		t.Errorf("the refresh of identity %s: login %s password unchecked %q, matches %v; want it checked and matching", identity, login, l.PasswordUnchecked, l.PasswordMatches)
	}
	wantPasswordFinding(t, e, ctx, identity, false)
	wantRule(t, e, ctx, identity, policy.RulePasswordUnchecked, false)
}

// rotatedObservation is the refresh's observation of identity's rotated login, which must be
// there.
func rotatedObservation(t *testing.T, e engine.Engine, ctx context.Context, identity, login string) policy.LoginObservation {
	t.Helper()
	fleet, err := engine.ReadObserved(ctx, e, identity, time.Now())
	must(t, err)
	for _, l := range fleet.Logins {
		if l.Rotated && l.Name == login {
			return l
		}
	}
	t.Fatalf("the refresh of identity %s observes no rotated login %s: %+v", identity, login, fleet.Logins)
	return policy.LoginObservation{}
}

// wantPasswordFinding checks whether the refresh of identity reports its login's password as
// changed outside the provider.
func wantPasswordFinding(t *testing.T, e engine.Engine, ctx context.Context, identity string, want bool) {
	t.Helper()
	wantRule(t, e, ctx, identity, policy.RulePasswordChanged, want)
}

// wantRule checks whether the refresh of identity has a finding of rule.
// wantLoginEscalation checks whether the refresh of identity and the fleet's report each have a
// privilege-escalation finding on login.
func wantLoginEscalation(t *testing.T, e engine.Engine, ctx context.Context, identity, login string, want bool) {
	t.Helper()
	refresh, err := engine.ReadObserved(ctx, e, identity, time.Now())
	must(t, err)
	report, err := engine.Observe(ctx, e, time.Now())
	must(t, err)
	for what, fleet := range map[string]policy.Fleet{"refresh": refresh, "fleet report": report} {
		got := slices.ContainsFunc(policy.Drift(fleet).About(identity), func(fd policy.Finding) bool {
			return fd.Rule == policy.RulePrivilegeEscalation && fd.Object == "login/"+login
		})
		if got != want {
			t.Errorf("%s of %s: privilege-escalation finding on login %s = %v, want %v", what, identity, login, got, want)
		}
	}
}

func wantRule(t *testing.T, e engine.Engine, ctx context.Context, identity, rule string, want bool) {
	t.Helper()
	fleet, err := engine.ReadObserved(ctx, e, identity, time.Now())
	must(t, err)
	got := false
	for _, fd := range policy.Drift(fleet).About(identity) {
		got = got || fd.Rule == rule
	}
	if got != want {
		t.Errorf("identity %s: %s finding = %v, want %v", identity, rule, got, want)
	}
}
