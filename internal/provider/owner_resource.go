package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ managedResource = (*ownerResource)(nil)

// NewOwnerResource returns the nhi_owner resource.
func NewOwnerResource() resource.Resource {
	return &ownerResource{newRecordResource[ownerModel]("owner", "The owner name.", recordKind[policy.Owner]{
		kind: engine.KindOwner, name: func(o policy.Owner) string { return o.Name },
		get: engine.Engine.GetOwner, put: engine.Engine.PutOwner, del: engine.Engine.DeleteOwner,
		logFields: func(o policy.Owner) map[string]any {
			return map[string]any{"owner": o.Name, "status": string(o.Status)}
		},
	})}
}

type ownerResource struct {
	recordResource[ownerModel, policy.Owner, *ownerModel]
}

type ownerModel struct {
	keyedByName
	Kind    types.String `tfsdk:"kind"`
	Contact types.String `tfsdk:"contact"`
	Status  types.String `tfsdk:"status"`
}

func (r *ownerResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("owner_resource"),
		Attributes: map[string]schema.Attribute{
			"id":   idAttribute("The owner name."),
			"name": nameAttribute("Unique name of the owner, as identities name it in `owner`, such as `team-payments`. Changing it replaces the owner."),
			"kind": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "`team` or `person`.",
				Validators:          []validator.String{stringvalidator.OneOf(string(policy.OwnerTeam), string(policy.OwnerPerson))},
			},
			"contact": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "How to reach the owner: an e-mail address, a chat channel, an on-call rota.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"status": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Default:  stringdefault.StaticString(string(policy.OwnerActive)),
				MarkdownDescription: "`active` (the default) or `departed`. A departed owner's identities are `owner-departed` " +
					"findings until they are reassigned or retired.",
				Validators: []validator.String{stringvalidator.OneOf(string(policy.OwnerActive), string(policy.OwnerDeparted))},
			},
		},
	}
}

func (m ownerModel) toPolicy(context.Context, *diag.Diagnostics) policy.Owner {
	return policy.Owner{
		Name:    m.Name.ValueString(),
		Kind:    policy.OwnerKind(m.Kind.ValueString()),
		Contact: m.Contact.ValueString(),
		Status:  policy.OwnerStatus(m.Status.ValueString()),
	}
}

func (m *ownerModel) fromPolicy(o policy.Owner) {
	m.setName(o.Name)
	m.Kind = types.StringValue(string(o.Kind))
	m.Contact = optString(o.Contact)
	m.Status = types.StringValue(string(o.Status))
}

// ModifyPlan reports what the engine holds under the name of an owner being created (see
// planAdoption) and, in the plan that marks an owner departed, warns naming every active
// identity it owns: each gets an owner-departed finding once the change is applied.
func (r *ownerResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() || !req.Config.Raw.IsFullyKnown() || unchanged(req) {
		return
	}
	var m ownerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	o := m.toPolicy(ctx, &resp.Diagnostics)
	r.checkCreated(ctx, req, o, &resp.Diagnostics)
	if !o.Departed() || resp.Diagnostics.HasError() {
		return
	}
	var prior types.String
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("status"), &prior)...)
	}
	if prior.ValueString() == string(policy.OwnerDeparted) {
		return
	}
	ids, err := r.data.engine.ListIdentities(ctx)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("list the identities of owner %q", o.Name), err)
		return
	}
	owned := policy.Owned(o.Name, ids)
	if len(owned) == 0 {
		return
	}
	resp.Diagnostics.AddAttributeWarning(path.Root("status"), "Departed Owner Still Owns Identities",
		fmt.Sprintf("Owner %q is marked departed and owns these active identities (%d): %s. Once applied, each of them carries an owner-departed "+
			"finding (OWASP NHI1) until it is reassigned to an active owner or retired; reassign them in this change, or plan their offboarding.",
			o.Name, len(owned), strings.Join(owned, ", ")))
}
