package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// An identity this provider did not create (on Vault, an AppRole role made by hand, which
// `terraform query` lists with include_unmanaged) is adopted by importing it: the import keeps it
// in state with status "unmanaged", the plan shows the update to the declaration, and the apply
// creates the governance record, entity and alias around the existing role and rewrites the
// role's settings to the declared class and TTL policy.

// statusUnmanaged is the status of an imported identity that the engine holds only as objects
// this provider did not create, until the next apply adopts it.
const statusUnmanaged = "unmanaged"

// unmanaged reports whether the engine holds name only as objects this provider did not create.
func (r *identityResource) unmanaged(ctx context.Context, name string) (bool, error) {
	u, ok := r.data.engine.(engine.UnmanagedLister)
	if !ok {
		return false, nil
	}
	if _, err := r.data.engine.GetIdentity(ctx, name); !errors.Is(err, engine.ErrNotFound) {
		return false, err
	}
	names, err := u.ListUnmanaged(ctx)
	return slices.Contains(names, name), err
}

// importUnmanaged marks an imported name that the engine holds only unmanaged.
func (r *identityResource) importUnmanaged(ctx context.Context, resp *resource.ImportStateResponse) {
	var name types.String
	if resp.Diagnostics.Append(resp.State.GetAttribute(ctx, path.Root("name"), &name)...); resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	found, err := r.unmanaged(ctx, name.ValueString())
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("look for identity %q among the objects this provider did not create", name.ValueString()), err)
		return
	}
	if found {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("status"), statusUnmanaged)...)
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), name)...)
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("on_destroy"), onDestroyRetire)...)
		resp.Diagnostics.AddWarning("Unmanaged Identity Imported",
			fmt.Sprintf("The engine holds %q only as objects this provider did not create. The next apply adopts it: it creates the "+
				"governance record, entity and alias around them and rewrites their settings to this resource's class and TTL policy.", name.ValueString()))
	}
}

// readUnmanaged keeps an imported, not yet adopted identity as it is while the engine still
// holds it unmanaged; it reports whether it handled the read.
func (r *identityResource) readUnmanaged(ctx context.Context, m identityModel, resp *resource.ReadResponse) bool {
	if m.Status.ValueString() != statusUnmanaged {
		return false
	}
	found, err := r.unmanaged(ctx, m.Name.ValueString())
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("read identity %q", m.Name.ValueString()), err)
		return true
	}
	if !found {
		return false // adopted since, or gone: read it as any identity
	}
	if m.Findings.IsNull() {
		m.Findings = types.ListValueMust(types.ObjectType{AttrTypes: findingAttrTypes()}, nil)
		m.EngineDrift, m.TrustDebtHours = types.ListValueMust(types.StringType, nil), types.Float64Value(0)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	return true
}

// planAdoptUnmanaged makes what the adoption decides unknown in the plan.
func planAdoptUnmanaged(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var status types.String
	if req.State.Raw.IsNull() {
		return
	}
	if resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("status"), &status)...); status.ValueString() != statusUnmanaged {
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("status"), types.StringUnknown())...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("created_at"), timetypes.NewRFC3339Unknown())...)
}

// adoptUnmanaged is the store of an update of an imported unmanaged identity: it creates the
// identity around the objects the engine holds.
func (r *identityResource) adoptUnmanaged(ctx context.Context, id policy.Identity) (policy.Identity, error) {
	stored, err := r.data.engine.CreateIdentity(ctx, id)
	if err == nil {
		tflog.Info(ctx, "adopted an unmanaged identity", map[string]any{"identity": id.Name, "class": id.Class})
	}
	return stored, err
}

// updateStore is how an update writes the identity: an adoption for an imported unmanaged one.
func (r *identityResource) updateStore(ctx context.Context, state stateGetter, diags *diag.Diagnostics) func(context.Context, policy.Identity) (policy.Identity, error) {
	var status types.String
	if diags.Append(state.GetAttribute(ctx, path.Root("status"), &status)...); status.ValueString() == statusUnmanaged {
		return r.adoptUnmanaged
	}
	return r.data.engine.UpdateIdentity
}

type stateGetter interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}
