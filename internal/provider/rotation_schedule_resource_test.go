package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

func stateInt(s *terraform.State, res, attr string) string {
	return s.RootModule().Resources[res].Primary.Attributes[attr]
}

// TestAccRotationSchedule_lifecycle moves the fake clock through a schedule's life: version 1 on
// create; no change before due; due → the plan shows the update → apply rotates; both secrets
// work during the overlap and only the new one after; a failed verification rolls back and fails
// the apply with the cause; a manual rollback re-promotes a retained version; import.
func TestAccRotationSchedule_lifecycle(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	ctx := context.Background()
	var first, second string
	secrets := noSecrets{secrets: rec.issued}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.recordingFactories(rec),
		Steps: []resource.TestStep{
			{
				Config: scheduleConfig(intervalSchedule),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("nhi_rotation_schedule.billing", "current_version", 1),
					expectAttr("nhi_rotation_schedule.billing", "last_rotated_at", "2026-01-01T12:00:00Z"),
					expectAttr("nhi_rotation_schedule.billing", "next_rotation_at", "2026-01-31T12:00:00Z"),
					expectAttr("nhi_rotation_schedule.billing", "previous_expires_at", nil),
					secrets,
				},
				Check: func(*terraform.State) error {
					v, s := billingSecret(t, rec)
					if v.Version != 1 {
						return fmt.Errorf("engine's current version = %d, want 1", v.Version)
					}
					first = s
					return nil
				},
			},
			{
				PreConfig: func() { env.clock.Advance(29 * policy.Day) },
				Config:    scheduleConfig(intervalSchedule),
				PlanOnly:  true, // not due yet: an empty plan
			},
			{
				PreConfig: func() { env.clock.Advance(policy.Day) },
				Config:    scheduleConfig(intervalSchedule),
				ConfigPlanChecks: beforeApply(
					expectUpdate("nhi_rotation_schedule.billing"),
					expectUnknown("nhi_rotation_schedule.billing", "current_version"),
					secrets,
				),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("nhi_rotation_schedule.billing", "current_version", 2),
					expectAttr("nhi_rotation_schedule.billing", "previous_expires_at", "2026-01-31T13:00:00Z"),
					secrets,
				},
				Check: func(*terraform.State) error {
					_, second = billingSecret(t, rec)
					return env.checkOverlap(ctx, rec, "billing-sync", first, second, time.Hour+time.Minute)
				},
			},
			{
				// The next rotation's verification fails: rolled back, apply fails with the cause.
				PreConfig: func() {
					env.clock.Advance(30 * policy.Day)
					rec.set(func(r *recordingEngine) { r.failAuth = true })
				},
				Config:      scheduleConfig(intervalSchedule),
				ExpectError: regexp.MustCompile(`Rotation Verification Failed[\s\S]*simulated\s+outage[\s\S]*rolled\s+back`),
			},
			{
				PreConfig: func() {
					rec.set(func(r *recordingEngine) { r.failAuth = false })
					if v, s := billingSecret(t, rec); v.Version != 2 || s != second {
						t.Fatalf("after a failed verification the current version is %d, want 2", v.Version)
					}
					versions, err := rec.ListSecretVersions(ctx, "billing-sync")
					if err != nil {
						t.Fatal(err)
					}
					for _, v := range versions {
						if v.Version == 3 {
							t.Fatalf("the rolled-back version 3 survived: %+v", v)
						}
					}
				},
				// Still due, so this apply rotates to version 4.
				Config: scheduleConfig(intervalSchedule),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("nhi_rotation_schedule.billing", "current_version", 4),
				},
			},
			{
				// Manual rollback to version 2, retained for it.
				Config:           scheduleConfig(intervalSchedule + `  rollback_to_version = 2`),
				ConfigPlanChecks: beforeApply(expectUnknown("nhi_rotation_schedule.billing", "current_version")),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("nhi_rotation_schedule.billing", "current_version", 2),
				},
				Check: func(*terraform.State) error {
					if _, s := billingSecret(t, rec); s != second {
						return errors.New("rollback did not re-promote version 2's secret")
					}
					return nil
				},
			},
			importStep("nhi_rotation_schedule.billing", "billing-sync", "rollback_to_version"),
		},
	})
}

