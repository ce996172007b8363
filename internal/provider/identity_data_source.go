package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ datasource.DataSourceWithConfigure = (*identityDataSource)(nil)

// NewIdentityDataSource returns the nhi_identity data source.
func NewIdentityDataSource() datasource.DataSource {
	return &identityDataSource{dataSourceBase{typeName: "identity"}}
}

type identityDataSource struct {
	dataSourceBase
}

// identityAttributeSchema is the read-only schema of identityAttrs, shared by the identity data
// sources; nameRequired makes `name` the lookup key.
func identityAttributeSchema(nameRequired bool) map[string]schema.Attribute {
	name := schema.StringAttribute{Computed: true, MarkdownDescription: "Stable name of the identity."}
	if nameRequired {
		name = schema.StringAttribute{Required: true, MarkdownDescription: "Name of the identity to read.",
			Validators: []validator.String{nameValidator}}
	}
	return map[string]schema.Attribute{
		"id":          schema.StringAttribute{Computed: true, MarkdownDescription: "The identity name."},
		"name":        name,
		"class":       schema.StringAttribute{Computed: true, MarkdownDescription: "The identity's lifecycle class."},
		"owner":       schema.StringAttribute{Computed: true, MarkdownDescription: "Team or person accountable for the identity."},
		"environment": schema.StringAttribute{Computed: true, MarkdownDescription: "Environment the identity lives in."},
		"ttl_policy":  schema.StringAttribute{Computed: true, MarkdownDescription: "TTL policy of the identity's dynamic credentials."},
		"description": schema.StringAttribute{Computed: true, MarkdownDescription: "What the identity does."},
		"scopes":      schema.SetAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Access scopes: on Vault, the ACL policies of the identity's tokens."},
		"bound_cidrs": schema.SetAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Networks the identity's credentials may be used from; null: any."},
		"target":      schema.StringAttribute{Computed: true, MarkdownDescription: "The `nhi_target` whose logins are the identity's credentials; null: the engine's own."},
		"status":      schema.StringAttribute{Computed: true, MarkdownDescription: "`active` or `retired`."},
		"created_at": schema.StringAttribute{Computed: true, CustomType: timetypes.RFC3339Type{},
			MarkdownDescription: "When the engine created the identity (RFC 3339)."},
		"retired_at": schema.StringAttribute{Computed: true, CustomType: timetypes.RFC3339Type{},
			MarkdownDescription: "When the identity was retired (RFC 3339); null while active."},
		"last_used_at": schema.StringAttribute{Computed: true, CustomType: timetypes.RFC3339Type{}, MarkdownDescription: lastUsedAtDescription},
		"reviewed_at": schema.StringAttribute{Computed: true, CustomType: timestampType{},
			MarkdownDescription: "When the identity was last reviewed (RFC 3339), as its resource's `reviewed_at` attests; null when never reviewed."},
		"reviewed_by": schema.StringAttribute{Computed: true, MarkdownDescription: "Who attested the last review; null when never reviewed."},
	}
}

// identityDataModel is the identity with its exposure window and blast radius.
type identityDataModel struct {
	identityAttrs
	ExposureWindow types.String  `tfsdk:"exposure_window"`
	BlastRadius    types.Float64 `tfsdk:"blast_radius"`
}

func (d *identityDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := identityAttributeSchema(true)
	attrs["exposure_window"] = schema.StringAttribute{
		Computed: true,
		MarkdownDescription: "The longest a single leaked credential of the identity stays usable under the current " +
			"declarations: its TTL policy's hard lifetime; or its rotation schedule's interval plus window plus overlap " +
			"(interval plus window with `expire_unrotated`); `0s` when it has no credential source yet; `unbounded` when " +
			"nothing bounds it (a rotated secret with no schedule, a high `unbounded-exposure` finding). Null for a " +
			"retired identity, or when its TTL policy is missing.",
	}
	attrs["blast_radius"] = schema.Float64Attribute{
		Computed: true,
		MarkdownDescription: "How much access one leaked credential reaches before it stops working, in scope-hours: the " +
			"number of `scopes` times `exposure_window` in hours. Null when the exposure window is unbounded or unknown. " +
			"The class's `max_blast_radius` caps it at plan.",
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: description("identity_data_source"),
		Attributes:          attrs,
	}
}

func (d *identityDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m identityDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	fleet, err := engine.ReadObserved(ctx, d.data.engine, m.Name.ValueString(), d.data.clock.Now())
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("read identity %q and what bounds its credentials", m.Name.ValueString()), err)
		return
	}
	id := fleet.Identities[0]
	m.fromPolicy(id)
	m.ExposureWindow, m.BlastRadius = blastValues(policy.Drift(fleet).Blast, id.Name)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// blastValues are the exposure window and blast radius of identity in a report: null when its
// exposure window is not known, "unbounded" and a null radius when nothing bounds it.
func blastValues(blast map[string]policy.Blast, identity string) (types.String, types.Float64) {
	b, ok := blast[identity]
	switch {
	case !ok:
		return types.StringNull(), types.Float64Null()
	case !b.Bounded:
		return types.StringValue("unbounded"), types.Float64Null()
	}
	r, _ := b.Radius()
	return types.StringValue(policy.FormatDuration(b.Window)), types.Float64Value(r)
}
