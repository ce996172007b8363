package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
	"github.com/hashicorp/terraform-plugin-log/tfsdklogtest"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

// targetHCL declares nhi_target.db for the fixture's server, with password_wo_version version
// and the admin password from the ephemeral variable admin_password (targetVars), as a
// configuration should: a literal would sit in the saved plan's copy of the configuration.
func targetHCL(f *acctest.PostgresFixture, version int) string {
	return fmt.Sprintf(`
variable "admin_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "nhi_target" "db" {
  name                = %q
  host                = %q
  port                = %d
  database            = %q
  sslmode             = "disable"
  username            = %q
  password_wo         = var.admin_password
  password_wo_version = %d
}
`, f.Target, f.Conn.Host, f.Conn.Port, f.Conn.Database, f.Conn.Username, version)
}

// targetVars sets admin_password of targetHCL.
func targetVars(password string) config.Variables {
	return config.Variables{"admin_password": config.StringVariable(password)}
}

// targetEnv is a test's engine and clock, at the wall clock (PostgreSQL checks VALID UNTIL
// against its own), and a fixture on the PostgreSQL test server (the test is skipped without one).
func targetEnv(t *testing.T) (*testEnv, *acctest.PostgresFixture) {
	t.Helper()
	env := newTestEnv(t)
	f := acctest.NewPostgresFixture(t)
	env.clock.Set(time.Now())
	return env, f
}

// targetIdentityHCL is nhi_identity.build on nhi_target.db with the fixture's role as its scope.
func targetIdentityHCL(f *acctest.PostgresFixture) string {
	return buildIdentityHCL("team-build", "target = nhi_target.db.name", fmt.Sprintf("scopes = [%q]", f.Reader))
}

// wantServerVersion is what server_version holds on both engines: the server's version (Vault
// reads it as the target's inspector login).
func wantServerVersion() knownvalue.Check {
	return knownvalue.StringRegexp(regexp.MustCompile(`^15\.`))
}

// TestAccTarget_lifecycle: a target with a wrong admin password is refused at apply and leaves
// nothing behind; a right one is written, reports its server, imports, takes a new password
// when password_wo_version moves, and never lets the password reach state or plan.
func TestAccTarget_lifecycle(t *testing.T) {
	env, f := targetEnv(t)
	secrets := noSecrets{secrets: func() []string { return []string{f.Password, "wrong-" + f.Password} }}
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: env.factories(),
		CheckDestroy: func(*terraform.State) error {
			if _, err := env.engine.GetTarget(context.Background(), f.Target); !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("target %s after destroy: %v, want not found", f.Target, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:          targetHCL(f, 1),
				ConfigVariables: targetVars("wrong-" + f.Password),
				ExpectError:     regexp.MustCompile(`connection`),
				Check: func(*terraform.State) error {
					return nil
				},
			},
			{
				PreConfig: func() {
					if _, err := env.engine.GetTarget(context.Background(), f.Target); !errors.Is(err, engine.ErrNotFound) {
						t.Fatalf("a refused target reached the engine: %v", err)
					}
				},
				Config:           targetHCL(f, 1),
				ConfigVariables:  targetVars(f.Password),
				ConfigPlanChecks: beforeApply(secrets),
				ConfigStateChecks: []statecheck.StateCheck{
					secrets,
					expectAttr("nhi_target.db", "server_version", wantServerVersion()),
					expectAttr("nhi_target.db", "kind", "postgresql"),
					expectAttr("nhi_target.db", "password_wo", nil),
				},
			},
			{
				ResourceName:                         "nhi_target.db",
				ImportState:                          true,
				ImportStateId:                        f.Target,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				ImportStateVerifyIgnore:              []string{"password_wo"},
				ConfigVariables:                      targetVars(f.Password),
			},
			{
				// A new version of the admin password: the engine checks and stores it.
				Config:            targetHCL(f, 2),
				ConfigVariables:   targetVars(f.Password),
				ConfigPlanChecks:  beforeApply(secrets, expectUpdate("nhi_target.db")),
				ConfigStateChecks: []statecheck.StateCheck{secrets, expectAttr("nhi_target.db", "password_wo_version", 2)},
			},
			{
				// A wrong password under a new version is refused, and the stored one stays in use.
				Config:          targetHCL(f, 3),
				ConfigVariables: targetVars("wrong-" + f.Password),
				ExpectError:     regexp.MustCompile(`connection`),
			},
			{
				Config:          targetHCL(f, 2),
				ConfigVariables: targetVars(f.Password),
				PlanOnly:        true,
			},
		},
	})
}