// TestAccRotationSchedule_cronWindowOverdue: a cron schedule is due at its next run; within the
// window it is on time, past it the refresh reports how overdue it is, and apply rotates.
func TestAccRotationSchedule_cronWindowOverdue(t *testing.T) {
	env := newTestEnv(t)
	cfg := scheduleConfig(`
  cron             = "0 3 * * 1"
  window           = "6h"
  overlap          = "30m"
  expire_unrotated = true
`)
	monday := time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)
	env.unitTest(t, []resource.TestStep{
		{
			Config: cfg,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_rotation_schedule.billing", "next_rotation_at", "2026-01-05T03:00:00Z"),
				expectAttr("nhi_rotation_schedule.billing", "overdue_by", nil),
			},
			Check: func(*terraform.State) error {
				v, _, err := env.engine.CurrentSecret(context.Background(), "billing-sync")
				if err != nil || !v.ExpiresAt.Equal(monday.Add(6*time.Hour)) {
					return fmt.Errorf("expire_unrotated: current secret expires %s (%v), want the due time plus the window", v.ExpiresAt, err)
				}
				return nil
			},
		},
		{
			PreConfig:          func() { env.clock.Set(monday.Add(8 * time.Hour)) }, // 2h past the window
			RefreshState:       true,
			ExpectNonEmptyPlan: true, // the rotation is due
			Check: func(s *terraform.State) error {
				if got := stateInt(s, "nhi_rotation_schedule.billing", "overdue_by"); got != "2h" {
					return fmt.Errorf("after refresh overdue_by = %q, want 2h", got)
				}
				return nil
			},
		},
		{
			Config:           cfg,
			ConfigPlanChecks: beforeApply(expectUpdate("nhi_rotation_schedule.billing")),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_rotation_schedule.billing", "current_version", 2),
				expectAttr("nhi_rotation_schedule.billing", "next_rotation_at", "2026-01-12T03:00:00Z"),
				expectAttr("nhi_rotation_schedule.billing", "overdue_by", nil),
			},
		},
	})
}

func badSchedule(identity, body string) string {
	return badResource("rotation_schedule", "  identity = "+identity, body)
}

// TestAccRotationSchedule_planRejects covers every schedule rule at plan.
func TestAccRotationSchedule_planRejects(t *testing.T) {
	env := newTestEnv(t)
	base := governanceConfig + rotationIdentity + buildIdentityHCL("team-build")
	testRejections(t, env, base, []rejection{
		{"interval above class max", badSchedule("nhi_identity.payments.id", `
  interval  = "45d"
  consumers = [{ name = "checkout" }]`), `Rotation Interval Above Class Maximum[\s\S]*at\s+most\s+30d`},
		{"cron gap above class max", badSchedule("nhi_identity.payments.id", `
  cron      = "0 3 1 */3 *"
  consumers = [{ name = "checkout" }]`), `Rotation Interval Above Class Maximum[\s\S]*between\s+rotations`},
		{"consumers missing", badSchedule("nhi_identity.payments.id", `interval = "7d"`), `Consumers Missing`},
		{"overlap not below interval", badSchedule("nhi_identity.billing.id", `
  interval = "1d"
  overlap  = "2d"`), `Overlap Not Shorter Than Interval`},
		{"schedule on an ephemeral identity", badSchedule("nhi_identity.build.id", `interval = "7d"`), `Rotation Schedule On Ephemeral Identity`},
		{"interval and cron", badSchedule("nhi_identity.billing.id", `
  interval = "7d"
  cron     = "0 3 * * 1"`), `Invalid Attribute Combination`},
		{"invalid cron", badSchedule("nhi_identity.billing.id", `cron = "every monday"`), `Invalid Cron Expression`},
		{"zero interval", badSchedule("nhi_identity.billing.id", `interval = "0s"`), `Invalid Duration[\s\S]*interval is "0s": it must be more than zero`},
		{"negative window", badSchedule("nhi_identity.billing.id", `
  interval = "7d"
  window   = "-1h"`), `Invalid Duration[\s\S]*window\s+=\s+"-1h"[\s\S]*negative`},
		{"negative overlap", badSchedule("nhi_identity.billing.id", `
  interval = "7d"
  overlap  = "-30m"`), `Invalid Duration[\s\S]*overlap\s+=\s+"-30m"[\s\S]*negative`},
		{"consumer without a name", badSchedule("nhi_identity.billing.id", `
  interval  = "7d"
  consumers = [{ name = "" }]`), `Empty Value[\s\S]*consumers\[0\].name is empty`},
		{"consumer with an empty kind", badSchedule("nhi_identity.billing.id", `
  interval  = "7d"
  consumers = [{ name = "billing-api", kind = "" }]`), `Empty Value[\s\S]*consumers\[0\].kind is empty`},
	})
}

