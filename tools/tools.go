//go:build tools

// Package tools pins the development tools of terraform-provider-nhi in this module's go.mod,
// so that `go run` and `go generate` use the same versions on every machine.
package tools

import (
	// golangci-lint: `make lint`.
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
	// tfplugindocs: `make generate` renders docs/ from templates/ and examples/.
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
)
