package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

func TestAccIdentity_lifecycle(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var secret string
	secrets := noSecrets{secrets: func() []string { return []string{secret} }}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		CheckDestroy: func(*terraform.State) error {
			id, err := env.engine.GetIdentity(ctx, "ci-build")
			if err != nil {
				return fmt.Errorf("retire on destroy must keep the record: %w", err)
			}
			if !id.Retired() || !id.RetiredAt.Equal(env.clock.Now()) {
				return fmt.Errorf("after destroy the identity is %q (retired at %s), want retired now", id.Status, id.RetiredAt)
			}
			if _, err := env.engine.Authenticate(ctx, secret); !errors.Is(err, engine.ErrDenied) {
				return fmt.Errorf("a credential of the retired identity still authenticates: %v", err)
			}
			if _, err := env.engine.GetClass(ctx, "ci"); !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("class ci survived destroy: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: identityConfig("team-build", "retire"),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("nhi_identity.build", "id", "ci-build"),
					expectAttr("nhi_identity.build", "status", "active"),
					expectAttr("nhi_identity.build", "created_at", "2026-01-01T12:00:00Z"),
					expectAttr("nhi_identity.build", "retired_at", nil),
					expectAttr("nhi_identity.build", "scopes", knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("read:artifacts")})),
					expectAttr("nhi_identity.build", "on_destroy", "retire"),
				},
				Check: func(*terraform.State) error {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || id.Owner != "team-build" || id.TTLPolicy != "ci-short" {
						return fmt.Errorf("engine holds %+v, %v", id, err)
					}
					_, secret, err = env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "test"})
					return err
				},
			},
			{
				Config: identityConfig("team-release", "retire"),
				ConfigPlanChecks: beforeApply(
					expectUpdate("nhi_identity.build"),
					secrets,
				),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("nhi_identity.build", "owner", "team-release"),
					secrets,
				},
			},
			importStep("nhi_identity.build", "ci-build"),
			importStep("nhi_lifecycle_class.ci", "ci"),
			importStep("nhi_ttl_policy.short", "ci-short"),
			{
				// Drift: an edit made outside Terraform shows as an update, and apply restores it.
				PreConfig: func() {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err == nil {
						id.Owner, id.Environment = "someone-else", "prod"
						_, err = env.engine.UpdateIdentity(ctx, id)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: identityConfig("team-release", "retire"),
				ConfigPlanChecks: beforeApply(
					expectUpdate("nhi_identity.build"),
					expectPlannedAttr("nhi_identity.build", "owner", "team-release"),
				),
				Check: func(*terraform.State) error {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || id.Owner != "team-release" || id.Environment != "dev" {
						return fmt.Errorf("apply did not restore the declared identity: %+v, %v", id, err)
					}
					return nil
				},
			},
			{
				// The destroy below happens an hour later by the fake clock.
				PreConfig: func() { env.clock.Advance(time.Hour) },
				Config:    identityConfig("team-release", "retire"),
				PlanOnly:  true,
			},
		},
	})
}

func TestAccIdentity_deleteOnDestroy(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		CheckDestroy: func(*terraform.State) error {
			if _, err := env.engine.GetIdentity(ctx, "ci-build"); !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("on_destroy = delete left the identity behind: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{{Config: identityConfig("team-build", "delete")}},
	})
}

func TestAccIdentity_removedOutOfBand(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.unitTest(t, []resource.TestStep{
		{Config: identityConfig("team-build", "delete")},
		{
			PreConfig: func() {
				if err := env.engine.DeleteIdentity(ctx, "ci-build"); err != nil {
					t.Fatal(err)
				}
			},
			Config:           identityConfig("team-build", "delete"),
			ConfigPlanChecks: beforeApply(expectCreate("nhi_identity.build")),
		},
	})
}

func badIdentity(body string) string { return badResource("identity", body) }

