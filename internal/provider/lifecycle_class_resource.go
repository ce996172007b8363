package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/float64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var (
	_ managedResource                     = (*lifecycleClassResource)(nil)
	_ resource.ResourceWithValidateConfig = (*lifecycleClassResource)(nil)
)

// NewLifecycleClassResource returns the nhi_lifecycle_class resource.
func NewLifecycleClassResource() resource.Resource {
	return &lifecycleClassResource{newRecordResource[lifecycleClassModel]("lifecycle_class", "The lifecycle class name.", recordKind[policy.Class]{
		kind: engine.KindClass, name: func(c policy.Class) string { return c.Name },
		get: engine.Engine.GetClass, put: engine.Engine.PutClass, del: engine.Engine.DeleteClass,
		check: func(_ context.Context, _ *providerData, c policy.Class, diags *diag.Diagnostics) {
			addFindings(diags, policy.CheckClass(c))
		},
		logFields: func(c policy.Class) map[string]any { return map[string]any{"class": c.Name} },
	})}
}

type lifecycleClassResource struct {
	recordResource[lifecycleClassModel, policy.Class, *lifecycleClassModel]
}

type lifecycleClassModel struct {
	keyedByName
	Kind                types.String  `tfsdk:"kind"`
	Description         types.String  `tfsdk:"description"`
	MaxTTL              durationValue `tfsdk:"max_ttl"`
	MaxLifetime         durationValue `tfsdk:"max_lifetime"`
	MaxRenewals         types.Int64   `tfsdk:"max_renewals"`
	MaxRotationInterval durationValue `tfsdk:"max_rotation_interval"`
	RequireOwner        types.Bool    `tfsdk:"require_owner"`
	RequireConsumers    types.Bool    `tfsdk:"require_consumers"`
	NamingPattern       types.String  `tfsdk:"naming_pattern"`
	Environments        types.Set     `tfsdk:"environments"`
	AllowedScopes       types.Set     `tfsdk:"allowed_scopes"`
	DeniedScopes        types.Set     `tfsdk:"denied_scopes"`
	MaxScopes           types.Int64   `tfsdk:"max_scopes"`
	AllowedCIDRs        types.Set     `tfsdk:"allowed_cidrs"`
	MaxBlastRadius      types.Float64 `tfsdk:"max_blast_radius"`

	MaxIdle                durationValue `tfsdk:"max_idle"`
	ReviewEvery            durationValue `tfsdk:"review_every"`
	RequireRegisteredOwner types.Bool    `tfsdk:"require_registered_owner"`
}

