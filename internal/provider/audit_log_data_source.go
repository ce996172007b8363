package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

var _ datasource.DataSourceWithConfigure = (*auditLogDataSource)(nil)

// NewAuditLogDataSource returns the nhi_audit_log data source.
func NewAuditLogDataSource() datasource.DataSource {
	return &auditLogDataSource{dataSourceBase{typeName: "audit_log"}}
}

type auditLogDataSource struct {
	dataSourceBase
}

type auditLogModel struct {
	Identity types.String      `tfsdk:"identity"`
	Since    timetypes.RFC3339 `tfsdk:"since"`
	Until    timetypes.RFC3339 `tfsdk:"until"`
	Types    []types.String    `tfsdk:"types"`
	Events   []auditEventModel `tfsdk:"events"`
}

type auditEventModel struct {
	Seq        types.Int64       `tfsdk:"seq"`
	Time       timetypes.RFC3339 `tfsdk:"time"`
	Type       types.String      `tfsdk:"type"`
	Identity   types.String      `tfsdk:"identity"`
	Credential types.String      `tfsdk:"credential"`
	Requester  types.String      `tfsdk:"requester"`
	Purpose    types.String      `tfsdk:"purpose"`
	Detail     types.String      `tfsdk:"detail"`
}

func (d *auditLogDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: description("audit_log_data_source"),
		Attributes: map[string]schema.Attribute{
			"identity": schema.StringAttribute{Optional: true, MarkdownDescription: "Only events of this identity."},
			"since": schema.StringAttribute{Optional: true, CustomType: timetypes.RFC3339Type{},
				MarkdownDescription: "Only events at or after this time (RFC 3339)."},
			"until": schema.StringAttribute{Optional: true, CustomType: timetypes.RFC3339Type{},
				MarkdownDescription: "Only events at or before this time (RFC 3339)."},
			"types": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Only events of these types, such as `[\"used\"]` for who used an identity and when."},
			"events": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "The events, oldest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"seq":        schema.Int64Attribute{Computed: true, MarkdownDescription: "Position in the log; 0 for derived events: `expired`, and on Vault `used` and the `issued`, `renewed` and `revoked` events it derives from the credential records."},
					"time":       schema.StringAttribute{Computed: true, CustomType: timetypes.RFC3339Type{}, MarkdownDescription: "When it happened (RFC 3339)."},
					"type":       str("`issued`, `renewed`, `revoked`, `expired`, `used` (a secret of the identity authenticated; see `requester`), `identity_created`, `identity_updated`, `identity_retired`, `identity_deleted`, `governance_changed`, or `adopted` (a create found the record left by an interrupted apply, exactly as declared, and took it over)."),
					"identity":   str("The identity concerned."),
					"credential": str("The credential concerned."),
					"requester":  str("Who or what requested the credential; for a `used` event, who used the identity where known: the requester of the credential used, else the caller's address (on Vault, the login's remote address)."),
					"purpose":    str("What the credential was for."),
					"detail":     str("More about the event."),
				}},
			},
		},
	}
}

func (d *auditLogDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m auditLogModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var f engine.AuditFilter
	f.Identity = m.Identity.ValueString()
	for _, t := range m.Types {
		f.Types = append(f.Types, t.ValueString())
	}
	if !m.Since.IsNull() {
		f.Since, _ = m.Since.ValueRFC3339Time()
	}
	if !m.Until.IsNull() {
		f.Until, _ = m.Until.ValueRFC3339Time()
	}
	events, err := engine.AuditLog(ctx, d.data.engine, f, d.data.clock.Now())
	if err != nil {
		addEngineError(&resp.Diagnostics, "read the audit log", err)
		return
	}
	m.Events = make([]auditEventModel, len(events))
	for i, ev := range events {
		m.Events[i] = auditEventModel{
			Seq: types.Int64Value(int64(ev.Seq)), Time: timetypes.NewRFC3339TimeValue(ev.Time), Type: types.StringValue(ev.Type),
			Identity: optString(ev.Identity), Credential: optString(ev.Credential), Requester: optString(ev.Requester),
			Purpose: optString(ev.Purpose), Detail: optString(ev.Detail),
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
