package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/list/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ list.ListResourceWithConfigure = (*identityResource)(nil)

// NewIdentityListResource returns the nhi_identity list resource.
func NewIdentityListResource() list.ListResource { return asList(NewIdentityResource()) }

type identityListModel struct {
	identityFilters
	IncludeUnmanaged types.Bool `tfsdk:"include_unmanaged"`
}

func (r *identityResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("identity_list_resource"),
		Attributes: map[string]schema.Attribute{
			"class":       schema.StringAttribute{Optional: true, MarkdownDescription: "Only identities of this lifecycle class."},
			"owner":       schema.StringAttribute{Optional: true, MarkdownDescription: "Only identities with this owner."},
			"environment": schema.StringAttribute{Optional: true, MarkdownDescription: "Only identities in this environment."},
			"status": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Only `active` or only `retired` identities. Unset: both.",
				Validators:          []validator.String{stringvalidator.OneOf(string(policy.StatusActive), string(policy.StatusRetired))}},
			"include_unmanaged": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "Also list what the engine holds for identities this provider did not create (on Vault: " +
					"AppRole roles without the provider's record), by name; the filters do not apply to them. Importing one " +
					"adopts it: fill in its class (and what the class requires) in the generated configuration, and the apply " +
					"creates the governance record, entity and alias around the role and rewrites its settings to the class's " +
					"TTL policy. The local engine holds none."},
		},
	}
}

func (r *identityResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	var f identityListModel
	var diags diag.Diagnostics
	if diags.Append(req.Config.Get(ctx, &f)...); diags.HasError() {
		stream.Results = list.ListResultsStreamDiagnostics(diags)
		return
	}
	if !listConfigured(r.data, stream) {
		return
	}
	ids, err := r.data.engine.ListIdentities(ctx)
	if err != nil {
		listError(stream, "list identities", err)
		return
	}
	var items []listed
	for _, id := range ids {
		if !f.match(id) {
			continue
		}
		items = append(items, listed{name: id.Name, display: fmt.Sprintf("%s (class %s, %s)", id.Name, id.Class, id.Status),
			model: func(diags *diag.Diagnostics) any {
				var m identityModel
				m.fromPolicy(id)
				r.observe(ctx, id, &m, diags)
				return &m
			}})
	}
	if f.IncludeUnmanaged.ValueBool() {
		if u, ok := r.data.engine.(engine.UnmanagedLister); ok {
			names, err := u.ListUnmanaged(ctx)
			if err != nil {
				listError(stream, "list unmanaged identities", err)
				return
			}
			for _, name := range names {
				items = append(items, listed{name: name, display: name + " (unmanaged: not created by this provider)",
					model: func(diags *diag.Diagnostics) any { return unmanagedIdentityModel(name, diags) }})
			}
		}
	}
	streamListed(ctx, req, stream, "name", items)
}

// unmanagedIdentityModel is the resource object of an identity this provider did not create:
// its name, and nothing it could tell about the rest (class, owner, ...), which the warning asks
// to fill in before the import adopts it.
func unmanagedIdentityModel(name string, diags *diag.Diagnostics) *identityModel {
	diags.AddWarning("Unmanaged Identity",
		fmt.Sprintf("The engine holds %q, which this provider did not create (no governance record). Importing it adopts it: set "+
			"class (and ttl_policy for an ephemeral class, owner, environment, scopes as the class requires) in its generated "+
			"configuration; the apply then creates the governance record, entity and alias around it and rewrites its settings "+
			"to the class's TTL policy.", name))
	m := identityModel{OnDestroy: types.StringValue(onDestroyRetire),
		Findings:       types.ListNull(types.ObjectType{AttrTypes: findingAttrTypes()}),
		TrustDebtHours: types.Float64Null(), EngineDrift: types.ListNull(types.StringType)}
	m.setName(name)
	m.Scopes, m.BoundCIDRs = types.SetNull(types.StringType), types.SetNull(types.StringType)
	m.Status = types.StringValue(statusUnmanaged)
	return &m
}
