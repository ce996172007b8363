package provider

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// skipUnlessTerraform114 skips a CLI test where the binary is not Terraform 1.14 or later.
func skipUnlessTerraform114(t *testing.T, c *terraformCLI) {
	t.Helper()
	out, _ := c.run([]int{0}, "version")
	m := regexp.MustCompile(`Terraform v1\.(\d+)\.`).FindStringSubmatch(out)
	minor := 0
	if len(m) == 2 {
		minor, _ = strconv.Atoi(m[1])
	}
	if openTofu() || minor < 14 {
		t.Skipf("needs Terraform 1.14 or later (terraform query and actions), not %s", strings.SplitN(out, "\n", 2)[0])
	}
}

// TestAccQuery_generateConfig: on an engine that holds a fleet no state knows,
// `terraform query -generate-config-out` writes import blocks (by resource identity) and
// configuration; the plan imports every object and changes nothing; after the apply the plan is
// empty.
func TestAccQuery_generateConfig(t *testing.T) {
	env := newTestEnv(t)
	c := newTerraformCLI(t, env)
	skipUnlessTerraform114(t, c)
	// The fleet, made by a configuration whose state is then lost.
	c.write("main.tf", queryFleetConfig)
	c.run([]int{0}, "init", "-input=false")
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	for _, f := range []string{"main.tf", "terraform.tfstate", "terraform.tfstate.backup"} {
		_ = os.Remove(filepath.Join(c.dir, f))
	}
	c.write("main.tf", `provider "nhi" {}`)
	c.write("fleet.tfquery.hcl", `
list "nhi_lifecycle_class" "all" {
  provider = nhi
}

list "nhi_ttl_policy" "all" {
  provider = nhi
}

list "nhi_identity" "all" {
  provider = nhi
}

list "nhi_rotation_schedule" "all" {
  provider = nhi
}
`)
	out, _ := c.run([]int{0}, "query", "-no-color", "-generate-config-out=generated.tf")
	raw, err := os.ReadFile(filepath.Join(c.dir, "generated.tf"))
	if err != nil {
		t.Fatalf("no generated configuration: %v\n%s", err, out)
	}
	generated := string(raw)
	t.Logf("generated configuration:\n%s", generated)
	for _, want := range []string{`name = "ci-build"`, `identity = {`, `resource "nhi_rotation_schedule"`, `class = "ci"`} {
		if !regexp.MustCompile(strings.ReplaceAll(regexp.QuoteMeta(want), " ", `\s+`)).MatchString(generated) {
			t.Fatalf("the generated configuration lacks %q:\n%s", want, generated)
		}
	}
	if n := strings.Count(generated, "import {"); n != 7 {
		t.Fatalf("%d import blocks, want 7 (2 classes, 1 policy, 3 identities, 1 schedule):\n%s", n, generated)
	}
	out, _ = c.run([]int{0, 2}, "plan", "-no-color", "-input=false", "-detailed-exitcode")
	if !strings.Contains(out, "7 to import, 0 to add, 0 to change, 0 to destroy") {
		t.Fatalf("the plan of the generated configuration is not 7 imports and nothing else:\n%s\n%s", out, generated)
	}
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	if out, code := c.run([]int{0, 2}, "plan", "-no-color", "-input=false", "-detailed-exitcode"); code != 0 {
		t.Fatalf("after importing, the plan is not empty:\n%s", out)
	}
}

// TestAccActionInvoke_cli: `terraform apply -invoke=action.nhi_rotate.<name>`, as users run
// it, rotates the secret and shows the action's progress messages.
func TestAccActionInvoke_cli(t *testing.T) {
	env := newTestEnv(t)
	c := newTerraformCLI(t, env)
	skipUnlessTerraform114(t, c)
	c.write("main.tf", actionConfig(rotateActions, "calm", "action.nhi_rotate.billing"))
	c.run([]int{0}, "init", "-input=false")
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	out, _ := c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false", "-invoke=action.nhi_rotate.billing")
	v, _, err := env.engine.CurrentSecret(context.Background(), "billing-sync")
	if err != nil || v.Version != 2 {
		t.Fatalf("after -invoke the current version is %d (%v), want 2:\n%s", v.Version, err, out)
	}
	for _, want := range []string{`Rotating the secret of identity "billing-sync" (current version 1`, `Identity "billing-sync": version 2 is current`} {
		if !strings.Contains(out, want) {
			t.Fatalf("the apply output lacks the progress message %q:\n%s", want, out)
		}
	}
}
