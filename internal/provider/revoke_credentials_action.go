package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/action/schema"
)

var _ checkedAction = (*revokeCredentialsAction)(nil)

// NewRevokeCredentialsAction returns the nhi_revoke_credentials action.
func NewRevokeCredentialsAction() action.Action {
	return &revokeCredentialsAction{identityAction{actionBase: actionBase{typeName: "revoke_credentials"},
		identityWhat: "whose credentials are revoked", attributes: map[string]schema.Attribute{
			"issued_before": schema.StringAttribute{
				CustomType: timetypes.RFC3339Type{},
				Optional:   true,
				MarkdownDescription: "Revoke only the credentials issued before this time (RFC 3339, such as `2026-03-01T09:00:00Z`), " +
					"such as the moment a leak began. Unset: every live credential.",
			},
		}}}
}

type revokeCredentialsAction struct {
	identityAction
}

type revokeCredentialsActionModel struct {
	identityActionModel
	IssuedBefore timetypes.RFC3339 `tfsdk:"issued_before"`
}

func (a *revokeCredentialsAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	var m revokeCredentialsActionModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	id, ok := a.invokedIdentity(ctx, m.Identity, &resp.Diagnostics)
	if !ok {
		return
	}
	var before time.Time
	scope := "every live credential"
	if !m.IssuedBefore.IsNull() {
		t, diags := m.IssuedBefore.ValueRFC3339Time()
		if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
			return
		}
		before = t
		scope = "live credentials issued before " + t.UTC().Format(time.RFC3339)
	}
	creds, err := a.data.engine.ListCredentials(ctx, id.Name)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("list the credentials of identity %q", id.Name), err)
		return
	}
	now := a.data.clock.Now()
	var ids []string
	for _, c := range creds {
		if c.Live(now) && (before.IsZero() || c.IssuedAt.Before(before)) {
			ids = append(ids, c.ID)
		}
	}
	if !a.record(ctx, id.Name, fmt.Sprintf("%s (%d); reason: %s", scope, len(ids), reasonText(m.Reason)), &resp.Diagnostics) {
		return
	}
	progress(resp, "Revoking %d credential(s) of identity %q: %s", len(ids), id.Name, scope)
	var failed []string
	for _, c := range ids {
		if err := a.data.engine.RevokeCredential(ctx, c); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", c, err))
		}
	}
	if len(failed) > 0 {
		resp.Diagnostics.AddError("Credentials Not Revoked",
			fmt.Sprintf("%s: %d of %d credential(s) of identity %q could not be revoked and may still work: %s. Invoke the action again.",
				a.name(), len(failed), len(ids), id.Name, strings.Join(failed, "; ")))
		return
	}
	progress(resp, "Revoked %d credential(s) of identity %q; the identity stays active", len(ids), id.Name)
}