// TestAccRotationSchedule_rollbackToMissingVersion: rollback_to_version naming a version the
// engine does not hold fails the plan on that attribute, on create and on update, and leaves
// the engine unchanged.
func TestAccRotationSchedule_rollbackToMissingVersion(t *testing.T) {
	env := newTestEnv(t)
	var before string
	snap := func(*terraform.State) error { before = env.snapshot(t); return nil }
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig + rotationIdentity, Check: snap},
		{
			PreConfig:   env.unchangedSince(t, &before),
			Config:      scheduleConfig(intervalSchedule + `  rollback_to_version = 3`),
			ExpectError: regexp.MustCompile(`Secret Version Not Found[\s\S]*rollback_to_version = 3[\s\S]*Versions held: none`),
		},
		{PreConfig: env.unchangedSince(t, &before), Config: scheduleConfig(intervalSchedule), Check: snap},
		{
			PreConfig:   env.unchangedSince(t, &before),
			Config:      scheduleConfig(intervalSchedule + `  rollback_to_version = 7`),
			ExpectError: regexp.MustCompile(`Secret Version Not Found[\s\S]*rollback_to_version\s+=\s+7[\s\S]*Versions held: 1\s+\(current\)`),
		},
		{PreConfig: env.unchangedSince(t, &before), Config: scheduleConfig(intervalSchedule), PlanOnly: true},
	})
}

// A rotation schedule left by an interrupted apply, with the secret it promoted, is adopted
// without rotating again; one that differs fails the plan on identity.
func TestAccRotationSchedule_adoptsOrRefusesExistingSchedule(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	declared := policy.RotationSchedule{Identity: "billing-sync", Interval: 30 * policy.Day, Overlap: time.Hour, Verify: true, KeepVersions: 3, SecretLength: 32,
		Consumers: []policy.Consumer{{Name: "billing-api", Kind: "service", Note: "reloads on SIGHUP"}}}
	put := func(s policy.RotationSchedule) {
		if err := env.engine.PutRotationSchedule(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	withoutSchedule := governanceConfig + rotationIdentity
	env.unitTest(t, []resource.TestStep{
		{Config: withoutSchedule},
		{
			PreConfig: func() {
				other := declared
				other.Interval = 7 * policy.Day
				put(other)
			},
			Config:   scheduleConfig(intervalSchedule),
			PlanOnly: true,
			ExpectError: wrappedError(`(?s)Rotation Schedule Already Exists.*with nhi_rotation_schedule.billing.*identity.*` +
				`interval: 7d in the engine, 30d declared.*terraform import nhi_rotation_schedule.<resource name> billing-sync`),
		},
		{
			// What the interrupted apply did: it promoted version 1 and wrote the schedule.
			PreConfig: func() {
				staged, _, err := env.engine.StageSecret(ctx, "billing-sync", 32)
				if err == nil {
					_, err = env.engine.PromoteSecret(ctx, "billing-sync", staged.Version, engine.PromoteOptions{Overlap: time.Hour, Keep: 3, Reason: "initial version"})
				}
				if err != nil {
					t.Fatal(err)
				}
				put(declared)
			},
			Config: scheduleConfig(intervalSchedule),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_rotation_schedule.billing", "current_version", 1),
			},
			Check: func(*terraform.State) error {
				versions, err := env.engine.ListSecretVersions(ctx, "billing-sync")
				if err != nil || len(versions) != 1 {
					return fmt.Errorf("secret versions after adopting = %+v, %v; want the one version, not rotated again", versions, err)
				}
				types := auditTypes(t, env.engine, "billing-sync")
				if len(types) == 0 || types[len(types)-1] != engine.EventAdopted {
					return fmt.Errorf("audit events of billing-sync = %v, want an adoption last", types)
				}
				return nil
			},
		},
		{Config: scheduleConfig(intervalSchedule), PlanOnly: true},
	})
}