// targetCredentialConfig is governanceConfig, nhi_target.db, the identity ci-build on it with
// the fixture's role as its one scope, and an nhi_credential of it echoed into state.
func targetCredentialConfig(f *acctest.PostgresFixture) string {
	return governanceConfig + targetHCL(f, 1) + targetIdentityHCL(f) + `
ephemeral "nhi_credential" "job" {
  identity = nhi_identity.build.id
  purpose  = "migrations"
}

provider "echo" {
  data = ephemeral.nhi_credential.job
}

resource "echo" "job" {}
`
}

// TestAccTarget_credential: an nhi_credential of an identity with a target is a PostgreSQL
// login that can SELECT what its scope grants and is refused the rest, valid until the
// credential's expires_at; closing it (the end of each Terraform run) terminates and drops it.
func TestAccTarget_credential(t *testing.T) {
	env, f := targetEnv(t)
	rec := &recordingEngine{Engine: env.engine, hold: true}
	ctx := context.Background()
	login := func(s *terraform.State) (user, password, expires string) {
		a := s.RootModule().Resources["echo.job"].Primary.Attributes
		return a["data.username"], a["data.value"], a["data.expires_at"]
	}
	env.ephemeralTest(t, rec, []resource.TestStep{
		{
			// Revocation held back: the login outlives the run, so the check can use it.
			Config:          targetCredentialConfig(f),
			ConfigVariables: targetVars(f.Password),
			ConfigStateChecks: []statecheck.StateCheck{
				// Local: nhi_<identity>_<16 hex of the credential>; Vault: nhi_<its dynamic role,
				// <identity>_<16 hex>>_<8 random characters>.
				expectAttr("echo.job", "data.username", knownvalue.StringRegexp(regexp.MustCompile(`^nhi_ci-build_[0-9a-z]{16}(_[0-9a-z]{8})?$`))),
				expectAttr("echo.job", "data.scopes", knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact(f.Reader)})),
			},
			Check: func(s *terraform.State) error {
				user, password, expires := login(s)
				if err := f.WantGrants(user, password); err != nil {
					return err
				}
				l, err := f.Admin.Inspect(ctx, user)
				if err != nil {
					return err
				}
				want, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return err
				}
				if !acctest.ValidUntil(l, want) {
					return fmt.Errorf("login %s VALID UNTIL %s (infinite %v), want the credential's expires_at %s", user, l.ValidUntil, l.Infinite, expires)
				}
				// Now the held revocation: the login goes, sessions and all.
				rec.set(func(r *recordingEngine) { r.hold = false })
				for _, id := range rec.held {
					if err := rec.RevokeCredential(ctx, id); err != nil {
						return err
					}
				}
				return f.WantGone(user, password)
			},
		},
		{
			// Closed at the end of the run, as every run ends: by the check, every login the
			// runs made is gone and every credential revoked.
			Config:          targetCredentialConfig(f),
			ConfigVariables: targetVars(f.Password),
			Check: func(*terraform.State) error {
				creds, err := env.engine.ListCredentials(ctx, "ci-build")
				if err != nil {
					return err
				}
				if len(creds) < 2 {
					return fmt.Errorf("%d credentials were issued, want at least 2 (one per run)", len(creds))
				}
				for _, c := range creds {
					if c.RevokedAt.IsZero() {
						return fmt.Errorf("credential %s is not revoked after its run", c.ID)
					}
					if l, err := f.Admin.Inspect(ctx, c.Username); err != nil || l.Exists {
						return fmt.Errorf("login %q of credential %s after its run: %+v, %v; want no role", c.Username, c.ID, l, err)
					}
				}
				return nil
			},
		},
	})
}

