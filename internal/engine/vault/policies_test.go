package vault

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
)

// TestPoliciesDocumented: the documents show ReadOnlyPolicy and ApplyPolicy for the default
// mounts verbatim, so the copy a reader gives Vault is the one the tests prove
// (TestAccVault_readOnlyToken; the Vault acceptance suite runs with the apply policy).
func TestPoliciesDocumented(t *testing.T) {
	readOnly := "```hcl\n" + ReadOnlyPolicy(DefaultMount, DefaultAppRoleMount) + "```"
	apply := "```hcl\n" + ApplyPolicy(DefaultMount, DefaultAppRoleMount) + "```"
	for doc, want := range map[string][]string{
		"README.md":                      {readOnly},
		"templates/index.md.tmpl":        {readOnly},
		"docs/index.md":                  {readOnly},
		"templates/guides/vault.md.tmpl": {readOnly, apply},
		"docs/guides/vault.md":           {readOnly, apply},
	} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if !strings.Contains(string(raw), w) {
				t.Errorf("%s does not show policy %d of %s verbatim (for mounts %q, %q)", doc, i, doc, DefaultMount, DefaultAppRoleMount)
			}
		}
	}
}

// TestApplyPolicyScopesLeases: the apply policy lets its token renew and revoke the leases of
// the provider's database mount, by their id in the path, and no other lease.
func TestApplyPolicyScopesLeases(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	tok := acctest.VaultToken(t, e.client, e.Mount()+"-apply", ApplyPolicy(e.Mount(), e.AppRoleMount()))
	own := e.DatabaseMount() + "/creds/ci-db/0123abcd"
	for path, want := range map[string]bool{
		"sys/leases/renew/" + own:                   true,
		"sys/leases/revoke/" + own:                  true,
		"sys/leases/renew":                          false,
		"sys/leases/revoke":                         false,
		"sys/leases/revoke/aws/creds/admin/0123":    false,
		"sys/leases/renew/other-database/creds/x/1": false,
		"sys/leases/revoke-prefix/" + own:           false,
	} {
		caps, err := e.client.Sys().CapabilitiesWithContext(ctx, tok, path)
		must(t, err)
		if got := slices.Contains(caps, "update"); got != want {
			t.Errorf("the apply policy's capabilities on %s: %v; want update %v", path, caps, want)
		}
	}
}
