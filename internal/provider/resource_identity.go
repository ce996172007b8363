package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/identityschema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Every resource's identity (Terraform >= 1.12, OpenTofu >= 1.12) is the one name that keys
// its record in the engine: `name`, or `identity` for a rotation schedule, which is keyed by
// its identity's name. Import blocks can then say `identity = { name = "ci-build" }`, and
// `terraform query` reports listed objects by it. Older clients ignore the identity.

// nameIdentitySchema is the identity schema of a resource keyed by the string attribute attr.
func nameIdentitySchema(attr, description string) identityschema.Schema {
	return identityschema.Schema{
		Attributes: map[string]identityschema.Attribute{
			attr: identityschema.StringAttribute{RequiredForImport: true, Description: description},
		},
	}
}

// importByName imports by the ID of `terraform import` or an import block's `id`, or by the
// identity attribute attr of an import block's `identity`, into the state attribute attr.
func importByName(ctx context.Context, attr string, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughWithIdentity(ctx, path.Root(attr), path.Root(attr), req, resp)
}

// setIdentity sets the resource identity from attribute attr of state, once state holds the
// object (not after a Read that removed it, nor after a failed write). identity is nil when the
// resource is served without identity support.
func setIdentity(ctx context.Context, state tfsdk.State, identity *tfsdk.ResourceIdentity, attr string, diags *diag.Diagnostics) {
	if identity == nil || diags.HasError() || state.Raw.IsNull() {
		return
	}
	var name types.String
	if diags.Append(state.GetAttribute(ctx, path.Root(attr), &name)...); diags.HasError() {
		return
	}
	diags.Append(identity.SetAttribute(ctx, path.Root(attr), name)...)
}

// keyedByName is the model of the `id` and `name` of a resource keyed by its name (see
// idAttribute and nameAttribute).
type keyedByName struct {
	ID   types.String `tfsdk:"id"`
	Name types.String `tfsdk:"name"`
}

// setName sets the name and the id, which is the name again.
func (k *keyedByName) setName(name string) {
	k.ID, k.Name = types.StringValue(name), types.StringValue(name)
}

// idAttribute is the computed `id` of a resource keyed by a name: the name again, kept from
// state once known.
func idAttribute(description string) schema.StringAttribute {
	return schema.StringAttribute{
		Computed:            true,
		MarkdownDescription: description,
		PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
	}
}

// nameAttribute is the name that keys a resource (and its resource identity): required, checked
// by nameValidator, and replacing the object when it changes.
func nameAttribute(description string) schema.StringAttribute {
	return schema.StringAttribute{
		Required:            true,
		MarkdownDescription: description,
		PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
		Validators:          []validator.String{nameValidator},
	}
}

// durationAttribute is an attribute holding a positive duration, such as `15m` or `90d`.
func durationAttribute(required bool, description string) schema.StringAttribute {
	return schema.StringAttribute{
		CustomType:          durationType{},
		Validators:          []validator.String{positiveDurationValidator},
		Required:            required,
		Optional:            !required,
		MarkdownDescription: description,
	}
}