// TestAccIdentity_planRejects covers every identity rule: each violating configuration fails the
// plan with its message and leaves the engine unchanged.
func TestAccIdentity_planRejects(t *testing.T) {
	env := newTestEnv(t)
	testRejections(t, env, governanceConfig, []rejection{
		{"ttl policy on a persistent identity", badIdentity(`
  name       = "billing-sync"
  class      = nhi_lifecycle_class.svc.name
  ttl_policy = nhi_ttl_policy.short.name`), `TTL Policy On Persistent Identity[\s\S]*nhi_rotation_schedule`},
		{"no ttl policy on an ephemeral identity", badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-build"
  environment = "dev"`), `TTL Policy Missing`},
		{"owner missing", badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name`), `Owner Missing[\s\S]*requires\s+an\s+owner`},
		{"name does not match the pattern", ciIdentityHCL("bad", "build-x", "team-build", "dev"), `Name Does Not Match Naming Pattern`},
		{"environment not allowed", ciIdentityHCL("bad", "ci-x", "team-build", "staging"), `Environment Not Allowed[\s\S]*NHI8`},
		{"invalid name syntax", badIdentity(`
  name  = "ci x"
  class = nhi_lifecycle_class.ci.name`), `Invalid Name`},
		{"unknown on_destroy", badIdentity(`
  name       = "ci-x"
  class      = nhi_lifecycle_class.ci.name
  on_destroy = "forget"`), `on_destroy`},
		{"empty owner", ciIdentityHCL("bad", "ci-x", "", "dev"), `Empty Value[\s\S]*owner is empty`},
		{"blank environment", ciIdentityHCL("bad", "ci-x", "team-build", " "), `Empty Value[\s\S]*environment is empty`},
	})
}

