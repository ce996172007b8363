package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// TestAccAuditLog: the log shows each credential event with its requester and purpose, and
// an expiry derived from the fake clock; filters select by identity, time and type. The first
// "used" event of the identity names the requester of the first credential: minting it was the
// identity's first use (a login on Vault).
func TestAccAuditLog(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	event := func(i int, typ, requester string) []statecheck.StateCheck {
		at := fmt.Sprintf("events.%d.", i)
		return []statecheck.StateCheck{
			expectAttr("data.nhi_audit_log.build", at+"type", typ),
			expectAttr("data.nhi_audit_log.build", at+"requester", requester),
		}
	}
	checks := []statecheck.StateCheck{
		expectAttr("data.nhi_audit_log.build", "events", knownvalue.ListSizeExact(4)),
		expectAttr("data.nhi_audit_log.build", "events.1.purpose", "nightly build"),
		expectAttr("data.nhi_audit_log.late", "events", knownvalue.ListSizeExact(2)),
		expectAttr("data.nhi_audit_log.used", "events.0", knownvalue.ObjectPartial(map[string]knownvalue.Check{
			"type": knownvalue.StringExact(engine.EventUsed), "identity": knownvalue.StringExact("ci-build"), "requester": knownvalue.StringExact("pipeline-1"),
		})),
	}
	checks = append(checks, event(1, engine.EventIssued, "pipeline-1")...)
	checks = append(checks, event(2, engine.EventIssued, "pipeline-2")...)
	checks = append(checks, event(3, engine.EventExpired, "pipeline-1")...)
	env.unitTest(t, []resource.TestStep{
		{Config: identityConfig("team-build", "retire")},
		{
			PreConfig: func() {
				for _, req := range []engine.CredentialRequest{
					{Identity: "ci-build", Requester: "pipeline-1", Purpose: "nightly build", TTL: 5 * time.Minute},
					{Identity: "ci-build", Requester: "pipeline-2", Purpose: "release"},
				} {
					if _, _, err := env.engine.IssueCredential(ctx, req); err != nil {
						t.Fatal(err)
					}
					env.clock.Advance(time.Minute)
				}
				env.clock.Advance(10 * time.Minute) // the first has expired, the second not yet
			},
			Config: identityConfig("team-build", "retire") + `
data "nhi_audit_log" "build" {
  identity = nhi_identity.build.id
  types    = ["identity_created", "issued", "renewed", "revoked", "expired"]
}

data "nhi_audit_log" "late" {
  identity = nhi_identity.build.id
  since    = "2026-01-01T12:01:00Z"
  types    = ["issued", "expired"]
}

data "nhi_audit_log" "used" {
  identity = nhi_identity.build.id
  types    = ["used"]
}
`,
			ConfigStateChecks: checks,
		},
	})
}
