package provider

import (
	"context"
	"errors"
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
// planAdoption) and warns naming every active identity the owner owns in the plan that marks it
// departed (each gets an owner-departed finding once the change is applied) and in the plan that
// destroys it (see warnDestroyed). It only reads the engine.
func (r *ownerResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil {
		return
	}
	if req.Plan.Raw.IsNull() {
		r.warnDestroyed(ctx, req, &resp.Diagnostics)
		return
	}
	if !req.Config.Raw.IsFullyKnown() || unchanged(req) {
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
	owned, names := r.owned(ctx, o.Name, &resp.Diagnostics)
	if len(owned) == 0 {
		return
	}
	resp.Diagnostics.AddAttributeWarning(path.Root("status"), "Departed Owner Still Owns Identities",
		fmt.Sprintf("Owner %q is marked departed and owns these active identities (%d): %s. Once applied, each of them carries an owner-departed "+
			"finding (OWASP NHI1) until it is reassigned to an active owner or retired; reassign them in this change, or plan their offboarding.",
			o.Name, len(owned), names))
}

// warnDestroyed warns, in the plan that destroys an owner, naming every active identity it still
// owns: they keep naming it in `owner` once its record is gone. Those whose class sets
// require_registered_owner are named again: from then on each refresh gives them an
// owner-not-registered finding, and any change to one of them fails its plan on `owner` (an
// unchanged identity's plan does not check its owner), until they are reassigned or retired.
func (r *ownerResource) warnDestroyed(ctx context.Context, req resource.ModifyPlanRequest, diags *diag.Diagnostics) {
	var name types.String
	if diags.Append(req.State.GetAttribute(ctx, path.Root("name"), &name)...); diags.HasError() {
		return
	}
	// The warning must never stop a destroy: an engine that cannot be read here leaves a warning
	// saying so instead of an error.
	var read diag.Diagnostics
	owned, names := r.owned(ctx, name.ValueString(), &read)
	if read.HasError() {
		diags.AddWarning("Owner's Identities Not Checked", fmt.Sprintf("Could not check which active identities owner %q still owns: %s", name.ValueString(), read.Errors()[0].Detail()))
		return
	}
	if len(owned) == 0 {
		return
	}
	requires := map[string]bool{} // class name -> require_registered_owner
	var bound []string
	for _, id := range owned {
		must, read := requires[id.Class]
		if !read {
			class, err := r.data.engine.GetClass(ctx, id.Class)
			if err != nil && !errors.Is(err, engine.ErrNotFound) {
				diags.AddWarning("Owner's Identities Not Checked", fmt.Sprintf("Could not read lifecycle class %q of identity %q: %v", id.Class, id.Name, err))
				return
			}
			must = err == nil && class.RequireRegisteredOwner
			requires[id.Class] = must
		}
		if must {
			bound = append(bound, id.Name)
		}
	}
	detail := fmt.Sprintf("Owner %q is destroyed and still owns these active identities (%d): %s. They keep naming it in owner once its record "+
		"is gone; reassign them to an active owner first, or retire them.", name.ValueString(), len(owned), names)
	if len(bound) > 0 {
		detail += fmt.Sprintf(" Their class requires a registered owner (require_registered_owner) for these (%d): %s. Once applied, each refresh "+
			"gives each of them a high owner-not-registered finding (OWASP NHI1; in its findings and in nhi_drift_report), and any "+
			"change to one of them fails its plan on owner (Owner Not Registered), until it is reassigned to an active owner or retired.",
			len(bound), strings.Join(bound, ", "))
	}
	// A provider sees one resource's plan at a time: identities that the same plan destroys (a
	// whole `terraform destroy`) are still active in the engine, so they are named too.
	detail += " Identities that this plan destroys too are named as well: a resource's plan cannot see another's."
	diags.AddWarning("Destroyed Owner Still Owns Identities", detail)
}

// owned reads from the engine the active identities that owner owns, sorted by name, and their
// names joined for a message; none after an engine error, which it reports.
func (r *ownerResource) owned(ctx context.Context, owner string, diags *diag.Diagnostics) ([]policy.Identity, string) {
	ids, err := r.data.engine.ListIdentities(ctx)
	if err != nil {
		addEngineError(diags, fmt.Sprintf("list the identities of owner %q", owner), err)
		return nil, ""
	}
	owned := policy.Owned(owner, ids)
	names := make([]string, len(owned))
	for i, id := range owned {
		names[i] = id.Name
	}
	return owned, strings.Join(names, ", ")
}