// TestAccTarget_neverInStateOrPlan: with a credential on a target in use, neither the saved
// plans nor the state hold the login's password or the target's admin password.
func TestAccTarget_neverInStateOrPlan(t *testing.T) {
	env, f := targetEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	secrets := noSecrets{secrets: func() []string { return append(rec.issued(), f.Password) }}
	cfg := governanceConfig + targetHCL(f, 1) + targetIdentityHCL(f) + `
ephemeral "nhi_credential" "job" {
  identity = nhi_identity.build.id
}

locals {
  login = "${ephemeral.nhi_credential.job.username}:${length(ephemeral.nhi_credential.job.value)}"
}
`
	env.ephemeralTest(t, rec, []resource.TestStep{
		{Config: cfg, ConfigVariables: targetVars(f.Password), ConfigStateChecks: []statecheck.StateCheck{secrets}},
		{
			Config:            cfg,
			ConfigVariables:   targetVars(f.Password),
			ConfigPlanChecks:  beforeApply(secrets),
			ConfigStateChecks: []statecheck.StateCheck{secrets},
			Check: func(*terraform.State) error {
				if n := len(rec.issued()); n < 2 {
					return fmt.Errorf("%d credentials were issued, want at least 2: the scan proved less than it should", n)
				}
				return nil
			},
		},
	})
}

// TestAccTarget_drift, on both engines: a login left on the target by hand with the provider's
// marker, and a live credential's login made valid forever and granted another role, show in the
// identity's findings and in nhi_drift_report at the next refresh; the next close drops its own
// login and the orphan.
func TestAccTarget_drift(t *testing.T) {
	env, f := targetEnv(t)
	observer, ok := env.engine.(engine.LoginObserver)
	if !ok {
		t.Fatalf("%T is no engine.LoginObserver", env.engine)
	}
	// After close, on both engines: nothing (the close drops its login and repairs the orphan).
	afterClose := knownvalue.ListSizeExact(0)
	ctx := context.Background()
	cfg := governanceConfig + targetHCL(f, 1) + targetIdentityHCL(f) + `
data "nhi_drift_report" "all" {
  depends_on = [nhi_identity.build]
}
`
	orphan, extra := acctest.Unique("nhi_ci-build_"), acctest.Unique("extra_")
	var cred engine.Credential
	t.Cleanup(func() {
		_ = f.Admin.DropLogin(ctx, orphan)
		_ = f.Admin.DropLogin(ctx, cred.Username)
		acctest.PostgresExec(t, f.Conn, f.Password, "DROP ROLE IF EXISTS "+extra)
	})
	loginRules := func(rules ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(rules))
		for i, r := range rules {
			checks[i] = knownvalue.ObjectPartial(map[string]knownvalue.Check{"rule": knownvalue.StringExact(r), "severity": knownvalue.StringExact("high")})
		}
		return knownvalue.ListExact(checks)
	}
	env.unitTest(t, []resource.TestStep{
		{
			Config:          cfg,
			ConfigVariables: targetVars(f.Password),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_identity.build", "findings", knownvalue.ListSizeExact(0)),
			},
		},
		{
			PreConfig: func() {
				var err error
				if cred, _, err = env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build"}); err != nil {
					t.Fatal(err)
				}
				acctest.PostgresExec(t, f.Conn, f.Password,
					`CREATE ROLE "`+orphan+`" LOGIN`,
					`COMMENT ON ROLE "`+orphan+`" IS '`+engine.LoginComment(observer.LoginOwner(), "ci-build", "cred-gone")+`'`,
					"CREATE ROLE "+extra+" NOLOGIN",
					`GRANT `+extra+` TO "`+cred.Username+`"`,
					`ALTER ROLE "`+cred.Username+`" VALID UNTIL 'infinity'`)
			},
			Config:          cfg,
			ConfigVariables: targetVars(f.Password),
			ConfigStateChecks: []statecheck.StateCheck{
				// Sorted by rule: the orphan (NHI1), the extra grant (NHI5), infinite validity (NHI7).
				expectAttr("nhi_identity.build", "findings", loginRules(policy.RuleOrphanedLogin, policy.RulePrivilegeEscalation, policy.RuleLoginValidityAboveHard)),
				expectAttr("data.nhi_drift_report.all", "counts_by_rule", knownvalue.MapExact(map[string]knownvalue.Check{
					policy.RuleOrphanedLogin:          knownvalue.Int64Exact(1),
					policy.RulePrivilegeEscalation:    knownvalue.Int64Exact(1),
					policy.RuleLoginValidityAboveHard: knownvalue.Int64Exact(1),
				})),
			},
		},
		{
			// Closing the credential drops its login (extra grant, infinite validity and all) and
			// repairs the identity's other logins: the orphan is dropped.
			PreConfig: func() {
				if err := env.engine.RevokeCredential(ctx, cred.ID); err != nil {
					t.Fatal(err)
				}
			},
			Config:          cfg,
			ConfigVariables: targetVars(f.Password),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_identity.build", "findings", afterClose),
				expectAttr("data.nhi_drift_report.all", "findings", afterClose),
			},
			Check: func(*terraform.State) error {
				if l, err := f.Admin.Inspect(ctx, orphan); err != nil || l.Exists {
					return fmt.Errorf("the orphaned login after the close: %+v, %v; want it dropped", l, err)
				}
				return nil
			},
		},
	})
}

