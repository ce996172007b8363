package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var (
	_ managedResource                     = (*ttlPolicyResource)(nil)
	_ resource.ResourceWithValidateConfig = (*ttlPolicyResource)(nil)
)

// NewTTLPolicyResource returns the nhi_ttl_policy resource.
func NewTTLPolicyResource() resource.Resource {
	return &ttlPolicyResource{newRecordResource[ttlPolicyModel]("ttl_policy", "The TTL policy name.", recordKind[policy.TTLPolicy]{
		kind: engine.KindTTLPolicy, name: func(p policy.TTLPolicy) string { return p.Name },
		get: engine.Engine.GetTTLPolicy, put: engine.Engine.PutTTLPolicy, del: engine.Engine.DeleteTTLPolicy,
		check:     checkTTLPolicyWrite,
		logFields: func(p policy.TTLPolicy) map[string]any { return map[string]any{"ttl_policy": p.Name, "class": p.Class} },
	})}
}

type ttlPolicyResource struct {
	recordResource[ttlPolicyModel, policy.TTLPolicy, *ttlPolicyModel]
}

type ttlPolicyModel struct {
	keyedByName
	Class       types.String    `tfsdk:"class"`
	Description types.String    `tfsdk:"description"`
	TTL         durationValue   `tfsdk:"ttl"`
	MaxLifetime durationValue   `tfsdk:"max_lifetime"`
	Renewable   types.Bool      `tfsdk:"renewable"`
	MaxRenewals types.Int64     `tfsdk:"max_renewals"`
	MaxUses     types.Int64     `tfsdk:"max_uses"`
	Exception   *exceptionModel `tfsdk:"exception"`
}

func (r *ttlPolicyResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("ttl_policy_resource"),
		Attributes: map[string]schema.Attribute{
			"id":   idAttribute("The policy name."),
			"name": nameAttribute("Unique name of the policy. Changing it replaces the policy."),
			"class": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the `nhi_lifecycle_class` (an ephemeral one) whose ceilings bound this policy.",
				Validators:          []validator.String{nameValidator},
			},
			"description": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "What the policy is for.",
			},
			"ttl":          durationAttribute(true, "Lifetime of a credential before renewal, such as `15m`."),
			"max_lifetime": durationAttribute(false, "Hard expiry of a credential including renewals, such as `2h`. Required when `renewable`."),
			"renewable": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
				MarkdownDescription: "Whether credentials may be renewed. Defaults to `false`.",
			},
			"max_renewals": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "How often one credential may be renewed. Unset: bounded only by `max_lifetime`.",
				Validators:          []validator.Int64{int64validator.AtLeast(0)},
			},
			"max_uses": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "How many authentications one credential allows. Unset: no cap.",
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
			},
			"exception": exceptionAttribute("policy exceed its class's ceilings"),
		},
	}
}

// ValidateConfig runs the policy's own rules (no class needed), so `terraform validate` reports
// them. Without a configured provider there is no clock, and the expiry of an exception is left
// to the plan.
func (r *ttlPolicyResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m ttlPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !req.Config.Raw.IsFullyKnown() {
		return
	}
	p := m.toPolicy(ctx, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		addFindings(&resp.Diagnostics, policy.CheckTTLPolicy(p, nil, validationTime(r.data)))
	}
}

func (m ttlPolicyModel) toPolicy(_ context.Context, diags *diag.Diagnostics) policy.TTLPolicy {
	p := policy.TTLPolicy{
		Name:        m.Name.ValueString(),
		Class:       m.Class.ValueString(),
		Description: m.Description.ValueString(),
		TTL:         m.TTL.Duration(),
		MaxLifetime: m.MaxLifetime.Duration(),
		Renewable:   m.Renewable.ValueBool(),
		MaxRenewals: int64Ptr(m.MaxRenewals),
	}
	if !m.MaxUses.IsNull() {
		p.MaxUses = m.MaxUses.ValueInt64()
	}
	p.Exception = m.Exception.toPolicy(diags)
	return p
}

func (m *ttlPolicyModel) fromPolicy(p policy.TTLPolicy) {
	m.setName(p.Name)
	m.Class = types.StringValue(p.Class)
	m.Description = optString(p.Description)
	m.TTL = keepDuration(m.TTL, p.TTL)
	m.MaxLifetime = keepDuration(m.MaxLifetime, p.MaxLifetime)
	m.Renewable = types.BoolValue(p.Renewable)
	m.MaxRenewals = types.Int64PointerValue(p.MaxRenewals)
	m.MaxUses = types.Int64Null()
	if p.MaxUses > 0 {
		m.MaxUses = types.Int64Value(p.MaxUses)
	}
	m.Exception = newExceptionModel(p.Exception)
}

// checkTTLPolicy evaluates the policy with the injected clock, against its class when the engine has it.
// It returns false when the class is not in the engine (it may be created in the same plan).
func checkTTLPolicy(ctx context.Context, data *providerData, p policy.TTLPolicy, diags *diag.Diagnostics) (classFound bool) {
	class, err := data.engine.GetClass(ctx, p.Class)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		addFindings(diags, policy.CheckTTLPolicy(p, nil, data.clock.Now()))
		return false
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read lifecycle class %q of TTL policy %q", p.Class, p.Name), err)
		return false
	}
	addFindings(diags, policy.CheckTTLPolicy(p, &class, data.clock.Now()))
	return true
}

// ModifyPlan fails the plan of a policy that breaks its rules or its class's ceilings. When the
// class is created in the same plan, the class rules run at apply, before anything is written.
func (r *ttlPolicyResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() || !req.Config.Raw.IsFullyKnown() {
		return
	}
	var m ttlPolicyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	p := m.toPolicy(ctx, &resp.Diagnostics)
	if unchanged(req) {
		addFindings(&resp.Diagnostics, policy.CheckTTLPolicy(p, nil, r.data.clock.Now()))
		return
	}
	r.checkCreated(ctx, req, p, &resp.Diagnostics)
	if found := checkTTLPolicy(ctx, r.data, p, &resp.Diagnostics); !found && !resp.Diagnostics.HasError() {
		warnNotInEngine(&resp.Diagnostics, "class", "lifecycle class", p.Class, "nhi_lifecycle_class.<label>.name")
	}
}

// checkTTLPolicyWrite fails the write of a policy that breaks its rules or its class's
// ceilings, or whose class the engine does not hold.
func checkTTLPolicyWrite(ctx context.Context, data *providerData, p policy.TTLPolicy, diags *diag.Diagnostics) {
	if found := checkTTLPolicy(ctx, data, p, diags); !found && !diags.HasError() {
		diags.AddAttributeError(path.Root("class"), "Lifecycle Class Not Found",
			fmt.Sprintf("TTL policy %q names class %q, which the engine does not hold. Create the nhi_lifecycle_class first (reference it, e.g. nhi_lifecycle_class.ci.name, so Terraform orders them).", p.Name, p.Class))
	}
}
