package provider

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// stringsOf reads a set or list of strings; null and unknown read as nil.
func stringsOf(ctx context.Context, v interface {
	IsNull() bool
	IsUnknown() bool
	ElementsAs(context.Context, any, bool) diag.Diagnostics
}, diags *diag.Diagnostics) []string {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(v.ElementsAs(ctx, &out, false)...)
	slices.Sort(out)
	return out
}

// setOf is a set of strings; empty is null, so an unset optional set reads back unchanged.
func setOf(xs []string) types.Set {
	if len(xs) == 0 {
		return types.SetNull(types.StringType)
	}
	vals := make([]types.String, len(xs))
	for i, x := range xs {
		vals[i] = types.StringValue(x)
	}
	s, _ := types.SetValueFrom(context.Background(), types.StringType, vals)
	return s
}

// optString is the value of an optional string: empty is null.
func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// int64Ptr reads an optional integer: null and unknown read as nil (the framework's
// ValueInt64Pointer reads unknown as 0, which validation of an unknown value must not check).
func int64Ptr(v types.Int64) *int64 {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	x := v.ValueInt64()
	return &x
}

// exceptionModel is an approved exception to class ceilings, on a TTL policy or an identity.
type exceptionModel struct {
	Reason     types.String   `tfsdk:"reason"`
	ApprovedBy types.String   `tfsdk:"approved_by"`
	ExpiresAt  timestampValue `tfsdk:"expires_at"`
}

// exceptionAttribute is the schema of an exception; what says what it exempts from.
func exceptionAttribute(what string) schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Optional: true,
		MarkdownDescription: "An approved exception that lets the " + what + " until " +
			"`expires_at`. It needs a reason and an approver; after it expires the ceilings apply again.",
		Attributes: map[string]schema.Attribute{
			"reason": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Why the exception is needed.",
			},
			"approved_by": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Who approved it.",
			},
			"expires_at": schema.StringAttribute{
				CustomType:          timestampType{},
				Required:            true,
				MarkdownDescription: "When it expires, as an RFC 3339 timestamp such as `2026-03-31T00:00:00Z`.",
			},
		},
	}
}

// toPolicy reads the exception; nil reads as nil, an unknown expiry as the zero time.
func (e *exceptionModel) toPolicy(diags *diag.Diagnostics) *policy.Exception {
	if e == nil {
		return nil
	}
	return &policy.Exception{Reason: e.Reason.ValueString(), ApprovedBy: e.ApprovedBy.ValueString(), ExpiresAt: timeOf(e.ExpiresAt, diags)}
}

// timeOf reads an optional timestamp; null and unknown read as the zero time.
func timeOf(v timestampValue, diags *diag.Diagnostics) time.Time {
	if v.IsNull() || v.IsUnknown() {
		return time.Time{}
	}
	at, d := v.ValueRFC3339Time()
	diags.Append(d...)
	return at
}

// optTimestamp is the value of an optional timestamp: null for the zero time.
func optTimestamp(t time.Time) timestampValue {
	if t.IsZero() {
		return timestampValue{RFC3339: timetypes.NewRFC3339Null()}
	}
	return newTimestamp(t)
}

// newExceptionModel is the model of an exception; nil is nil.
func newExceptionModel(e *policy.Exception) *exceptionModel {
	if e == nil {
		return nil
	}
	return &exceptionModel{Reason: types.StringValue(e.Reason), ApprovedBy: types.StringValue(e.ApprovedBy),
		ExpiresAt: newTimestamp(e.ExpiresAt)}
}