// rotatedTargetHCL is the persistent identity name on nhi_target.db with the fixture's role as
// its scope, and its rotation schedule every 30 days with the schedule's further lines.
func rotatedTargetHCL(f *acctest.PostgresFixture, name, schedule string) string {
	return governanceConfig + targetHCL(f, 1) + fmt.Sprintf(`
resource "nhi_identity" "billing" {
  name   = %q
  class  = nhi_lifecycle_class.svc.name
  target = nhi_target.db.name
  scopes = [%q]
}

resource "nhi_rotation_schedule" "billing" {
  identity = nhi_identity.billing.id
  interval = "30d"
%s
}
`, name, f.Reader, schedule)
}

// rotatedLogins follows the rotated secret of identity, a persistent identity on the target of
// f, through a test: current reads the current version and value from the engine and remembers
// every value read, so that secrets finds none of them (nor the admin password) in a plan or
// state.
type rotatedLogins struct {
	t        *testing.T
	env      *testEnv
	f        *acctest.PostgresFixture
	identity string
	seen     []string
}

func (r *rotatedLogins) current() (engine.SecretVersion, string) {
	r.t.Helper()
	v, s, err := r.env.engine.CurrentSecret(context.Background(), r.identity)
	if err != nil {
		r.t.Fatalf("CurrentSecret: %v", err)
	}
	r.seen = append(r.seen, s)
	return v, s
}

func (r *rotatedLogins) secrets() noSecrets {
	return noSecrets{secrets: func() []string { return append(r.seen, r.f.Password) }}
}

// refusedStep moves the clock to the next rotation of cfg and makes login open no connection
// (as if set by hand), so the rotation's verification fails and it rolls back.
func (r *rotatedLogins) refusedStep(cfg, login string) resource.TestStep {
	return resource.TestStep{
		PreConfig: func() {
			r.env.clock.Advance(30 * policy.Day)
			acctest.PostgresExec(r.t, r.f.Conn, r.f.Password, `ALTER ROLE "`+login+`" CONNECTION LIMIT 0`)
		},
		Config:          cfg,
		ConfigVariables: targetVars(r.f.Password),
		ExpectError:     regexp.MustCompile(`Rotation Verification Failed[\s\S]*rolled\s+back`),
	}
}

