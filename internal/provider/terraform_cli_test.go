package provider

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// The Terraform 1.12+ surface (resource identity, list resources, actions) is tested with the
// binary the acceptance tests run (TF_ACC_TERRAFORM_PATH). OpenTofu reports a version number
// like Terraform's, so a version check alone would let a future OpenTofu 1.14 through; the
// binary's own `version` output tells them apart.

// terraformBinary is the CLI the acceptance tests run.
func terraformBinary() string {
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	return "terraform"
}

var openTofu = sync.OnceValue(func() bool {
	out, err := exec.Command(terraformBinary(), "version").CombinedOutput()
	return err == nil && strings.Contains(string(out), "OpenTofu")
})

// skipOpenTofu skips a test on OpenTofu, which lacks what the test exercises (why).
type skipOpenTofu struct{ why string }

func (s skipOpenTofu) CheckTerraformVersion(_ context.Context, _ tfversion.CheckTerraformVersionRequest, resp *tfversion.CheckTerraformVersionResponse) {
	if openTofu() {
		resp.Skip = "OpenTofu does not support " + s.why + ": skipping test"
	}
}

// needsTerraform114 skips a test of what Terraform has from 1.14 on and OpenTofu lacks (why).
func needsTerraform114(why string) []tfversion.TerraformVersionCheck {
	return []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0), skipOpenTofu{why: why}}
}

// terraformCLI runs the Terraform binary of the acceptance tests in a directory of its own,
// as a user runs it, against the provider served in this process on env's engine and clock:
// for what terraform-plugin-testing cannot drive (`terraform query -generate-config-out`,
// `terraform apply -invoke`).
type terraformCLI struct {
	t   *testing.T
	dir string
	env []string
}

// newTerraformCLI serves the provider until the test ends and returns a CLI in a fresh directory.
func newTerraformCLI(t *testing.T, env *testEnv) *terraformCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	server := func() tfprotov6.ProviderServer {
		s, err := env.factories()["nhi"]()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	go func() {
		err := tf6server.Serve("registry.terraform.io/hashicorp/nhi", server, tf6server.WithDebug(ctx, reattach, closed),
			tf6server.WithGoPluginLogger(hclog.NewNullLogger()), tf6server.WithLoggingSink(t))
		if err != nil {
			t.Errorf("serving the provider: %v", err)
		}
	}()
	var cfg *plugin.ReattachConfig
	select {
	case cfg = <-reattach:
	case <-time.After(time.Minute):
		t.Fatal("the provider server did not start")
	}
	t.Cleanup(func() { cancel(); <-closed })
	info, err := json.Marshal(map[string]any{"registry.terraform.io/hashicorp/nhi": map[string]any{
		"Protocol": cfg.Protocol, "ProtocolVersion": cfg.ProtocolVersion, "Pid": cfg.Pid, "Test": true,
		"Addr": map[string]string{"Network": cfg.Addr.Network(), "String": cfg.Addr.String()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &terraformCLI{t: t, dir: t.TempDir(), env: append(os.Environ(), "TF_REATTACH_PROVIDERS="+string(info), "TF_IN_AUTOMATION=1")}
}

// write writes a file of the working directory.
func (c *terraformCLI) write(name, content string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// run runs terraform with args and returns its combined output and exit code; an exit code
// other than those in ok fails the test.
func (c *terraformCLI) run(ok []int, args ...string) (string, int) {
	c.t.Helper()
	cmd := exec.Command(terraformBinary(), args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		c.t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
	}
	if !slices.Contains(ok, code) {
		c.t.Fatalf("terraform %s exited %d, want one of %v:\n%s", strings.Join(args, " "), code, ok, out)
	}
	return string(out), code
}