func (r *lifecycleClassResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("lifecycle_class_resource"),
		Attributes: map[string]schema.Attribute{
			"id":   idAttribute("The class name."),
			"name": nameAttribute("Unique name of the class. Changing it replaces the class."),
			"kind": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "`ephemeral` (dynamic secrets, minted per task) or `persistent` (rotated secrets, stable name). Changing it replaces the class.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{stringvalidator.OneOf(string(policy.KindEphemeral), string(policy.KindPersistent))},
			},
			"description": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "What the class is for.",
			},
			"max_ttl":      durationAttribute(false, "Ceiling on a credential's TTL, such as `1h` or `1d`. Unset: no ceiling."),
			"max_lifetime": durationAttribute(false, "Ceiling on a credential's whole life including renewals. An ephemeral class must set it or `max_renewals`."),
			"max_renewals": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Ceiling on how often one credential may be renewed. Unset: no ceiling on the count.",
				Validators:          []validator.Int64{int64validator.AtLeast(0)},
			},
			"max_rotation_interval": durationAttribute(false, "Longest time a persistent identity's secret may go unrotated, such as `90d`."),
			"require_owner": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
				MarkdownDescription: "Whether every identity of the class must name an owner. Defaults to `false`.",
			},
			"require_consumers": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
				MarkdownDescription: "Whether rotation schedules of the class must list their consumers. Defaults to `false`.",
			},
			"naming_pattern": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "RE2 regular expression every identity name of the class must match in full, such as `ci-[a-z0-9-]+`.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"environments": schema.SetAttribute{
				ElementType:         types.StringType,
				Optional:            true,
				MarkdownDescription: "Environments the class's identities may live in. Unset: any.",
				Validators:          []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(nonEmptyValidator)},
			},
			"allowed_scopes": schema.SetAttribute{
				ElementType: types.StringType,
				Optional:    true,
				MarkdownDescription: "Glob patterns every scope of the class's identities must match, such as `ci-*`: `*` matches " +
					"any run of characters, `?` any one. On Vault, scopes are ACL policy names (and `default` must be allowed " +
					"explicitly for identities to hold Vault's default policy). Unset: any scope.",
				Validators: []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(scopePatternValidator)},
			},
			"denied_scopes": schema.SetAttribute{
				ElementType:         types.StringType,
				Optional:            true,
				MarkdownDescription: "Glob patterns no identity of the class may hold, such as `root` or `*-admin`; they win over `allowed_scopes`.",
				Validators:          []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(scopePatternValidator)},
			},
			"max_scopes": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Most scopes one identity of the class may hold. Unset: no ceiling.",
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
			},
			"allowed_cidrs": schema.SetAttribute{
				ElementType: types.StringType,
				Optional:    true,
				MarkdownDescription: "Networks, as CIDR blocks, that the identities' `bound_cidrs` must sit within (environment " +
					"isolation, OWASP NHI8). When set, every identity of the class must set `bound_cidrs`. Unset: no ceiling.",
				Validators: []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(cidrValidator)},
			},
			"max_blast_radius": schema.Float64Attribute{
				Optional: true,
				MarkdownDescription: "Ceiling on an identity's blast radius, in scope-hours: its number of scopes times its exposure " +
					"window in hours (see the `nhi_identity` data source's `blast_radius`). Unset: no ceiling.",
				Validators: []validator.Float64{float64validator.AtLeast(0.001)},
			},

			"max_idle": durationAttribute(false, "Longest an active identity of the class may go unused, such as `30d`: one idle longer (never "+
				"used: since its creation) gets an `inactive` finding (OWASP NHI1), and its idle time beyond `max_idle` counts "+
				"as trust debt. Use is the identity's `last_used_at`, which on Vault needs the provider's "+
				"`vault.audit_log_path`: without it no identity is judged inactive. Unset: no limit."),
			"review_every": durationAttribute(false, "How often every identity of the class must be reviewed, such as `90d`. Each identity then "+
				"needs `reviewed_by`; its review falls due `review_every` after its `reviewed_at` (or its creation), the plan "+
				"warns 14 days before, and an overdue review is a `review-overdue` finding whose time overdue adds to trust "+
				"debt. Unset: no review required."),
			"require_registered_owner": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
				MarkdownDescription: "Whether every identity's `owner` must name an active `nhi_owner`: an owner with no record, " +
					"or one marked departed, fails the identity's plan on `owner`. Defaults to `false`.",
			},
		},
	}
}

func (m lifecycleClassModel) toPolicy(ctx context.Context, diags *diag.Diagnostics) policy.Class {
	return policy.Class{
		Name:                m.Name.ValueString(),
		Kind:                policy.Kind(m.Kind.ValueString()),
		Description:         m.Description.ValueString(),
		MaxTTL:              m.MaxTTL.Duration(),
		MaxLifetime:         m.MaxLifetime.Duration(),
		MaxRenewals:         int64Ptr(m.MaxRenewals),
		MaxRotationInterval: m.MaxRotationInterval.Duration(),
		RequireOwner:        m.RequireOwner.ValueBool(),
		RequireConsumers:    m.RequireConsumers.ValueBool(),
		NamingPattern:       m.NamingPattern.ValueString(),
		Environments:        stringsOf(ctx, m.Environments, diags),
		AllowedScopes:       stringsOf(ctx, m.AllowedScopes, diags),
		DeniedScopes:        stringsOf(ctx, m.DeniedScopes, diags),
		MaxScopes:           m.MaxScopes.ValueInt64(),
		AllowedCIDRs:        stringsOf(ctx, m.AllowedCIDRs, diags),
		MaxBlastRadius:      m.MaxBlastRadius.ValueFloat64(),

		MaxIdle:                m.MaxIdle.Duration(),
		ReviewEvery:            m.ReviewEvery.Duration(),
		RequireRegisteredOwner: m.RequireRegisteredOwner.ValueBool(),
	}
}