// TestAccIdentity_classInSamePlan: an identity whose class is created in the same plan is
// checked at apply and refused before anything of it is written.
func TestAccIdentity_classInSamePlan(t *testing.T) {
	env := newTestEnv(t)
	env.refusedAtApply(t, "ci-x", badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name`), `Owner Missing`)
}

// An apply killed after the engine created an identity leaves it out of state. The next apply
// adopts it: no second record, the original creation time, an "adopted" audit event.
func TestAccIdentity_adoptsInterruptedCreate(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig},
		{
			// What the interrupted apply did: the engine holds the identity, state does not.
			PreConfig: func() {
				if _, err := env.engine.CreateIdentity(ctx, buildIdentity("team-build")); err != nil {
					t.Fatal(err)
				}
				env.clock.Advance(time.Minute)
			},
			Config:           identityConfig("team-build", "retire"),
			ConfigPlanChecks: beforeApply(expectCreate("nhi_identity.build")),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_identity.build", "status", "active"),
				expectAttr("nhi_identity.build", "created_at", testEpoch.Format(time.RFC3339)),
			},
			Check: func(*terraform.State) error {
				ids, err := env.engine.ListIdentities(ctx)
				if err != nil || len(ids) != 1 || ids[0].Owner != "team-build" {
					return fmt.Errorf("engine holds %+v, %v; want the one identity ci-build", ids, err)
				}
				if got, want := auditTypes(t, env.engine, "ci-build"), []string{engine.EventIdentityCreated, engine.EventAdopted}; fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("audit events of ci-build = %v, want %v", got, want)
				}
				return nil
			},
		},
		{
			Config:   identityConfig("team-build", "retire"),
			PlanOnly: true,
		},
	})
}

// A record that differs from the declaration is not adopted: the plan fails on name, says what
// differs and how to import it, and the engine is left as it was.
func TestAccIdentity_createOverDifferentIdentityFailsPlan(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var events int
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig},
		{
			PreConfig: func() {
				if _, err := env.engine.CreateIdentity(ctx, buildIdentity("team-other")); err != nil {
					t.Fatal(err)
				}
				events = len(auditTypes(t, env.engine, "ci-build"))
			},
			Config:   identityConfig("team-build", "retire"),
			PlanOnly: true,
			ExpectError: wrappedError(`(?s)Identity Already Exists.*with nhi_identity.build.*name.*` +
				`identity "ci-build" already exists in the engine: it is active and differs from this.*` +
				`declaration \(owner: "team-other" in the engine, "team-build" declared\).*` +
				`terraform import nhi_identity.<resource name> ci-build.*` +
				`import \{ to = nhi_identity.<resource name> id = "ci-build" \}`),
		},
		{
			PreConfig: func() {
				id, err := env.engine.GetIdentity(ctx, "ci-build")
				if err != nil || id.Owner != "team-other" || id.Retired() {
					t.Fatalf("after the refused plan the engine holds %+v, %v; want it unchanged", id, err)
				}
				if n := len(auditTypes(t, env.engine, "ci-build")); n != events {
					t.Fatalf("the refused plan wrote %d audit events", n-events)
				}
			},
			Config: governanceConfig,
		},
	})
}

// Renaming an identity to the name of a retired one fails at plan, before the identity being
// renamed is destroyed.
func TestAccIdentity_renameToRetiredNameFailsPlan(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	config := func(withZ bool, z2Name string) string {
		c := governanceConfig + fmt.Sprintf(`
resource "nhi_identity" "z2" {
  name  = %q
  class = nhi_lifecycle_class.svc.name
}
`, z2Name)
		if withZ {
			c += `
resource "nhi_identity" "z" {
  name  = "z-id"
  class = nhi_lifecycle_class.svc.name
}
`
		}
		return c
	}
	engineHolds := func() {
		z, err := env.engine.GetIdentity(ctx, "z-id")
		if err != nil || !z.Retired() {
			t.Fatalf("z-id = %+v, %v; want retired", z, err)
		}
		z2, err := env.engine.GetIdentity(ctx, "z-id2")
		if err != nil || z2.Retired() {
			t.Fatalf("z-id2 = %+v, %v; want active", z2, err)
		}
	}
	env.unitTest(t, []resource.TestStep{
		{Config: config(true, "z-id2")},
		{Config: config(false, "z-id2")}, // retires z-id
		{
			PreConfig:   engineHolds,
			Config:      config(false, "z-id"),
			PlanOnly:    true,
			ExpectError: wrappedError(`(?s)Identity Already Exists.*with nhi_identity.z2.*identity "z-id" already exists in the engine: it was.*retired at.*never reused.*terraform import nhi_identity.<resource name> z-id`),
		},
		{
			// The same rename in an apply fails the same way, at its plan: z-id2 is untouched.
			Config:      config(false, "z-id"),
			ExpectError: wrappedError(`(?s)Identity Already Exists.*retired`),
		},
		{
			PreConfig: engineHolds,
			Config:    config(false, "z-id2"),
			PlanOnly:  true,
		},
	})
}

// Creating an identity whose name a retired identity holds fails at plan even while the
// declaration is not fully known (its class is created in the same plan).
func TestAccIdentity_createOverRetiredNameWithUnknownClassFailsPlan(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.unitTest(t, []resource.TestStep{
		{
			PreConfig: func() {
				must := func(err error) {
					if err != nil {
						t.Fatal(err)
					}
				}
				must(env.engine.PutClass(ctx, policy.Class{Name: "old", Kind: policy.KindPersistent}))
				_, err := env.engine.CreateIdentity(ctx, policy.Identity{Name: "z-id", Class: "old"})
				must(err)
				_, err = env.engine.RetireIdentity(ctx, "z-id")
				must(err)
			},
			Config: governanceConfig + `
resource "nhi_identity" "z" {
  name  = "z-id"
  class = nhi_lifecycle_class.svc.name
}
`,
			PlanOnly:    true,
			ExpectError: wrappedError(`(?s)Identity Already Exists.*retired`),
		},
	})
}

// privilegeConfig declares a class "locked" with every privilege ceiling and a TTL policy whose
// credentials live at most 1h, so one scope is 1 scope-hour.
const privilegeConfig = `
resource "nhi_lifecycle_class" "locked" {
  name             = "locked"
  kind             = "ephemeral"
  max_lifetime     = "4h"
  allowed_scopes   = ["ci-*", "read:*"]
  denied_scopes    = ["*-admin"]
  max_scopes       = 2
  allowed_cidrs    = ["10.0.0.0/8"]
  max_blast_radius = 1.5
}

resource "nhi_ttl_policy" "locked" {
  name         = "locked-1h"
  class        = nhi_lifecycle_class.locked.name
  ttl          = "30m"
  max_lifetime = "1h"
}
`

func lockedIdentity(extra string) string {
	return badIdentity(`
  name       = "ci-x"
  class      = nhi_lifecycle_class.locked.name
  ttl_policy = nhi_ttl_policy.locked.name
` + extra)
}

// TestAccIdentity_privilegeRejects covers every privilege rule of a class at plan: each
// violating identity fails the plan with observed, allowed and the OWASP reference, on its
// attribute, and leaves the engine unchanged.
func TestAccIdentity_privilegeRejects(t *testing.T) {
	env := newTestEnv(t)
	testRejections(t, env, privilegeConfig, []rejection{
		{"scope outside allowed_scopes", lockedIdentity(`
  scopes      = ["kv-write"]
  bound_cidrs = ["10.1.0.0/16"]`), `Scope\s+Not\s+Allowed[\s\S]*scope\s+"kv-write"[\s\S]*"ci-\*",\s+"read:\*"[\s\S]*NHI5`},
		{"scope in denied_scopes", lockedIdentity(`
  scopes      = ["ci-admin"]
  bound_cidrs = ["10.1.0.0/16"]`), `Scope\s+Denied[\s\S]*matches\s+denied\s+pattern[\s\S]*NHI5`},
		{"more scopes than max_scopes", lockedIdentity(`
  scopes      = ["ci-a", "ci-b", "read:c"]
  bound_cidrs = ["10.1.0.0/16"]`), `Scopes\s+Above\s+Class\s+Maximum[\s\S]*3\s+scopes[\s\S]*at\s+most\s+2`},
		{"bound_cidrs outside allowed_cidrs", lockedIdentity(`
  scopes      = ["ci-read"]
  bound_cidrs = ["192.168.0.0/16"]`), `Bound\s+CIDR\s+Not\s+Allowed[\s\S]*192\.168\.0\.0/16[\s\S]*NHI8`},
		{"no bound_cidrs", lockedIdentity(`
  scopes = ["ci-read"]`), `Bound\s+CIDR\s+Not\s+Allowed[\s\S]*from\s+any\s+address`},
		{"blast radius above max_blast_radius", lockedIdentity(`
  scopes      = ["ci-read", "read:kv"]
  bound_cidrs = ["10.1.0.0/16"]`), `Blast\s+Radius\s+Above\s+Class\s+Maximum[\s\S]*blast\s+radius\s+2\s+scope-hours:\s+2\s+scopes\s+x\s+1h[\s\S]*at\s+most\s+1\.5`},
		{"expired exception", lockedIdentity(`
  scopes      = ["ci-admin"]
  bound_cidrs = ["10.1.0.0/16"]` + exceptionHCL("migration", "secops", "2025-12-31T00:00:00Z")), `Exception\s+Expired`},
		{"invalid scope", lockedIdentity(`
  scopes = ["Admin"]`), `Invalid\s+Scope`},
		{"invalid cidr", lockedIdentity(`
  bound_cidrs = ["10.0.0.1/8"]`), `Invalid\s+CIDR\s+Block[\s\S]*10\.0\.0\.0/8`},
		{"invalid scope pattern", `
resource "nhi_lifecycle_class" "bad" {
  name           = "bad"
  kind           = "persistent"
  allowed_scopes = ["[a]"]
}`, `Invalid\s+Scope\s+Pattern`},
	})
}

// TestAccIdentity_blastRadius asserts exposure window and blast radius exactly for an ephemeral
// identity (TTL policy hard lifetime), a persistent one (rotation interval + window + overlap),
// the same one unbounded once its schedule is gone and its secret lives on, and the drift
// report's totals; and that an approved exception lets an identity past the privilege ceilings.
func TestAccIdentity_blastRadius(t *testing.T) {
	env := newTestEnv(t)
	build := buildIdentityHCL("team-build", `scopes = ["ci-read", "ci-write"]`) + `
resource "nhi_identity" "sync" {
  name   = "billing-sync"
  class  = nhi_lifecycle_class.svc.name
  scopes = ["billing-read", "billing-write", "kv-read"]
}

resource "nhi_identity" "excepted" {
  name        = "ci-excepted"
  class       = nhi_lifecycle_class.locked.name
  ttl_policy  = nhi_ttl_policy.locked.name
  scopes      = ["ci-admin", "ci-read", "read:kv"]
  exception = {
    reason      = "one-off data migration"
    approved_by = "secops"
    expires_at  = "2026-02-01T00:00:00Z"
  }
}
`
	schedule := `
resource "nhi_rotation_schedule" "sync" {
  identity = nhi_identity.sync.name
  interval = "30d"
  window   = "1d"
  overlap  = "1h"
}
`
	report := `
data "nhi_drift_report" "all" {
  depends_on = [nhi_identity.build, nhi_identity.sync, nhi_identity.excepted]
}
`
	// The data sources read after the identities exist: their id is known only after apply.
	build += `
data "nhi_identity" "build" {
  name = nhi_identity.build.id
}

data "nhi_identity" "sync" {
  name = nhi_identity.sync.id
}

data "nhi_identity" "excepted" {
  name = nhi_identity.excepted.id
}
`
	base := governanceConfig + privilegeConfig + build
	blast := func(res, window string, radius knownvalue.Check) []statecheck.StateCheck {
		res = "data." + res
		return []statecheck.StateCheck{
			expectAttr(res, "exposure_window", window),
			expectAttr(res, "blast_radius", radius),
		}
	}
	env.unitTest(t, []resource.TestStep{
		{
			Config: base + schedule,
			ConfigStateChecks: slices.Concat(
				// 2 scopes x 1h hard lifetime.
				blast("nhi_identity.build", "1h", knownvalue.Float64Exact(2)),
				// The exception: 3 scopes x 1h, past every ceiling of class locked, until February.
				blast("nhi_identity.excepted", "1h", knownvalue.Float64Exact(3)),
			),
		},
		{
			// Refreshed after its schedule exists: 3 scopes x (30d + 1d + 1h) = 3 x 745h.
			Config: base + schedule + report,
			ConfigStateChecks: slices.Concat(
				blast("nhi_identity.sync", "31d1h", knownvalue.Float64Exact(2235)),
				[]statecheck.StateCheck{
					expectAttr("data.nhi_drift_report.all", "blast_radius", knownvalue.Float64Exact(2240)),
					expectAttr("data.nhi_drift_report.all", "blast_radius_by_identity", knownvalue.MapExact(map[string]knownvalue.Check{
						"ci-build": knownvalue.Float64Exact(2), "billing-sync": knownvalue.Float64Exact(2235), "ci-excepted": knownvalue.Float64Exact(3),
					})),
					expectAttr("data.nhi_drift_report.all", "unbounded_exposure", knownvalue.SetExact(nil)),
				},
			),
		},
		{
			// The schedule is destroyed; the secret it rotated still authenticates, and nothing bounds it.
			Config: base + report,
		},
		{
			Config: base + report,
			ConfigStateChecks: slices.Concat(
				blast("nhi_identity.sync", "unbounded", knownvalue.Null()),
				[]statecheck.StateCheck{
					expectAttr("nhi_identity.sync", "findings", knownvalue.ListPartial(map[int]knownvalue.Check{
						0: knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"rule": knownvalue.StringExact(policy.RuleUnboundedExposure), "severity": knownvalue.StringExact("high"), "owasp": knownvalue.StringExact("NHI7"),
						}),
					})),
					expectAttr("data.nhi_drift_report.all", "blast_radius", knownvalue.Float64Exact(5)),
					expectAttr("data.nhi_drift_report.all", "unbounded_exposure", knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("billing-sync")})),
				},
			),
		},
	})
}

// timeIs checks that a value is the RFC 3339 time *want, to the second (state keeps seconds);
// want is read when the check runs, so a step's PreConfig can set it.
type timeIs struct{ want *time.Time }

func (c timeIs) CheckValue(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("value is %T, want an RFC 3339 string", v)
	}
	got, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	if !got.Equal(c.want.Truncate(time.Second)) {
		return fmt.Errorf("time %s, want %s", got.Format(time.RFC3339), c.want.Format(time.RFC3339))
	}
	return nil
}

func (c timeIs) String() string { return "the time of the last use" }

// TestAccIdentity_lastUseAndInactivity: last_used_at is null until the identity is used, then
// the time of its use (on Vault, of the login in Vault's audit log) on the resource, the
// nhi_identity data source and nhi_identities; an identity of a class with max_idle = "30d" idle
// past it (never used: since its creation) is an inactive finding on the resource and in the
// drift report, with its idle time beyond 30d as trust debt, to the minute. The fake clock is set
// from the observed last use, never from the wall clock.
func TestAccIdentity_lastUseAndInactivity(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	config := `
resource "nhi_lifecycle_class" "idle" {
  name     = "svc-idle"
  kind     = "persistent"
  max_idle = "30d"
}

resource "nhi_identity" "billing" {
  name  = "billing-sync"
  class = nhi_lifecycle_class.idle.name
}

data "nhi_identity" "billing" {
  name = nhi_identity.billing.name
}

data "nhi_identities" "idle" {
  class = nhi_identity.billing.class
}

data "nhi_drift_report" "all" {
  depends_on = [nhi_identity.billing]
}
`
	var used time.Time
	lastUsed := func(check knownvalue.Check) []statecheck.StateCheck {
		return []statecheck.StateCheck{
			expectAttr("nhi_identity.billing", "last_used_at", check),
			expectAttr("data.nhi_identity.billing", "last_used_at", check),
			expectAttr("data.nhi_identities.idle", "identities.0.last_used_at", check),
		}
	}
	inactive := func(debtHours float64) []statecheck.StateCheck {
		return []statecheck.StateCheck{
			expectAttr("nhi_identity.billing", "findings", knownvalue.ListPartial(map[int]knownvalue.Check{
				0: knownvalue.ObjectPartial(map[string]knownvalue.Check{
					"rule": knownvalue.StringExact(policy.RuleInactive), "severity": knownvalue.StringExact("medium"), "owasp": knownvalue.StringExact("NHI1"),
					"allowed": knownvalue.StringExact("class svc-idle allows at most 30d without use (max_idle)"),
					"remedy":  knownvalue.StringRegexp(regexp.MustCompile(`retire the identity .*nhi_offboard`)),
				}),
			})),
			expectAttr("nhi_identity.billing", "trust_debt_hours", knownvalue.Float64Exact(debtHours)),
			expectAttr("data.nhi_drift_report.all", "counts_by_rule."+policy.RuleInactive, 1),
			expectAttr("data.nhi_drift_report.all", "trust_debt_by_identity", knownvalue.MapExact(map[string]knownvalue.Check{
				"billing-sync": knownvalue.Float64Exact(debtHours),
			})),
		}
	}
	env.unitTest(t, []resource.TestStep{
		{Config: config, ConfigStateChecks: append(lastUsed(knownvalue.Null()),
			expectAttr("nhi_identity.billing", "trust_debt_hours", knownvalue.Float64Exact(0)))},
		{
			// Never used, 30 days and 2 hours after its creation.
			PreConfig:         func() { env.clock.Advance(30*policy.Day + 2*time.Hour) },
			Config:            config,
			ConfigStateChecks: append(lastUsed(knownvalue.Null()), inactive(2)...),
		},
		{
			// A consumer logs in with the identity's rotated secret.
			PreConfig: func() {
				v, secret, err := env.engine.StageSecret(ctx, "billing-sync", 32)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := env.engine.PromoteSecret(ctx, "billing-sync", v.Version, engine.PromoteOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := env.engine.Authenticate(ctx, secret); err != nil {
					t.Fatal(err)
				}
				id, err := env.engine.GetIdentity(ctx, "billing-sync")
				if err != nil {
					t.Fatal(err)
				}
				if used = id.LastUsedAt; used.IsZero() {
					t.Fatal("the engine saw no use")
				}
				env.clock.Set(used.Add(time.Hour))
			},
			Config: config,
			ConfigStateChecks: append(lastUsed(timeIs{&used}),
				expectAttr("nhi_identity.billing", "trust_debt_hours", knownvalue.Float64Exact(0)),
				expectAttr("data.nhi_drift_report.all", "counts_by_rule", knownvalue.MapExact(map[string]knownvalue.Check{
					policy.RuleUnboundedExposure: knownvalue.Int64Exact(1), // a rotated secret without a schedule
				}))),
		},
		{
			// 30 days and 90 minutes after that use.
			PreConfig:         func() { env.clock.Set(used.Add(30*policy.Day + 90*time.Minute)) },
			Config:            config,
			ConfigStateChecks: append(lastUsed(timeIs{&used}), inactive(1.5)...),
		},
		importStep("nhi_lifecycle_class.idle", "svc-idle"),
	})
}

// TestAccIdentity_targetCannotChange: moving an existing identity onto a target (or to another
// one) fails the plan on `target`, and the engine keeps the identity as it was.
func TestAccIdentity_targetCannotChange(t *testing.T) {
	env := newTestEnv(t)
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig + buildIdentityHCL("team-build")},
		{
			Config:      governanceConfig + buildIdentityHCL("team-build", `target = "db-elsewhere"`),
			ExpectError: regexp.MustCompile(`(?s)Target Cannot Change.*its target cannot change`),
		},
		{
			Config: governanceConfig + buildIdentityHCL("team-build"),
			Check: func(*terraform.State) error {
				id, err := env.engine.GetIdentity(context.Background(), "ci-build")
				if err != nil || id.Target != "" {
					return fmt.Errorf("engine holds %+v (%v), want ci-build without a target", id, err)
				}
				return nil
			},
		},
	})
}
