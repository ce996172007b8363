package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
