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
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var (
	_ managedResource                     = (*ttlPolicyResource)(nil)
	_ resource.ResourceWithValidateConfig = (*ttlPolicyResource)(nil)
)

// NewTTLPolicyResource returns the nhi_ttl_policy resource.
func NewTTLPolicyResource() resource.Resource {
	return &ttlPolicyResource{resourceBase{typeName: "ttl_policy", key: "name", keyDescription: "The TTL policy name."}}
}

type ttlPolicyResource struct {
	resourceBase
}

type ttlPolicyModel struct {
	ID          types.String    `tfsdk:"id"`
	Name        types.String    `tfsdk:"name"`
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
			"ttl": schema.StringAttribute{
				CustomType:          durationType{},
				Validators:          []validator.String{positiveDurationValidator},
				Required:            true,
				MarkdownDescription: "Lifetime of a credential before renewal, such as `15m`.",
			},
			"max_lifetime": schema.StringAttribute{
				CustomType:          durationType{},
				Validators:          []validator.String{positiveDurationValidator},
				Optional:            true,
				MarkdownDescription: "Hard expiry of a credential including renewals, such as `2h`. Required when `renewable`.",
			},
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
	p := m.toPolicy(&resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		addFindings(&resp.Diagnostics, policy.CheckTTLPolicy(p, nil, validationTime(r.data)))
	}
}

func (m ttlPolicyModel) toPolicy(diags *diag.Diagnostics) policy.TTLPolicy {
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
	m.ID = types.StringValue(p.Name)
	m.Name = types.StringValue(p.Name)
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

// check evaluates the policy with the injected clock, against its class when the engine has it.
// It returns false when the class is not in the engine (it may be created in the same plan).
func (r *ttlPolicyResource) check(ctx context.Context, p policy.TTLPolicy, diags *diag.Diagnostics) (classFound bool) {
	class, err := r.data.engine.GetClass(ctx, p.Class)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		addFindings(diags, policy.CheckTTLPolicy(p, nil, r.data.clock.Now()))
		return false
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read lifecycle class %q of TTL policy %q", p.Class, p.Name), err)
		return false
	}
	addFindings(diags, policy.CheckTTLPolicy(p, &class, r.data.clock.Now()))
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
	p := m.toPolicy(&resp.Diagnostics)
	if unchanged(req) {
		addFindings(&resp.Diagnostics, policy.CheckTTLPolicy(p, nil, r.data.clock.Now()))
		return
	}
	if name, ok := createdName(ctx, req, path.Root("name"), &resp.Diagnostics); ok {
		checkCreate(ctx, &resp.Diagnostics, path.Root("name"), engine.KindTTLPolicy, name, p, r.data.engine.GetTTLPolicy)
	}
	if found := r.check(ctx, p, &resp.Diagnostics); !found && !resp.Diagnostics.HasError() {
		warnNotInEngine(&resp.Diagnostics, "class", "lifecycle class", p.Class, "nhi_lifecycle_class.<label>.name")
	}
}

// Create writes the policy, or adopts the policy of that name when the engine holds it exactly
// as declared (an interrupted apply wrote it).
func (r *ttlPolicyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "create", func(ctx context.Context, p policy.TTLPolicy) error {
		return putOrAdopt(ctx, r.data.engine, engine.KindTTLPolicy, p.Name, p, r.data.engine.GetTTLPolicy, r.data.engine.PutTTLPolicy)
	})
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

func (r *ttlPolicyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "update", r.data.engine.PutTTLPolicy)
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

func (r *ttlPolicyResource) write(ctx context.Context, plan planGetter, state stateSetter, diags *diag.Diagnostics, action string,
	store func(context.Context, policy.TTLPolicy) error) {
	var m ttlPolicyModel
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	p := m.toPolicy(diags)
	if found := r.check(ctx, p, diags); diags.HasError() {
		return
	} else if !found {
		diags.AddAttributeError(path.Root("class"), "Lifecycle Class Not Found",
			fmt.Sprintf("TTL policy %q names class %q, which the engine does not hold. Create the nhi_lifecycle_class first (reference it, e.g. nhi_lifecycle_class.ci.name, so Terraform orders them).", p.Name, p.Class))
		return
	}
	if err := store(ctx, p); err != nil {
		addEngineError(diags, fmt.Sprintf("%s TTL policy %q", action, p.Name), err)
		return
	}
	tflog.Info(ctx, "wrote TTL policy", map[string]any{"ttl_policy": p.Name, "class": p.Class, "action": action})
	m.fromPolicy(p)
	diags.Append(state.Set(ctx, &m)...)
}

func (r *ttlPolicyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readRecord[ttlPolicyModel](ctx, req, resp, "TTL policy", r.data.engine.GetTTLPolicy)
}

func (r *ttlPolicyResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	deleteRecord(ctx, req, resp, "TTL policy", r.data.engine.DeleteTTLPolicy)
}
