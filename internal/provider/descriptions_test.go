package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// TestDescriptionsServed checks that every file in descriptions/ is the description of the
// provider or of a component it serves, so none is left behind when a component goes.
func TestDescriptionsServed(t *testing.T) {
	resp, err := providerserver.NewProtocol6(New("test")())().GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{resp.Provider.Block.Description: true}
	for _, schemas := range []map[string]*tfprotov6.Schema{resp.ResourceSchemas, resp.DataSourceSchemas,
		resp.EphemeralResourceSchemas, resp.ListResourceSchemas} {
		for _, s := range schemas {
			served[s.Block.Description] = true
		}
	}
	for _, a := range resp.ActionSchemas {
		served[a.Schema.Block.Description] = true
	}
	entries, err := descriptions.ReadDir("descriptions")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !served[description(strings.TrimSuffix(e.Name(), ".md"))] {
			t.Errorf("descriptions/%s describes nothing the provider serves", e.Name())
		}
	}
	if len(entries) < 17 {
		t.Errorf("descriptions/ holds %d files, want one for the provider and each of its 16 components with its own description", len(entries))
	}
}