// fromPolicy writes what the engine holds into the model, keeping the prior spelling of
// durations that did not change.
func (m *lifecycleClassModel) fromPolicy(c policy.Class) {
	m.setName(c.Name)
	m.Kind = types.StringValue(string(c.Kind))
	m.Description = optString(c.Description)
	m.MaxTTL = keepDuration(m.MaxTTL, c.MaxTTL)
	m.MaxLifetime = keepDuration(m.MaxLifetime, c.MaxLifetime)
	m.MaxRenewals = types.Int64PointerValue(c.MaxRenewals)
	m.MaxRotationInterval = keepDuration(m.MaxRotationInterval, c.MaxRotationInterval)
	m.RequireOwner = types.BoolValue(c.RequireOwner)
	m.RequireConsumers = types.BoolValue(c.RequireConsumers)
	m.NamingPattern = optString(c.NamingPattern)
	m.Environments = setOf(c.Environments)
	m.AllowedScopes = setOf(c.AllowedScopes)
	m.DeniedScopes = setOf(c.DeniedScopes)
	m.MaxScopes = types.Int64Null()
	if c.MaxScopes > 0 {
		m.MaxScopes = types.Int64Value(c.MaxScopes)
	}
	m.AllowedCIDRs = setOf(c.AllowedCIDRs)
	m.MaxBlastRadius = types.Float64Null()
	if c.MaxBlastRadius > 0 {
		m.MaxBlastRadius = types.Float64Value(c.MaxBlastRadius)
	}

	m.MaxIdle = keepDuration(m.MaxIdle, c.MaxIdle)
	m.ReviewEvery = keepDuration(m.ReviewEvery, c.ReviewEvery)
	m.RequireRegisteredOwner = types.BoolValue(c.RequireRegisteredOwner)
}

func (r *lifecycleClassResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m lifecycleClassModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !req.Config.Raw.IsFullyKnown() {
		return
	}
	addFindings(&resp.Diagnostics, policy.CheckClass(m.toPolicy(ctx, &resp.Diagnostics)))
}

// ModifyPlan reports what the engine holds under the name of a class being created (see
// planAdoption), and warns, in the plan of a changed class, about every identity and TTL policy
// that the new class would leave out of compliance.
func (r *lifecycleClassResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() || !req.Config.Raw.IsFullyKnown() || unchanged(req) {
		return
	}
	var m lifecycleClassModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	class := m.toPolicy(ctx, &resp.Diagnostics)
	r.checkCreated(ctx, req, class, &resp.Diagnostics)
	if req.State.Raw.IsNull() || resp.Diagnostics.HasError() {
		return
	}
	ids, err := r.data.engine.ListIdentities(ctx)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("list the identities of class %q", class.Name), err)
		return
	}
	policies, err := r.data.engine.ListTTLPolicies(ctx)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("list the TTL policies of class %q", class.Name), err)
		return
	}
	var schedules []policy.RotationSchedule
	if class.MaxBlastRadius > 0 { // only the blast radius ceiling needs the rotation schedules
		if schedules, err = r.data.engine.ListRotationSchedules(ctx); err != nil {
			addEngineError(&resp.Diagnostics, fmt.Sprintf("list the rotation schedules of class %q", class.Name), err)
			return
		}
	}
	var owners []policy.Owner
	if class.RequireRegisteredOwner { // only the registered-owner rule needs the owner records
		if owners, err = r.data.engine.ListOwners(ctx); err != nil {
			addEngineError(&resp.Diagnostics, fmt.Sprintf("list the owners of class %q's identities", class.Name), err)
			return
		}
	}
	findings := append(policy.Reach(class, ids, policies, schedules, r.data.clock.Now()),
		policy.ReachReview(class, ids, owners, r.data.clock.Now())...)
	if len(findings) > 0 {
		subjects := make([]string, len(findings))
		for i, f := range findings {
			subjects[i] = f.Subject + " (" + f.Rule + ")"
		}
		resp.Diagnostics.AddWarning("Class Change Leaves Objects Out of Compliance",
			fmt.Sprintf("After this change to class %q, %d finding(s) would hold on existing objects: %s. Fix them in the same change, or expect these findings in drift reports.",
				class.Name, len(findings), strings.Join(subjects, "; ")))
	}
}
