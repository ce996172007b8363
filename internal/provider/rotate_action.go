package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ checkedAction = (*rotateAction)(nil)

// NewRotateAction returns the nhi_rotate action.
func NewRotateAction() action.Action {
	return &rotateAction{identityAction{actionBase: actionBase{typeName: "rotate"},
		identityWhat: "whose secret rotates; it must have an `nhi_rotation_schedule`", reasonRequired: true}}
}

type rotateAction struct {
	identityAction
}

// ModifyPlan fails the plan when the identity does not exist, is retired, or has no rotation
// schedule.
func (a *rotateAction) ModifyPlan(ctx context.Context, req action.ModifyPlanRequest, resp *action.ModifyPlanResponse) {
	var m identityActionModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	if _, ok := a.activeIdentity(ctx, m.Identity, &resp.Diagnostics); ok {
		a.schedule(ctx, m.Identity.ValueString(), &resp.Diagnostics)
	}
}

// schedule reads the rotation schedule whose settings the rotation follows.
func (a *rotateAction) schedule(ctx context.Context, identity string, diags *diag.Diagnostics) (policy.RotationSchedule, bool) {
	s, err := a.data.engine.GetRotationSchedule(ctx, identity)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		diags.AddAttributeError(path.Root("identity"), "Rotation Schedule Not Found",
			fmt.Sprintf("%s: identity %q has no rotation schedule, so it has no rotated secret, and a rotation would have no overlap, "+
				"verification or retention settings. Declare an nhi_rotation_schedule for it first.", a.name(), identity))
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read the rotation schedule of identity %q", identity), err)
	default:
		return s, true
	}
	return s, false
}

func (a *rotateAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	var m identityActionModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	id, ok := a.invokedIdentity(ctx, m.Identity, &resp.Diagnostics)
	if !ok {
		return
	}
	s, ok := a.schedule(ctx, id.Name, &resp.Diagnostics)
	if !ok || !a.record(ctx, id.Name, "reason: "+m.Reason.ValueString(), &resp.Diagnostics) {
		return
	}
	before, _ := a.versions(ctx, id.Name, &resp.Diagnostics)
	progress(resp, "Rotating the secret of identity %q (current version %d; verify %t, overlap %s)",
		id.Name, before.Version, s.Verify, policy.FormatDuration(s.Overlap))
	rotateSecret(ctx, a.data, s, a.name()+": "+m.Reason.ValueString(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	current, previous := a.versions(ctx, id.Name, &resp.Diagnostics)
	msg := fmt.Sprintf("Identity %q: version %d is current", id.Name, current.Version)
	if previous.Version != 0 && !previous.ExpiresAt.IsZero() {
		msg += fmt.Sprintf("; version %d stays valid until %s", previous.Version, previous.ExpiresAt.UTC().Format(time.RFC3339))
	}
	progress(resp, "%s", msg)
}

// versions are the identity's current and previous secret versions, without their values;
// zero when it has none.
func (a *rotateAction) versions(ctx context.Context, identity string, diags *diag.Diagnostics) (current, previous engine.SecretVersion) {
	versions, err := a.data.engine.ListSecretVersions(ctx, identity)
	if err != nil {
		// Only the progress message needs them: the rotation itself is not affected.
		diags.AddWarning("Secret Versions Not Read", fmt.Sprintf("Could not list the secret versions of identity %q: %v.", identity, err))
	}
	for _, v := range versions {
		switch v.State {
		case engine.SecretCurrent:
			current = v
		case engine.SecretPrevious:
			previous = v
		}
	}
	return current, previous
}
