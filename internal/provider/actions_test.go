package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// The actions are invoked the way Terraform 1.14 runs them in an apply: a terraform_data
// resource's update triggers them (`lifecycle { action_trigger { ... } }`), so each step that
// changes its input invokes the actions it names.

// actionVersionChecks skip the action tests where Terraform has no actions.
var actionVersionChecks = needsTerraform114("actions")

// actionConfig is the identities, the actions and a trigger that invokes actions (a list of
// action addresses) whenever input changes.
func actionConfig(actions, input, invoked string) string {
	return `
provider "nhi" {
  requester = "oncall@example.com"
}
` + governanceConfig + credentialIdentity + `
resource "nhi_rotation_schedule" "billing" {
  identity = nhi_identity.billing.id
  interval = "30d"
  overlap  = "1h"
}
` + actions + fmt.Sprintf(`
resource "terraform_data" "incident" {
  input = %q
  lifecycle {
    action_trigger {
      events  = [after_update]
      actions = [%s]
    }
  }
}
`, input, invoked)
}

const rotateActions = `
action "nhi_rotate" "billing" {
  config {
    identity = nhi_identity.billing.name
    reason   = "INC-42: secret pasted in a ticket"
  }
}
`

// lastAction is the newest action event in identity's audit log.
func lastAction(t *testing.T, e engine.Engine, identity string) engine.AuditEvent {
	t.Helper()
	events, err := e.AuditEvents(context.Background(), engine.AuditFilter{Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == engine.EventAction {
			return events[i]
		}
	}
	t.Fatalf("no action event for %q in %v", identity, auditTypes(t, e, identity))
	return engine.AuditEvent{}
}

// TestAccActionRotate: a plan that would invoke nhi_rotate writes nothing; nhi_rotate rotates
// now through the schedule's stage, verify, promote path: the old secret works during the overlap and not after, the new one works, and the
// audit log holds the reason and the requester; a failed verification fails the action and
// leaves the old secret current; an identity without a schedule fails the plan.
func TestAccActionRotate(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	ctx := context.Background()
	var first, second, before string
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.recordingFactories(rec),
		TerraformVersionChecks:   actionVersionChecks,
		Steps: []resource.TestStep{
			{
				Config: actionConfig(rotateActions, "calm", "action.nhi_rotate.billing"),
				Check: func(*terraform.State) error {
					_, first = billingSecret(t, rec)
					before = env.snapshot(t)
					return nil
				},
			},
			{
				// A plan that would invoke the action runs its plan-time checks and writes nothing.
				Config:             actionConfig(rotateActions, "INC-42", "action.nhi_rotate.billing"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: env.unchangedSince(t, &before),
				Config:    actionConfig(rotateActions, "INC-42", "action.nhi_rotate.billing"),
				Check: func(*terraform.State) error {
					v, s := billingSecret(t, rec)
					if v.Version != 2 || s == first {
						return fmt.Errorf("after nhi_rotate the current version is %d, want 2 with a new secret", v.Version)
					}
					second = s
					ev := lastAction(t, rec, "billing-sync")
					if ev.Requester != "oncall@example.com" || ev.Purpose != "nhi_rotate" || !strings.Contains(ev.Detail, "INC-42: secret pasted") {
						return fmt.Errorf("audit event %+v, want nhi_rotate with the requester and the reason", ev)
					}
					types := auditTypes(t, rec, "billing-sync")
					if got := strings.Join(types[len(types)-3:], ","); got != "action,secret_staged,secret_promoted" {
						return fmt.Errorf("audit tail %s, want the action, then the staged and promoted secret", got)
					}
					return env.checkOverlap(ctx, rec, "billing-sync", first, second, time.Hour+time.Minute)
				},
			},
			{
				// A failed verification: the action fails with the cause, the old secret stays current.
				PreConfig:   func() { rec.set(func(r *recordingEngine) { r.failAuth = true }) },
				Config:      actionConfig(rotateActions, "INC-43", "action.nhi_rotate.billing"),
				ExpectError: regexp.MustCompile(`Rotation Verification Failed[\s\S]*simulated\s+outage[\s\S]*rolled\s+back`),
			},
			{
				PreConfig: func() {
					rec.set(func(r *recordingEngine) { r.failAuth = false })
					if v, s := billingSecret(t, rec); v.Version != 2 || s != second {
						t.Fatalf("after a failed verification the current version is %d, want 2", v.Version)
					}
				},
				// An identity without a rotation schedule fails the plan, before anything runs.
				Config: actionConfig(rotateActions+`
action "nhi_rotate" "build" {
  config {
    identity = nhi_identity.build.name
    reason   = "INC-44"
  }
}
`, "INC-44", "action.nhi_rotate.build"),
				ExpectError: wrappedError(`Rotation Schedule Not Found: nhi_rotate: identity "ci-build" has no rotation schedule`),
			},
		},
	})
}

const revokeActions = `
action "nhi_revoke_credentials" "early" {
  config {
    identity      = nhi_identity.build.name
    issued_before = "2026-01-01T12:05:00Z"
    reason        = "INC-7: leaked build log"
  }
}

action "nhi_revoke_credentials" "all" {
  config {
    identity = nhi_identity.build.name
  }
}
`

