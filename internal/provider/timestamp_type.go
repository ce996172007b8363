package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

var _ stringBacked[timestampValue] = timestampValue{}

// timestampType is an RFC 3339 timestamp that a configuration sets. Its values are
// timetypes.RFC3339 with an error that names the attribute's path: Terraform points a nested
// attribute's error at the enclosing block only (exception.expires_at), so the message has to
// say which attribute it is.
type timestampType = stringBackedType[timestampValue]

// timestampValue is a value of timestampType.
type timestampValue struct {
	timetypes.RFC3339
}

// newTimestamp is the value for t.
func newTimestamp(t time.Time) timestampValue {
	return timestampValue{RFC3339: timetypes.NewRFC3339TimeValue(t)}
}

func (v timestampValue) Type(context.Context) attr.Type { return timestampType{} }

func (v timestampValue) typeName() string { return "timestampType" }

func (v timestampValue) withString(s basetypes.StringValue) timestampValue {
	return timestampValue{RFC3339: timetypes.RFC3339{StringValue: s}}
}

func (v timestampValue) Equal(o attr.Value) bool {
	other, ok := o.(timestampValue)
	return ok && v.RFC3339.Equal(other.RFC3339)
}

func (v timestampValue) StringSemanticEquals(ctx context.Context, nv basetypes.StringValuable) (bool, diag.Diagnostics) {
	other, ok := nv.(timestampValue)
	if !ok {
		return false, nil
	}
	return v.RFC3339.StringSemanticEquals(ctx, other.RFC3339)
}

func (v timestampValue) ValidateAttribute(_ context.Context, req xattr.ValidateAttributeRequest, resp *xattr.ValidateAttributeResponse) {
	if v.IsNull() || v.IsUnknown() {
		return
	}
	if _, err := time.Parse(time.RFC3339, v.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Timestamp",
			fmt.Sprintf("%s is %q, which is not an RFC 3339 timestamp: write it as \"2026-03-31T00:00:00Z\" (UTC) or with an offset, \"2026-03-31T02:00:00+02:00\".",
				req.Path, v.ValueString()))
	}
}
