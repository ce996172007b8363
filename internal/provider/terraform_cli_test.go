package provider

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"

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
