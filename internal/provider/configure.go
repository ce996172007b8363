package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// The types below, embedded in each resource, data source, ephemeral resource and action, give
// each kind of component its Metadata (from the type name it is constructed with) and its
// Configure (keeping the one providerData value the provider's Configure made, read as the
// component's data field) once.

// resourceBase is embedded in every managed resource (and so in its list resource). Besides
// Metadata and Configure it gives the resource its identity schema and import by key, the
// attribute that keys the resource's record (see resource_identity.go).
type resourceBase struct {
	typeName       string // the name after the provider's, e.g. "identity" for nhi_identity
	key            string // "name", or "identity" for a rotation schedule
	keyDescription string
	data           *providerData
}

func (b *resourceBase) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = nameIdentitySchema(b.key, b.keyDescription)
}

func (b *resourceBase) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importByName(ctx, b.key, req, resp)
}

func (b *resourceBase) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *resourceBase) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Resource", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// dataSourceBase is embedded in every data source.
type dataSourceBase struct {
	typeName string // the name after the provider's, e.g. "identity" for nhi_identity
	data     *providerData
}

func (b *dataSourceBase) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *dataSourceBase) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Data Source", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// ephemeralBase is embedded in every ephemeral resource.
type ephemeralBase struct {
	typeName string // the name after the provider's, e.g. "identity" for nhi_identity
	data     *providerData
}

func (b *ephemeralBase) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *ephemeralBase) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Ephemeral Resource", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// actionBase is embedded in every action (through identityAction).
type actionBase struct {
	typeName string // the name after the provider's, e.g. "identity" for nhi_identity
	data     *providerData
}

func (b *actionBase) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *actionBase) Configure(_ context.Context, req action.ConfigureRequest, resp *action.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Action", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// name is the action's full type name, such as nhi_rotate: what its messages and audit events
// call it.
func (b *actionBase) name() string { return providerTypeName + "_" + b.typeName }

// providerDataFrom extracts the providerData that Configure set; ok is false when the provider is
// not configured yet (nil) or when a wrong type arrived (reported as an error naming the kind).
func providerDataFrom(data any, kind string, diags *diag.Diagnostics) (*providerData, bool) {
	if data == nil {
		return nil, false
	}
	pd, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected "+kind+" Configure Type",
			fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider; please report it.", data))
		return nil, false
	}
	return pd, true
}

// managedResource is what every managed resource implements besides its own extras: Configure
// (from resourceBase), import by name and by resource identity, and a plan checked by policy.
type managedResource interface {
	resource.ResourceWithConfigure
	resource.ResourceWithImportState
	resource.ResourceWithIdentity
	resource.ResourceWithModifyPlan
}

// checkedAction is what every action implements: Configure (from identityAction) and a
// ModifyPlan that checks the action's identity before it is invoked.
type checkedAction interface {
	action.ActionWithConfigure
	action.ActionWithModifyPlan
}
