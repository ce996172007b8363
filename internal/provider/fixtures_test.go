package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// The HCL fixtures and helpers that several acceptance tests share.

// governanceConfig declares an ephemeral class "ci" with TTL policy "ci-short" and a
// persistent class "svc".
const governanceConfig = `
resource "nhi_lifecycle_class" "ci" {
  name           = "ci"
  kind           = "ephemeral"
  max_ttl        = "1h"
  max_lifetime   = "4h"
  max_renewals   = 3
  require_owner  = true
  naming_pattern = "ci-[a-z0-9-]+"
  environments   = ["dev", "prod"]
}

resource "nhi_lifecycle_class" "svc" {
  name                  = "svc"
  kind                  = "persistent"
  max_rotation_interval = "90d"
}

resource "nhi_ttl_policy" "short" {
  name         = "ci-short"
  class        = nhi_lifecycle_class.ci.name
  ttl          = "15m"
  max_lifetime = "1h"
  renewable    = true
  max_renewals = 2
}
`

// ciIdentityHCL declares nhi_identity.<res>: identity name of class ci with TTL policy
// ci-short, owned by owner, in environment, plus the attribute lines in extra.
func ciIdentityHCL(res, name, owner, environment string, extra ...string) string {
	return fmt.Sprintf(`
resource "nhi_identity" %q {
  name        = %q
  class       = nhi_lifecycle_class.ci.name
  owner       = %q
  environment = %q
  ttl_policy  = nhi_ttl_policy.short.name
  %s
}
`, res, name, owner, environment, strings.Join(extra, "\n  "))
}

// buildIdentityHCL declares nhi_identity.build: "ci-build" of class ci with TTL policy ci-short,
// owned by owner, in dev, plus the attribute lines in extra.
func buildIdentityHCL(owner string, extra ...string) string {
	return ciIdentityHCL("build", "ci-build", owner, "dev", extra...)
}

// billingSecret is the current secret version and value of billing-sync (billingIdentity), read
// from e; an error fails the test.
func billingSecret(t *testing.T, e engine.Engine) (engine.SecretVersion, string) {
	t.Helper()
	v, s, err := e.CurrentSecret(context.Background(), "billing-sync")
	if err != nil {
		t.Fatalf("CurrentSecret: %v", err)
	}
	return v, s
}

func identityConfig(owner, onDestroy string) string {
	return governanceConfig + buildIdentityHCL(owner, `scopes = ["read:artifacts"]`, fmt.Sprintf("on_destroy = %q", onDestroy))
}

// billingIdentity is nhi_identity.billing, "billing-sync" of the persistent class svc.
const billingIdentity = `
resource "nhi_identity" "billing" {
  name  = "billing-sync"
  class = nhi_lifecycle_class.svc.name
}
`

const rotationIdentity = billingIdentity + `
resource "nhi_lifecycle_class" "vendor" {
  name                  = "vendor"
  kind                  = "persistent"
  max_rotation_interval = "30d"
  require_consumers     = true
}

resource "nhi_identity" "payments" {
  name  = "payments-api"
  class = nhi_lifecycle_class.vendor.name
}
`

func scheduleConfig(body string) string {
	return governanceConfig + rotationIdentity + fmt.Sprintf(`
resource "nhi_rotation_schedule" "billing" {
  identity = nhi_identity.billing.id
%s
}
`, body)
}

const intervalSchedule = `
  interval      = "30d"
  overlap       = "1h"
  keep_versions = 3
  consumers = [
    { name = "billing-api", kind = "service", note = "reloads on SIGHUP" },
  ]
`

var credentialIdentity = buildIdentityHCL("team-build", `scopes = ["read:artifacts"]`) + billingIdentity

func credentialConfig(args string) string {
	return governanceConfig + credentialIdentity + fmt.Sprintf(`
ephemeral "nhi_credential" "job" {
  identity = nhi_identity.build.id
%s
}

provider "echo" {
  data = ephemeral.nhi_credential.job
}

resource "echo" "job" {}
`, args)
}

// buildIdentity is nhi_identity.build of identityConfig, as the provider hands it to the engine.
func buildIdentity(owner string) policy.Identity {
	return policy.Identity{Name: "ci-build", Class: "ci", Owner: owner, Environment: "dev", TTLPolicy: "ci-short", Scopes: []string{"read:artifacts"}}
}

// exceptionHCL is an exception attribute line of a TTL policy or an identity.
func exceptionHCL(reason, approvedBy, expiresAt string) string {
	return fmt.Sprintf("\n  exception = { reason = %q, approved_by = %q, expires_at = %q }", reason, approvedBy, expiresAt)
}

