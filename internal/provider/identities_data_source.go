package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ datasource.DataSourceWithConfigure = (*identitiesDataSource)(nil)

// NewIdentitiesDataSource returns the nhi_identities data source.
func NewIdentitiesDataSource() datasource.DataSource {
	return &identitiesDataSource{dataSourceBase{typeName: "identities"}}
}

type identitiesDataSource struct {
	dataSourceBase
}

type identitiesModel struct {
	identityFilters
	Identities []identityAttrs `tfsdk:"identities"`
}

// identityFilters are the filters of nhi_identities and of the nhi_identity list resource.
type identityFilters struct {
	Class       types.String `tfsdk:"class"`
	Owner       types.String `tfsdk:"owner"`
	Environment types.String `tfsdk:"environment"`
	Status      types.String `tfsdk:"status"`
}

// match reports whether every filter that is set matches the identity.
func (f identityFilters) match(id policy.Identity) bool {
	is := func(filter types.String, v string) bool { return filter.IsNull() || filter.ValueString() == v }
	return is(f.Class, id.Class) && is(f.Owner, id.Owner) && is(f.Environment, id.Environment) && is(f.Status, string(id.Status))
}

func (d *identitiesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("identities_data_source"),
		Attributes: map[string]schema.Attribute{
			"class":       schema.StringAttribute{Optional: true, MarkdownDescription: "Only identities of this lifecycle class."},
			"owner":       schema.StringAttribute{Optional: true, MarkdownDescription: "Only identities with this owner."},
			"environment": schema.StringAttribute{Optional: true, MarkdownDescription: "Only identities in this environment."},
			"status": schema.StringAttribute{Optional: true, MarkdownDescription: "Only `active` or only `retired` identities.",
				Validators: []validator.String{stringvalidator.OneOf(string(policy.StatusActive), string(policy.StatusRetired))}},
			"identities": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "The matching identities, by name.",
				NestedObject:        schema.NestedAttributeObject{Attributes: identityAttributeSchema(false)},
			},
		},
	}
}

func (d *identitiesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m identitiesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ids, err := d.data.engine.ListIdentities(ctx)
	if err != nil {
		addEngineError(&resp.Diagnostics, "list identities", err)
		return
	}
	m.Identities = []identityAttrs{}
	for _, id := range ids {
		if m.match(id) {
			var a identityAttrs
			a.fromPolicy(id)
			m.Identities = append(m.Identities, a)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
