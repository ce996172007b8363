package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/action"
)

var _ checkedAction = (*offboardAction)(nil)

// NewOffboardAction returns the nhi_offboard action.
func NewOffboardAction() action.Action {
	return &offboardAction{identityAction{actionBase: actionBase{typeName: "offboard"}, identityWhat: "to offboard"}}
}

type offboardAction struct {
	identityAction
}

func (a *offboardAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	var m identityActionModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	id, ok := a.invokedIdentity(ctx, m.Identity, &resp.Diagnostics)
	if !ok || !a.record(ctx, id.Name, "reason: "+reasonText(m.Reason), &resp.Diagnostics) {
		return
	}
	progress(resp, "Offboarding identity %q: revoking every credential and retiring it", id.Name)
	retired, err := a.data.engine.RetireIdentity(ctx, id.Name)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("retire identity %q", id.Name), err)
		return
	}
	progress(resp, "Identity %q retired at %s; remove its nhi_identity resource from the configuration",
		id.Name, retired.RetiredAt.UTC().Format(time.RFC3339))
}
