package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ datasource.DataSourceWithConfigure = (*driftReportDataSource)(nil)

// NewDriftReportDataSource returns the nhi_drift_report data source.
func NewDriftReportDataSource() datasource.DataSource {
	return &driftReportDataSource{dataSourceBase{typeName: "drift_report"}}
}

type driftReportDataSource struct {
	dataSourceBase
}

type driftReportModel struct {
	Class               types.String      `tfsdk:"class"`
	Owner               types.String      `tfsdk:"owner"`
	Environment         types.String      `tfsdk:"environment"`
	MinSeverity         types.String      `tfsdk:"min_severity"`
	FailOn              types.String      `tfsdk:"fail_on"`
	GeneratedAt         timetypes.RFC3339 `tfsdk:"generated_at"`
	Findings            []findingModel    `tfsdk:"findings"`
	CountsByRule        types.Map         `tfsdk:"counts_by_rule"`
	CountsBySeverity    types.Map         `tfsdk:"counts_by_severity"`
	TrustDebtHours      types.Float64     `tfsdk:"trust_debt_hours"`
	TrustDebtByIdentity types.Map         `tfsdk:"trust_debt_by_identity"`
	BlastRadius         types.Float64     `tfsdk:"blast_radius"`
	BlastRadiusByID     types.Map         `tfsdk:"blast_radius_by_identity"`
	UnboundedExposure   types.Set         `tfsdk:"unbounded_exposure"`
	SARIFArtifactURI    types.String      `tfsdk:"sarif_artifact_uri"`
	Markdown            types.String      `tfsdk:"markdown"`
	SARIF               types.String      `tfsdk:"sarif"`
}

type findingModel struct {
	Rule     types.String `tfsdk:"rule"`
	Severity types.String `tfsdk:"severity"`
	Subject  types.String `tfsdk:"subject"`
	Observed types.String `tfsdk:"observed"`
	Allowed  types.String `tfsdk:"allowed"`
	OWASP    types.String `tfsdk:"owasp"`
	Remedy   types.String `tfsdk:"remedy"`
}

func newFindingModel(f policy.Finding) findingModel {
	return findingModel{Rule: types.StringValue(f.Rule), Severity: types.StringValue(string(f.Severity)), Subject: types.StringValue(f.Subject),
		Observed: types.StringValue(f.Observed), Allowed: types.StringValue(f.Allowed), OWASP: optString(f.OWASP), Remedy: types.StringValue(f.Remedy)}
}

// findingAttributes is the schema of one finding, shared with nhi_identity.
var findingAttributes = map[string]string{
	"rule":     "The rule, such as `credential-past-hard-expiry`.",
	"severity": "`low`, `medium`, `high` or `critical`.",
	"subject":  "What it is about, as `kind/name`, such as `identity/ci-build`.",
	"observed": "What the engine holds.",
	"allowed":  "What the policy allows.",
	"owasp":    "The OWASP Non-Human Identities Top 10 reference, such as `NHI7`.",
	"remedy":   "How to fix it, in one line.",
}

// findingAttrTypes is the object type of one finding.
func findingAttrTypes() map[string]attr.Type {
	out := map[string]attr.Type{}
	for name := range findingAttributes {
		out[name] = types.StringType
	}
	return out
}

func severityNames() []string {
	out := make([]string, len(policy.Severities))
	for i, s := range policy.Severities {
		out[i] = string(s)
	}
	return out
}