// rotatesAgainStep follows refusedStep: the current version must still be 2 with the value
// *second, and rolledBack checks the rest of what the rollback left; then login opens
// connections again and, the rotation being still due, this apply rotates (to version 4), and
// the new password logs in on login with the identity's grants.
func (r *rotatedLogins) rotatesAgainStep(cfg, login string, second *string, rolledBack func()) resource.TestStep {
	secrets := r.secrets()
	return resource.TestStep{
		PreConfig: func() {
			if v, s := r.current(); v.Version != 2 || s != *second {
				r.t.Fatalf("after a failed verification the current version is %d, want 2", v.Version)
			}
			rolledBack()
			acctest.PostgresExec(r.t, r.f.Conn, r.f.Password, `ALTER ROLE "`+login+`" CONNECTION LIMIT -1`)
		},
		Config:            cfg,
		ConfigVariables:   targetVars(r.f.Password),
		ConfigStateChecks: []statecheck.StateCheck{secrets, expectAttr("nhi_rotation_schedule.billing", "current_version", 4)},
		Check: func(*terraform.State) error {
			_, fourth := r.current()
			return r.f.WantGrants(login, fourth)
		},
	}
}

// TestAccTarget_rotation, on both engines: the rotated secret of a persistent identity on a
// target is the password of a login named after it. A rotation changes it (the new one logs in, the old one no
// more); an overlap without alternating logins fails the plan; a verification that the target
// refuses rolls back and keeps the old password current.
func TestAccTarget_rotation(t *testing.T) {
	env, f := targetEnv(t)
	ctx := context.Background()
	login := engine.RotatedLoginName("billing-sync")
	t.Cleanup(func() { _ = f.Admin.DropLogin(ctx, login) })
	cfg := func(schedule string) string { return rotatedTargetHCL(f, "billing-sync", schedule) }
	r := &rotatedLogins{t: t, env: env, f: f, identity: "billing-sync"}
	secrets := r.secrets()
	var second string
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config:          cfg(""),
				ConfigVariables: targetVars(f.Password),
				Check: func(*terraform.State) error {
					_, first := r.current()
					return f.WantGrants(login, first)
				},
			},
			{
				PreConfig:         func() { env.clock.Advance(30 * policy.Day) },
				Config:            cfg(""),
				ConfigVariables:   targetVars(f.Password),
				ConfigPlanChecks:  beforeApply(secrets),
				ConfigStateChecks: []statecheck.StateCheck{secrets, expectAttr("nhi_rotation_schedule.billing", "current_version", 2)},
				Check: func(*terraform.State) error {
					first := r.seen[0]
					_, second = r.current()
					if err := f.Admin.Login(ctx, login, first); err == nil {
						return errors.New("the replaced password still logs in")
					}
					return f.WantGrants(login, second)
				},
			},
			{
				Config:          cfg(`  overlap = "1h"`),
				ConfigVariables: targetVars(f.Password),
				ExpectError:     regexp.MustCompile(`Target Overlap Without Alternating[\s\S]*alternating`),
			},
			r.refusedStep(cfg(""), login),
			r.rotatesAgainStep(cfg(""), login, &second, func() {
				l, err := f.Admin.Inspect(ctx, login)
				if err != nil {
					t.Fatal(err)
				}
				if match, ok := postgres.VerifierMatches(l.Verifier, second); !ok || !match {
					t.Fatalf("after the rollback the login's password is not the current secret (checked %v, match %v)", ok, match)
				}
			}),
		},
	})
}

