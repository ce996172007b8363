package provider

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// TestAccSecret_ephemeral: consumers read the current secret through nhi_secret; it matches the
// engine's current version and never lands in state.
func TestAccSecret_ephemeral(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	env.ephemeralTest(t, rec, []resource.TestStep{
		{Config: scheduleConfig(intervalSchedule)},
		{
			Config: scheduleConfig(intervalSchedule) + `
ephemeral "nhi_secret" "billing" {
  identity = nhi_rotation_schedule.billing.id
}

provider "echo" {
  data = ephemeral.nhi_secret.billing
}

resource "echo" "billing" {}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("echo.billing", "data.version", 1),
			},
			Check: func(s *terraform.State) error {
				_, want, err := rec.CurrentSecret(context.Background(), "billing-sync")
				if err != nil {
					return err
				}
				if got := stateInt(s, "echo.billing", "data.value"); got != want {
					return errors.New("nhi_secret's value is not the engine's current secret")
				}
				return nil
			},
		},
	})
}

// TestAccSecret_neverInStateOrPlan: with nhi_secret in use across a rotation, neither the saved
// plans nor the state hold any version of the secret.
func TestAccSecret_neverInStateOrPlan(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	secrets := noSecrets{secrets: rec.issued}
	cfg := scheduleConfig(intervalSchedule) + `
ephemeral "nhi_secret" "billing" {
  identity = nhi_rotation_schedule.billing.id
}

locals {
  secret_length = length(ephemeral.nhi_secret.billing.value)
}
`
	env.ephemeralTest(t, rec, []resource.TestStep{
		{Config: cfg, ConfigStateChecks: []statecheck.StateCheck{secrets}},
		{
			PreConfig:         func() { env.clock.Advance(31 * policy.Day) },
			Config:            cfg,
			ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{secrets}},
			ConfigStateChecks: []statecheck.StateCheck{secrets},
			Check: func(*terraform.State) error {
				if n := len(rec.issued()); n != 2 {
					return fmt.Errorf("%d secret versions were made, want 2: the scan proved less than it should", n)
				}
				return nil
			},
		},
	})
}
