// Command vault builds the HashiCorp Vault CLI/server (v1.13.0) from source so
// that acceptance tests can run against a local dev server without downloading
// any prebuilt binary. See scripts/vault-dev.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
