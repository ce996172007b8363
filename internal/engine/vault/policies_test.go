package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
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

// TestOpenAndReadsCreateNoMounts: Open and every read leave Vault without the engine's mounts;
// the first write creates them.
func TestOpenAndReadsCreateNoMounts(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	mounted := func() (kv, approle bool) {
		mounts, err := e.client.Sys().ListMountsWithContext(ctx)
		must(t, err)
		auths, err := e.client.Sys().ListAuthWithContext(ctx)
		must(t, err)
		return mounts[e.mount+"/"] != nil, auths[e.approle+"/"] != nil
	}
	if _, err := engine.Observe(ctx, e, time.Now()); err != nil {
		t.Fatalf("Observe on absent mounts: %v", err)
	}
	if _, err := e.GetIdentity(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("GetIdentity on absent mounts: error = %v, want ErrNotFound", err)
	}
	if kv, approle := mounted(); kv || approle {
		t.Fatalf("Open and reads created mounts: kv %v, approle %v", kv, approle)
	}
	must(t, e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral}))
	if kv, approle := mounted(); !kv || !approle {
		t.Fatalf("the first write did not create the mounts: kv %v, approle %v", kv, approle)
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