// TestAccTarget_rotationAlternating, on both engines: a persistent identity on a target with
// alternating logins (not billing-sync: TestAccTarget_rotation runs in parallel on the same
// server, and the logins are named after the identity). Each rotation puts the new password on the login not in use (the new one
// logs in), the previous login keeps logging in until the overlap ends (its VALID UNTIL), and a
// verification the target refuses rolls back: the current login and password stay, the staged
// login stops. (That the previous login stops logging in once PostgreSQL's clock passes the
// overlap is TestTargetConformance/TargetRotationAlternating: here the engine's clock is moved.)
func TestAccTarget_rotationAlternating(t *testing.T) {
	env, f := targetEnv(t)
	ctx := context.Background()
	base := engine.RotatedLoginName("ledger-sync")
	loginA, loginB := base+"_a", base+"_b"
	t.Cleanup(func() {
		for _, l := range []string{loginA, loginB, base} {
			_ = f.Admin.DropLogin(ctx, l)
		}
	})
	cfg := rotatedTargetHCL(f, "ledger-sync", `  overlap  = "1h"
  strategy = "alternating"`)
	r := &rotatedLogins{t: t, env: env, f: f, identity: "ledger-sync"}
	validUntil := func(login string) time.Time {
		l, err := f.Admin.Inspect(ctx, login)
		if err != nil || !l.Exists || l.Infinite {
			t.Fatalf("login %s: %+v, %v; want it to exist with a VALID UNTIL", login, l, err)
		}
		return l.ValidUntil
	}
	secrets := r.secrets()
	var first, second string
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config:          cfg,
				ConfigVariables: targetVars(f.Password),
				Check: func(*terraform.State) error {
					_, first = r.current()
					return f.WantGrants(loginA, first)
				},
			},
			{
				PreConfig:         func() { env.clock.Advance(30 * policy.Day) },
				Config:            cfg,
				ConfigVariables:   targetVars(f.Password),
				ConfigPlanChecks:  beforeApply(secrets),
				ConfigStateChecks: []statecheck.StateCheck{secrets, expectAttr("nhi_rotation_schedule.billing", "current_version", 2)},
				Check: func(*terraform.State) error {
					_, second = r.current()
					if err := f.WantGrants(loginB, second); err != nil {
						return err
					}
					// The previous login logs in during the overlap, and stops when it ends.
					if err := f.WantGrants(loginA, first); err != nil {
						return fmt.Errorf("the previous login during the overlap: %w", err)
					}
					if got, want := validUntil(loginA), env.clock.Now().Add(time.Hour); got.Sub(want).Abs() > time.Second {
						return fmt.Errorf("the previous login is VALID UNTIL %s, want the overlap's end %s", got, want)
					}
					return nil
				},
			},
			// The next rotation goes to login A again, the one not in use.
			r.refusedStep(cfg, loginA),
			// Still due: this apply rotates again, onto the same login.
			r.rotatesAgainStep(cfg, loginA, &second, func() {
				if err := f.WantGrants(loginB, second); err != nil {
					t.Fatalf("the current login after the rollback: %v", err)
				}
				if got := validUntil(loginA); got.After(env.clock.Now()) {
					t.Fatalf("the staged login is VALID UNTIL %s after the rollback, want it stopped (%s)", got, env.clock.Now())
				}
			}),
		},
	})
}

