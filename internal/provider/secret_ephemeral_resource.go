package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

var _ ephemeral.EphemeralResourceWithConfigure = (*secretEphemeralResource)(nil)

// NewSecretEphemeralResource returns the nhi_secret ephemeral resource.
func NewSecretEphemeralResource() ephemeral.EphemeralResource {
	return &secretEphemeralResource{ephemeralBase{typeName: "secret"}}
}

type secretEphemeralResource struct {
	ephemeralBase
}

type secretModel struct {
	Identity  types.String      `tfsdk:"identity"`
	Value     types.String      `tfsdk:"value"`
	Version   types.Int64       `tfsdk:"version"`
	RotatedAt timetypes.RFC3339 `tfsdk:"rotated_at"`
	ExpiresAt timetypes.RFC3339 `tfsdk:"expires_at"`
}

func (r *secretEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("secret_ephemeral_resource"),
		Attributes: map[string]schema.Attribute{
			"identity": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the persistent `nhi_identity` whose secret to read.",
				Validators:          []validator.String{nameValidator},
			},
			"value": schema.StringAttribute{
				Computed:            true,
				Sensitive:           true,
				MarkdownDescription: "The current secret. Ephemeral: never written to state or plan.",
			},
			"version": schema.Int64Attribute{
				Computed:            true,
				MarkdownDescription: "Its version. Ephemeral, like the value: for a `*_wo_version` argument use the schedule's `current_version`.",
			},
			"rotated_at": schema.StringAttribute{
				CustomType:          timetypes.RFC3339Type{},
				Computed:            true,
				MarkdownDescription: "When this version became current (RFC 3339).",
			},
			"expires_at": schema.StringAttribute{
				CustomType:          timetypes.RFC3339Type{},
				Computed:            true,
				MarkdownDescription: "When it stops authenticating (RFC 3339); null when it has no hard limit.",
			},
		},
	}
}

func (r *secretEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m secretModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	identity := m.Identity.ValueString()
	v, secret, err := r.data.engine.CurrentSecret(ctx, identity)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("read the current secret of identity %q (does it have an nhi_rotation_schedule?)", identity), err)
		return
	}
	tflog.Info(ctx, "read current secret", map[string]any{"identity": identity, "version": v.Version})
	m.Value = types.StringValue(secret)
	m.Version = types.Int64Value(v.Version)
	m.RotatedAt = timetypes.NewRFC3339TimeValue(v.PromotedAt)
	m.ExpiresAt = timetypes.NewRFC3339Null()
	if !v.ExpiresAt.IsZero() {
		m.ExpiresAt = timetypes.NewRFC3339TimeValue(v.ExpiresAt)
	}
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}
