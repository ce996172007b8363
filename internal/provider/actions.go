package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/action/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// The day-2 actions (Terraform >= 1.14: `terraform apply -invoke=action.nhi_rotate.<name>`, or
// a resource's `lifecycle { action_trigger { ... } }`) act on one identity. Each checks its
// identity at plan, records itself in the audit log with the provider's requester before it
// acts, and reports progress while it runs.

// identityAction is what the actions share: the provider data, set by Configure, and the schema.
type identityAction struct {
	actionBase
	identityWhat   string                      // ends the description of `identity`: "Name of the `nhi_identity` <identityWhat>."
	reasonRequired bool                        // whether `reason` is required
	attributes     map[string]schema.Attribute // the action's own attributes, besides `identity` and `reason`
}

// identityActionModel is the configuration every action has: the identity it acts on and the
// reason it records (all of nhi_rotate's and nhi_offboard's).
type identityActionModel struct {
	Identity types.String `tfsdk:"identity"`
	Reason   types.String `tfsdk:"reason"`
}

// Schema is the action's description (descriptions/<type name>_action.md), the `identity` it
// acts on, the `reason` it records in the audit log, and its own attributes.
func (a *identityAction) Schema(_ context.Context, _ action.SchemaRequest, resp *action.SchemaResponse) {
	attributes := map[string]schema.Attribute{
		"identity": schema.StringAttribute{Required: true, MarkdownDescription: "Name of the `nhi_identity` " + a.identityWhat + ".",
			Validators: []validator.String{nameValidator}},
		"reason": schema.StringAttribute{Required: a.reasonRequired, Optional: !a.reasonRequired, Validators: []validator.String{nonEmptyValidator},
			MarkdownDescription: "Why, such as an incident reference; recorded in the engine's audit log with the provider's `requester`."},
	}
	maps.Copy(attributes, a.attributes)
	resp.Schema = schema.Schema{MarkdownDescription: description(a.typeName + "_action"), Attributes: attributes}
}

// activeIdentity reads the identity an action acts on and fails unless it is active. At plan,
// with the provider not configured yet or the name unknown (set from a resource this plan
// creates), the check waits for the invocation, where both are known.
func (a *identityAction) activeIdentity(ctx context.Context, name types.String, diags *diag.Diagnostics) (policy.Identity, bool) {
	if a.data == nil || name.IsUnknown() || name.IsNull() {
		return policy.Identity{}, false
	}
	id, err := a.data.engine.GetIdentity(ctx, name.ValueString())
	switch {
	case errors.Is(err, engine.ErrNotFound):
		diags.AddAttributeError(path.Root("identity"), "Identity Not Found",
			fmt.Sprintf("%s: the engine holds no identity %q. Name an existing nhi_identity (reference it, e.g. nhi_identity.svc.name).", a.name(), name.ValueString()))
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read identity %q", name.ValueString()), err)
	case id.Retired():
		diags.AddAttributeError(path.Root("identity"), "Identity Retired",
			fmt.Sprintf("%s: identity %q was retired at %s; a retired identity has no credentials and is kept only for audit.",
				a.name(), id.Name, id.RetiredAt.UTC().Format(time.RFC3339)))
	default:
		return id, true
	}
	return id, false
}

// ModifyPlan fails the plan when the action's identity does not exist or is retired; an action
// that checks more at plan (nhi_rotate) has its own.
func (a *identityAction) ModifyPlan(ctx context.Context, req action.ModifyPlanRequest, resp *action.ModifyPlanResponse) {
	var name types.String
	if resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("identity"), &name)...); !resp.Diagnostics.HasError() {
		a.activeIdentity(ctx, name, &resp.Diagnostics)
	}
}

// invokedIdentity is activeIdentity when the action runs, where the provider is configured and
// the name known.
func (a *identityAction) invokedIdentity(ctx context.Context, name types.String, diags *diag.Diagnostics) (policy.Identity, bool) {
	if a.data == nil {
		diags.AddError("Provider Not Configured",
			a.name()+": the provider was not configured before the action ran. This is a bug in the provider; please report it.")
		return policy.Identity{}, false
	}
	return a.activeIdentity(ctx, name, diags)
}

// record writes the action's audit event before it acts; an action that cannot be audited
// does not act.
func (a *identityAction) record(ctx context.Context, identity, detail string, diags *diag.Diagnostics) bool {
	if err := a.data.engine.RecordAction(ctx, a.name(), identity, a.data.requester, detail); err != nil {
		addEngineError(diags, fmt.Sprintf("record %s of identity %q in the audit log", a.name(), identity), err)
		return false
	}
	tflog.Info(ctx, "invoked action", map[string]any{"action": a.name(), "identity": identity, "requester": a.data.requester})
	return true
}

// progress sends a progress message to Terraform while an action runs.
func progress(resp *action.InvokeResponse, format string, args ...any) {
	if resp.SendProgress != nil {
		resp.SendProgress(action.InvokeProgressEvent{Message: fmt.Sprintf(format, args...)})
	}
}

// reasonText is the reason for the audit log, or a placeholder when none was given.
func reasonText(reason types.String) string {
	if reason.IsNull() || reason.ValueString() == "" {
		return "no reason given"
	}
	return reason.ValueString()
}
