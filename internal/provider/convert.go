package provider

import (
	"context"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
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