func (d *driftReportDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	findingAttrs := map[string]schema.Attribute{}
	for name, desc := range findingAttributes {
		findingAttrs[name] = schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	sev := []validator.String{stringvalidator.OneOf(severityNames()...)}
	resp.Schema = schema.Schema{
		MarkdownDescription: description("drift_report_data_source"),
		Attributes: map[string]schema.Attribute{
			"class":        schema.StringAttribute{Optional: true, MarkdownDescription: "Only findings about identities (and policies and schedules) of this class."},
			"owner":        schema.StringAttribute{Optional: true, MarkdownDescription: "Only findings about identities with this owner."},
			"environment":  schema.StringAttribute{Optional: true, MarkdownDescription: "Only findings about identities in this environment."},
			"min_severity": schema.StringAttribute{Optional: true, Validators: sev, MarkdownDescription: "Only findings of at least this severity: `low`, `medium`, `high` or `critical`."},
			"fail_on":      schema.StringAttribute{Optional: true, Validators: sev, MarkdownDescription: "Fail (an error diagnostic) when a reported finding has at least this severity."},
			"generated_at": schema.StringAttribute{Computed: true, CustomType: timetypes.RFC3339Type{}, MarkdownDescription: "When the report was made, by the provider's clock."},
			"findings": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "The findings, by subject and rule.",
				NestedObject: schema.NestedAttributeObject{Attributes: findingAttrs}},
			"counts_by_rule":     schema.MapAttribute{Computed: true, ElementType: types.Int64Type, MarkdownDescription: "How many findings each rule raised."},
			"counts_by_severity": schema.MapAttribute{Computed: true, ElementType: types.Int64Type, MarkdownDescription: "How many findings of each severity."},
			"trust_debt_hours": schema.Float64Attribute{Computed: true,
				MarkdownDescription: "Trust debt in hours: the sum over live credentials of their age beyond their intended lifetime, plus the overdue time of rotations and of reviews, plus the idle time of inactive identities beyond their class's `max_idle`."},
			"trust_debt_by_identity": schema.MapAttribute{Computed: true, ElementType: types.Float64Type, MarkdownDescription: "Trust debt in hours, per identity that has any."},
			"blast_radius": schema.Float64Attribute{Computed: true,
				MarkdownDescription: "Total blast radius in scope-hours: the sum over active identities of their scopes times their exposure window in hours " +
					"(see the `nhi_identity` data source's `blast_radius`). Identities with an unbounded exposure window are not in the sum: they are listed in `unbounded_exposure` and are high `unbounded-exposure` findings."},
			"blast_radius_by_identity": schema.MapAttribute{Computed: true, ElementType: types.Float64Type,
				MarkdownDescription: "Blast radius in scope-hours per active identity whose exposure window is bounded and known."},
			"unbounded_exposure": schema.SetAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Active identities whose exposure window nothing bounds (a credential could stay usable forever)."},
			"sarif_artifact_uri": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
				MarkdownDescription: "A path in the repository, such as the fleet's root module (`infra/nhi/main.tf`), that every `sarif` result " +
					"also points at. GitHub code scanning rejects results that have only a logical location; set this when uploading there."},
			"markdown": schema.StringAttribute{Computed: true,
				MarkdownDescription: "The report for people, in Markdown: findings by severity and by rule, trust debt and blast radius and the " +
					"identities that carry most of each, then every finding with its subject, observed and allowed values, OWASP reference and remedy, worst first. " +
					"Append it to a CI job summary or a pull-request comment; its order is fixed, so two reports diff cleanly."},
			"sarif": schema.StringAttribute{Computed: true,
				MarkdownDescription: "The report as a SARIF 2.1.0 log for code-scanning dashboards: one rule per finding kind (title, description, " +
					"remedy, OWASP reference, default level from its severity), one result per finding, located at its identity (and class), " +
					"with a fingerprint (`partialFingerprints`) that stays the same while the finding persists."},
		},
	}
}

func (d *driftReportDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m driftReportModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	now := d.data.clock.Now()
	fleet, err := engine.Observe(ctx, d.data.engine, now)
	if err != nil {
		addEngineError(&resp.Diagnostics, "read the fleet for the drift report", err)
		return
	}
	report := policy.Drift(fleet)
	scope := policy.Scope{Class: m.Class.ValueString(), Owner: m.Owner.ValueString(), Environment: m.Environment.ValueString(),
		MinSeverity: policy.Severity(m.MinSeverity.ValueString())}
	report = report.Filter(fleet, scope)

	byRule, bySeverity := map[string]int64{}, map[string]int64{}
	m.Findings = make([]findingModel, len(report.Findings))
	for i, f := range report.Findings {
		m.Findings[i] = newFindingModel(f)
		byRule[f.Rule]++
		bySeverity[string(f.Severity)]++
	}
	var failing []string
	for _, f := range policy.Failing(report.Findings, policy.Severity(m.FailOn.ValueString())) {
		failing = append(failing, f.Message())
	}
	debt := map[string]float64{}
	for name, dd := range report.TrustDebt {
		debt[name] = dd.Hours()
	}
	m.GeneratedAt = timetypes.NewRFC3339TimeValue(now)
	m.TrustDebtHours = types.Float64Value(report.TotalTrustDebt().Hours())
	rules, dr := types.MapValueFrom(ctx, types.Int64Type, byRule)
	sevs, ds := types.MapValueFrom(ctx, types.Int64Type, bySeverity)
	debts, dd := types.MapValueFrom(ctx, types.Float64Type, debt)
	resp.Diagnostics.Append(dr...)
	resp.Diagnostics.Append(ds...)
	resp.Diagnostics.Append(dd...)
	m.CountsByRule, m.CountsBySeverity, m.TrustDebtByIdentity = rules, sevs, debts
	blast, unbounded := map[string]float64{}, []string{}
	for name, b := range report.Blast {
		if r, ok := b.Radius(); ok {
			blast[name] = r
		} else {
			unbounded = append(unbounded, name)
		}
	}
	total, _ := report.TotalBlastRadius()
	m.BlastRadius = types.Float64Value(total)
	var db, du diag.Diagnostics
	m.BlastRadiusByID, db = types.MapValueFrom(ctx, types.Float64Type, blast)
	m.UnboundedExposure, du = types.SetValueFrom(ctx, types.StringType, unbounded)
	resp.Diagnostics.Append(db...)
	resp.Diagnostics.Append(du...)
	m.Markdown = types.StringValue(policy.MarkdownReport(report, fleet))
	sarif, err := policy.SARIFReport(report, fleet, m.SARIFArtifactURI.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Drift Report Not Rendered", "The drift report could not be written as SARIF: "+err.Error())
		return
	}
	m.SARIF = types.StringValue(sarif)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if len(failing) > 0 {
		resp.Diagnostics.AddError("Drift Report Failed",
			fmt.Sprintf("%d finding(s) at or above severity %q (fail_on):\n- %s", len(failing), m.FailOn.ValueString(), strings.Join(failing, "\n- ")))
	}
}