// TestAccActionRevokeCredentials: nhi_revoke_credentials revokes the live credentials issued
// before issued_before, then, without it, every live credential; the identity stays active and
// gets new credentials; the audit log holds the requester and the reason.
func TestAccActionRevokeCredentials(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var early, late engine.Credential
	var lateSecret string
	issue := func() (engine.Credential, string) {
		c, s, err := env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}
	revoked := func(c engine.Credential) bool {
		creds, err := env.engine.ListCredentials(ctx, "ci-build")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range creds {
			if x.ID == c.ID {
				return !x.RevokedAt.IsZero()
			}
		}
		t.Fatalf("credential %s not listed", c.ID)
		return false
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		TerraformVersionChecks:   actionVersionChecks,
		Steps: []resource.TestStep{
			{Config: actionConfig(revokeActions, "calm", "action.nhi_revoke_credentials.early")},
			{
				PreConfig: func() {
					early, _ = issue() // 12:00
					env.clock.Advance(10 * time.Minute)
					late, lateSecret = issue() // 12:10
				},
				Config: actionConfig(revokeActions, "INC-7", "action.nhi_revoke_credentials.early"),
				Check: func(*terraform.State) error {
					if !revoked(early) || revoked(late) {
						return fmt.Errorf("issued_before 12:05: early revoked %t, late revoked %t; want only the early one", revoked(early), revoked(late))
					}
					if _, err := env.engine.Authenticate(ctx, lateSecret); err != nil {
						return fmt.Errorf("a credential issued after issued_before stopped working: %v", err)
					}
					ev := lastAction(t, env.engine, "ci-build")
					if ev.Requester != "oncall@example.com" || ev.Purpose != "nhi_revoke_credentials" || !strings.Contains(ev.Detail, "INC-7: leaked build log") ||
						!strings.Contains(ev.Detail, "(1)") {
						return fmt.Errorf("audit event %+v, want the requester, the reason and one credential", ev)
					}
					return nil
				},
			},
			{
				Config: actionConfig(revokeActions, "INC-8", "action.nhi_revoke_credentials.all"),
				Check: func(*terraform.State) error {
					if !revoked(late) {
						return errors.New("without issued_before a live credential survived")
					}
					if _, err := env.engine.Authenticate(ctx, lateSecret); !errors.Is(err, engine.ErrDenied) {
						return fmt.Errorf("a revoked credential still authenticates: %v", err)
					}
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || id.Retired() {
						return fmt.Errorf("the identity did not stay active: %+v, %v", id, err)
					}
					issue() // the identity still gets credentials
					return nil
				},
			},
		},
	})
}

const offboardActions = `
action "nhi_offboard" "build" {
  config {
    identity = nhi_identity.build.name
    reason   = "team-build dissolved"
  }
}
`

// expectDrift is a plan check: the plan reports that address changed outside Terraform, with
// attribute attr now value.
type expectDrift struct{ address, attr, value string }

func (c expectDrift) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceDrift {
		if rc.Address != c.address || rc.Change == nil {
			continue
		}
		if after, ok := rc.Change.After.(map[string]any); ok && after[c.attr] == c.value {
			return
		}
		resp.Error = fmt.Errorf("%s drifted, but %s is not %q: %v", c.address, c.attr, c.value, rc.Change.After)
		return
	}
	resp.Error = fmt.Errorf("the plan reports no drift of %s (drift: %v)", c.address, driftAddresses(req.Plan.ResourceDrift))
}

func driftAddresses(changes []*tfjson.ResourceChange) []string {
	var out []string
	for _, rc := range changes {
		out = append(out, rc.Address)
	}
	return out
}

// TestAccActionOffboard: nhi_offboard revokes every credential and retires the identity; the
// next plan shows the resource drifted to retired; a second offboard fails the plan.
func TestAccActionOffboard(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var secret string
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		TerraformVersionChecks:   actionVersionChecks,
		Steps: []resource.TestStep{
			{
				Config: actionConfig(offboardActions, "calm", "action.nhi_offboard.build"),
				Check: func(*terraform.State) error {
					var err error
					_, secret, err = env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "ci"})
					return err
				},
			},
			{
				Config: actionConfig(offboardActions, "offboard", "action.nhi_offboard.build"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{expectDrift{"nhi_identity.build", "status", "retired"}},
				},
				Check: func(*terraform.State) error {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || !id.Retired() {
						return fmt.Errorf("after nhi_offboard the identity is %+v (%v), want it retired", id, err)
					}
					if _, err := env.engine.Authenticate(ctx, secret); err == nil {
						return errors.New("a credential of the offboarded identity still authenticates")
					}
					ev := lastAction(t, env.engine, "ci-build")
					if ev.Requester != "oncall@example.com" || !strings.Contains(ev.Detail, "team-build dissolved") {
						return fmt.Errorf("audit event %+v, want the requester and the reason", ev)
					}
					return nil
				},
			},
			{
				Config:      actionConfig(offboardActions, "again", "action.nhi_offboard.build"),
				ExpectError: wrappedError(`Identity Retired: nhi_offboard: identity "ci-build" was retired`),
			},
		},
	})
}
