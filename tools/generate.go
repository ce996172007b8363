// Package tools holds the development tools of terraform-provider-nhi: tools.go pins them in
// this module's go.mod, and the directives below are what `make generate` runs.
//
// tfplugindocs is given no --tf-version: it then takes the terraform binary found on PATH and
// downloads nothing. The first directive runs that same binary, so a machine without terraform
// on PATH stops there, before tfplugindocs would try to fetch the latest release instead.
package tools

// Format the examples: they are rendered into docs/ verbatim.
//go:generate terraform fmt -recursive ../examples/

// Render docs/ from templates/, examples/ and the schema of the provider built from the
// repository root.
//go:generate go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-dir .. --provider-name nhi --rendered-provider-name NHI --rendered-website-dir docs --examples-dir examples --website-source-dir templates