// TestTarget_logsCarryNoPassword drives nhi_target's create and an nhi_credential on a target
// through the plugin protocol with the provider's and the framework's loggers at TRACE captured:
// neither the admin password nor the login's password appears in them, while the logs do name
// the target and the credential (so the scan read real log lines).
func TestTarget_logsCarryNoPassword(t *testing.T) {
	env, f := targetEnv(t)
	var logs bytes.Buffer
	ctx := tfsdklogtest.RootLogger(tflogtest.RootLogger(context.Background(), &logs), &logs)
	srv := env.protocolServer(t)
	typ := schemaObject(ctx, t, srv, "nhi_target")
	str, num := tftypes.String, tftypes.Number
	vals := func(password, id, version tftypes.Value) tftypes.Value {
		return tftypes.NewValue(typ, map[string]tftypes.Value{
			"id": id, "name": tftypes.NewValue(str, f.Target), "kind": tftypes.NewValue(str, "postgresql"),
			"host": tftypes.NewValue(str, f.Conn.Host), "port": tftypes.NewValue(num, f.Conn.Port),
			"database": tftypes.NewValue(str, f.Conn.Database), "sslmode": tftypes.NewValue(str, "disable"),
			"username": tftypes.NewValue(str, f.Conn.Username), "password_wo": password,
			"password_wo_version": tftypes.NewValue(num, 1), "server_version": version,
		})
	}
	dyn := func(v tftypes.Value) *tfprotov6.DynamicValue {
		d, err := tfprotov6.NewDynamicValue(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	config := vals(tftypes.NewValue(str, f.Password), tftypes.NewValue(str, nil), tftypes.NewValue(str, nil))
	planned := vals(tftypes.NewValue(str, nil), tftypes.NewValue(str, tftypes.UnknownValue), tftypes.NewValue(str, tftypes.UnknownValue))
	applied, err := srv.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{TypeName: "nhi_target",
		Config: dyn(config), PlannedState: dyn(planned), PriorState: dyn(tftypes.NewValue(typ, nil))})
	if err != nil || len(applied.Diagnostics) > 0 {
		t.Fatalf("ApplyResourceChange: %v %+v", err, applied.Diagnostics)
	}

	for _, err := range []error{
		env.engine.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}),
		env.engine.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "p", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour, Renewable: true}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.engine.CreateIdentity(ctx, policy.Identity{Name: "ci-job", Class: "ci", TTLPolicy: "p", Target: f.Target, Scopes: []string{f.Reader}}); err != nil {
		t.Fatal(err)
	}
	opened, out := openCredential(ctx, t, srv, map[string]string{"identity": "ci-job"})
	var password, username, credID string
	_ = out["value"].As(&password)
	_ = out["username"].As(&username)
	_ = out["credential_id"].As(&credID)
	if err := f.WantGrants(username, password); err != nil {
		t.Fatal(err)
	}
	if r, err := srv.RenewEphemeralResource(ctx, &tfprotov6.RenewEphemeralResourceRequest{TypeName: "nhi_credential", Private: opened.Private}); err != nil || len(r.Diagnostics) > 0 {
		t.Fatalf("Renew: %v %+v", err, r.Diagnostics)
	}
	if r, err := srv.CloseEphemeralResource(ctx, &tfprotov6.CloseEphemeralResourceRequest{TypeName: "nhi_credential", Private: opened.Private}); err != nil || len(r.Diagnostics) > 0 {
		t.Fatalf("Close: %v %+v", err, r.Diagnostics)
	}
	if err := f.WantGone(username, password); err != nil {
		t.Fatal(err)
	}

	// A rotated secret on the target (one login): the schedule's first apply stages, verifies and
	// promotes it.
	if err := env.engine.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.engine.CreateIdentity(ctx, policy.Identity{Name: "svc-logs", Class: "svc", Target: f.Target, Scopes: []string{f.Reader}}); err != nil {
		t.Fatal(err)
	}
	login := engine.RotatedLoginName("svc-logs")
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), login) })
	applyNew(ctx, t, srv, "nhi_rotation_schedule", map[string]tftypes.Value{
		"identity": tftypes.NewValue(str, "svc-logs"), "interval": tftypes.NewValue(str, "30d")})
	_, rotated, err := env.engine.CurrentSecret(ctx, "svc-logs")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WantGrants(login, rotated); err != nil {
		t.Fatal(err)
	}

	text := logs.String()
	for _, want := range []string{f.Target, credID, "nhi_rotation_schedule"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the captured logs never name %q: the scan below would prove nothing", want)
		}
	}
	for what, secret := range map[string]string{"admin password": f.Password, "login password": password, "rotated password": rotated} {
		if strings.Contains(text, secret) {
			t.Errorf("the logs carry the %s", what)
		}
	}
}

// applyNew creates a resource of typeName through the plugin protocol, as Terraform would: its
// configuration is attrs (every other attribute null), planned by the provider, then applied.
func applyNew(ctx context.Context, t *testing.T, srv tfprotov6.ProviderServer, typeName string, attrs map[string]tftypes.Value) {
	t.Helper()
	typ := schemaObject(ctx, t, srv, typeName)
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		if v, ok := attrs[name]; ok {
			vals[name] = v
		} else {
			vals[name] = tftypes.NewValue(at, nil)
		}
	}
	config, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	prior, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, nil))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := srv.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{TypeName: typeName, Config: &config,
		PriorState: &prior, ProposedNewState: &config})
	if err != nil || len(plan.Diagnostics) > 0 {
		t.Fatalf("PlanResourceChange %s: %v %+v", typeName, err, plan.Diagnostics)
	}
	applied, err := srv.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{TypeName: typeName, Config: &config,
		PlannedState: plan.PlannedState, PriorState: &prior, PlannedPrivate: plan.PlannedPrivate})
	if err != nil || len(applied.Diagnostics) > 0 {
		t.Fatalf("ApplyResourceChange %s: %v %+v", typeName, err, applied.Diagnostics)
	}
}
