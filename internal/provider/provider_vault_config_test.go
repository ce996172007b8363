package provider

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// realProviderFactories serve the provider as Terraform runs it: no injected engine.
func realProviderFactories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"nhi": providerserver.NewProtocol6WithError(New("test")()),
	}
}

// TestVaultAddrWithoutBlock: with VAULT_ADDR set and no engine block the provider uses that
// Vault, never a local file: against an unreachable address the plan fails naming the address
// setting, and no local engine file appears in the working directory.
func TestVaultAddrWithoutBlock(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	t.Setenv("VAULT_ADDR", srv.URL)
	t.Setenv("VAULT_TOKEN", "t")
	t.Setenv(envLocalPath, filepath.Join(t.TempDir(), "engine.db"))
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: realProviderFactories(),
		Steps: []resource.TestStep{{
			Config:      `data "nhi_identities" "all" {}`,
			ExpectError: regexp.MustCompile(`Unable to Connect to Vault[\s\S]*cannot reach Vault at[\s\S]*VAULT_ADDR`),
		}},
	})
	if _, err := os.Stat(os.Getenv(envLocalPath)); !os.IsNotExist(err) {
		t.Fatalf("the local engine file was created (stat error %v)", err)
	}
}

// TestVaultLoginConfigValidation: token sources and paired settings of the vault block are
// checked at validation, on their attribute paths, before any connection.
func TestVaultLoginConfigValidation(t *testing.T) {
	parallel(t)
	cases := map[string]string{
		`token = "t"
    auth_login_approle {
      role_id   = "r"
      secret_id = "s"
    }`: `vault.token[\s\S]*vault.auth_login_approle|vault.auth_login_approle[\s\S]*vault.token`,
		`token_file = "/run/token"
    auth_login_jwt {
      role = "ci"
      jwt  = "x"
    }`: `vault.token_file[\s\S]*vault.auth_login_jwt|vault.auth_login_jwt[\s\S]*vault.token_file`,
		`auth_login_jwt {
      role     = "ci"
      jwt      = "x"
      jwt_file = "/run/jwt"
    }`: `auth_login_jwt.jwt`,
		`auth_login_approle {
      role_id        = "r"
      secret_id      = "s"
      secret_id_file = "/run/sid"
    }`: `auth_login_approle.secret_id`,
		`client_cert = "/c.pem"`: `vault.client_key`,
	}
	var steps []resource.TestStep
	for body, want := range cases {
		steps = append(steps, resource.TestStep{
			Config:      "provider \"nhi\" {\n  vault {\n    " + body + "\n  }\n}\n\ndata \"nhi_identities\" \"all\" {}\n",
			ExpectError: regexp.MustCompile(want),
		})
	}
	resource.UnitTest(t, resource.TestCase{ProtoV6ProviderFactories: realProviderFactories(), Steps: steps})
}