// refusedAtApply applies governanceConfig plus config, which must fail with want, then checks
// that the identity name did not reach the engine (the classes and policies did).
func (env *testEnv) refusedAtApply(t *testing.T, name, config, want string) {
	t.Helper()
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig + config, ExpectError: regexp.MustCompile(want)},
		{
			PreConfig: func() {
				if _, err := env.engine.GetIdentity(context.Background(), name); !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("the refused identity reached the engine: %v", err)
				}
			},
			Config: governanceConfig,
		},
	})
}

// editRecord changes the governance record name in the engine behind Terraform's back:
// get, change, put.
func editRecord[T any](t *testing.T, name string, get func(context.Context, string) (T, error), put func(context.Context, T) error, change func(*T)) {
	t.Helper()
	ctx := context.Background()
	r, err := get(ctx, name)
	if err == nil {
		change(&r)
		err = put(ctx, r)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// importStep imports resourceName by id and verifies the imported state against the applied
// one, but for the attributes in ignore.
func importStep(resourceName, id string, ignore ...string) resource.TestStep {
	return resource.TestStep{ResourceName: resourceName, ImportState: true, ImportStateId: id, ImportStateVerify: true, ImportStateVerifyIgnore: ignore}
}

// wrappedError matches a diagnostic as Terraform prints it, wrapped: every space in pattern
// matches any run of white space.
func wrappedError(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, " ", `\s+`))
}

// auditTypes lists the types of the audit events about identity, oldest first.
func auditTypes(t *testing.T, e engine.Engine, identity string) []string {
	t.Helper()
	events, err := e.AuditEvents(context.Background(), engine.AuditFilter{Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	return types
}

// checkOverlap checks a rotation's overlap on identity: the old and the new secret both
// authenticate as it now; once the fake clock has moved past the overlap (by after), only the
// new one does.
func (env *testEnv) checkOverlap(ctx context.Context, e engine.Engine, identity, oldSecret, newSecret string, after time.Duration) error {
	for _, s := range []string{oldSecret, newSecret} {
		if who, err := e.Authenticate(ctx, s); err != nil || who != identity {
			return fmt.Errorf("during the overlap a secret is refused: %q, %v", who, err)
		}
	}
	env.clock.Advance(after)
	if _, err := e.Authenticate(ctx, oldSecret); !errors.Is(err, engine.ErrDenied) {
		return fmt.Errorf("after the overlap the old secret still works: %v", err)
	}
	if _, err := e.Authenticate(ctx, newSecret); err != nil {
		return fmt.Errorf("after the overlap the new secret is refused: %v", err)
	}
	return nil
}

// The state and plan checks the acceptance tests use, named for what they assert.

// knownValue is the check that a value is want: a knownvalue.Check as it is, a string, int or
// bool as that exact value, nil as null.
func knownValue(want any) knownvalue.Check {
	switch w := want.(type) {
	case knownvalue.Check:
		return w
	case string:
		return knownvalue.StringExact(w)
	case int:
		return knownvalue.Int64Exact(int64(w))
	case bool:
		return knownvalue.Bool(w)
	case nil:
		return knownvalue.Null()
	}
	panic(fmt.Sprintf("knownValue: no check for a %T", want))
}

// attrPath is the path of an attribute written as Terraform writes it in state: dot-separated
// attribute names, map keys and list indexes, such as "findings.0.owasp".
func attrPath(attr string) tfjsonpath.Path {
	steps := strings.Split(attr, ".")
	p := tfjsonpath.New(steps[0])
	for _, step := range steps[1:] {
		if i, err := strconv.Atoi(step); err == nil {
			p = p.AtSliceIndex(i)
		} else {
			p = p.AtMapKey(step)
		}
	}
	return p
}

// expectAttr checks that after apply the state holds want (see knownValue) at attr (see
// attrPath) of the resource or data source at addr.
func expectAttr(addr, attr string, want any) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(addr, attrPath(attr), knownValue(want))
}

// expectPlannedAttr checks that the plan holds want (see knownValue) at attr of addr.
func expectPlannedAttr(addr, attr string, want any) plancheck.PlanCheck {
	return plancheck.ExpectKnownValue(addr, attrPath(attr), knownValue(want))
}

// expectUnknown checks that the plan leaves attr of addr unknown: it is decided at apply.
func expectUnknown(addr, attr string) plancheck.PlanCheck {
	return plancheck.ExpectUnknownValue(addr, attrPath(attr))
}

// expectUpdate checks that the plan updates addr in place.
func expectUpdate(addr string) plancheck.PlanCheck {
	return plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)
}

// expectCreate checks that the plan creates addr.
func expectCreate(addr string) plancheck.PlanCheck {
	return plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate)
}

// beforeApply runs checks on the plan of a step before it is applied.
func beforeApply(checks ...plancheck.PlanCheck) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{PreApply: checks}
}
