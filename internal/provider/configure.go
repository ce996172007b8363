package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// The types below, embedded in each resource, data source, ephemeral resource and action, give
// each kind of component its Metadata (from the type name it is constructed with) and its
// Configure (keeping the one providerData value the provider's Configure made, read as the
// component's data field) once.

// resourceBase is embedded in every managed resource (and so in its list resource). Besides
// Metadata and Configure it gives the resource its identity schema and import by key, the
// attribute that keys the resource's record (see resource_identity.go).
type resourceBase struct {
	typeName       string // the name after the provider's, e.g. "identity" for nhi_identity
	key            string // "name", or "identity" for a rotation schedule
	keyDescription string
	data           *providerData
}

func (b *resourceBase) IdentitySchema(_ context.Context, _ resource.IdentitySchemaRequest, resp *resource.IdentitySchemaResponse) {
	resp.IdentitySchema = nameIdentitySchema(b.key, b.keyDescription)
}

func (b *resourceBase) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importByName(ctx, b.key, req, resp)
}

func (b *resourceBase) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *resourceBase) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Resource", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// recordModel is the model of a resource that manages one governance record T, keyed in the
// engine by its `name` attribute (nhi_lifecycle_class, nhi_ttl_policy, nhi_owner): M, whose
// pointer converts it to the record and back.
type recordModel[M, T any] interface {
	*M
	toPolicy(context.Context, *diag.Diagnostics) T
	fromPolicy(T)
}

// recordKind says how the engine holds one kind of governance record T.
type recordKind[T any] struct {
	kind string // engine.KindClass, ...: what adoption and messages call the record
	name func(T) string
	get  func(engine.Engine, context.Context, string) (T, error)
	put  func(engine.Engine, context.Context, T) error
	del  func(engine.Engine, context.Context, string) error
	// check adds the findings that keep a record from being written (nil: none).
	check func(context.Context, *providerData, T, *diag.Diagnostics)
	// logFields are the fields besides the action of the log line of a write.
	logFields func(T) map[string]any
}

// recordResource is embedded in the resource of a governance record: besides what resourceBase
// gives, it gives the resource its Create, Update, Read and Delete, the same for every record.
type recordResource[M, T any, PM recordModel[M, T]] struct {
	resourceBase
	record recordKind[T]
}

// newRecordResource is the recordResource of the resource typeName, whose record is keyed by name.
func newRecordResource[M, T any, PM recordModel[M, T]](typeName, keyDescription string, record recordKind[T]) recordResource[M, T, PM] {
	return recordResource[M, T, PM]{resourceBase{typeName: typeName, key: "name", keyDescription: keyDescription}, record}
}

// getter is the engine's get of the record, for name.
func (r *recordResource[M, T, PM]) getter() func(context.Context, string) (T, error) {
	return func(ctx context.Context, name string) (T, error) { return r.record.get(r.data.engine, ctx, name) }
}

// checkCreated reports at plan what the engine holds under the name of a record being created
// (see planAdoption); planned is the record the plan declares.
func (r *recordResource[M, T, PM]) checkCreated(ctx context.Context, req resource.ModifyPlanRequest, planned T, diags *diag.Diagnostics) {
	if name, ok := createdName(ctx, req, path.Root("name"), diags); ok {
		checkCreate(ctx, diags, path.Root("name"), r.record.kind, name, planned, r.getter())
	}
}

// Create writes the record, or adopts the record of that name when the engine holds it exactly
// as declared (an interrupted apply wrote it).
func (r *recordResource[M, T, PM]) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "create", func(ctx context.Context, v T) error {
		return putOrAdopt(ctx, r.data.engine, r.record.kind, r.record.name(v), v, r.getter(),
			func(ctx context.Context, v T) error { return r.record.put(r.data.engine, ctx, v) })
	})
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

func (r *recordResource[M, T, PM]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "update", func(ctx context.Context, v T) error {
		return r.record.put(r.data.engine, ctx, v)
	})
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

// write stores the planned record, once its check passes, and sets the state from it.
func (r *recordResource[M, T, PM]) write(ctx context.Context, plan planGetter, state stateSetter, diags *diag.Diagnostics, action string,
	store func(context.Context, T) error) {
	var m M
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	v := PM(&m).toPolicy(ctx, diags)
	if r.record.check != nil {
		r.record.check(ctx, r.data, v, diags)
	}
	if diags.HasError() {
		return
	}
	if err := store(ctx, v); err != nil {
		addEngineError(diags, fmt.Sprintf("%s %s %q", action, r.record.kind, r.record.name(v)), err)
		return
	}
	fields := r.record.logFields(v)
	fields["action"] = action
	tflog.Info(ctx, "wrote "+r.record.kind, fields)
	PM(&m).fromPolicy(v)
	diags.Append(state.Set(ctx, &m)...)
}

// Read reads the record named by the state's `name` into the state (see readFound).
func (r *recordResource[M, T, PM]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m M
	var name types.String
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &name)...)
	setIdentity(ctx, req.State, resp.Identity, "name", &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	v, ok := readFound(ctx, resp, r.record.kind, name.ValueString(), r.getter())
	if !ok {
		return
	}
	PM(&m).fromPolicy(v)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *recordResource[M, T, PM]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	deleteRecord(ctx, req, resp, r.record.kind, func(ctx context.Context, name string) error {
		return r.record.del(r.data.engine, ctx, name)
	})
}

// dataSourceBase is embedded in every data source.
type dataSourceBase struct {
	typeName string // the name after the provider's, e.g. "identity" for nhi_identity
	data     *providerData
}

func (b *dataSourceBase) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *dataSourceBase) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Data Source", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// ephemeralBase is embedded in every ephemeral resource.
type ephemeralBase struct {
	typeName string // the name after the provider's, e.g. "identity" for nhi_identity
	data     *providerData
}

func (b *ephemeralBase) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *ephemeralBase) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Ephemeral Resource", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// actionBase is embedded in every action (through identityAction).
type actionBase struct {
	typeName string // the name after the provider's, e.g. "identity" for nhi_identity
	data     *providerData
}

func (b *actionBase) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + b.typeName
}

func (b *actionBase) Configure(_ context.Context, req action.ConfigureRequest, resp *action.ConfigureResponse) {
	if pd, ok := providerDataFrom(req.ProviderData, "Action", &resp.Diagnostics); ok {
		b.data = pd
	}
}

// name is the action's full type name, such as nhi_rotate: what its messages and audit events
// call it.
func (b *actionBase) name() string { return providerTypeName + "_" + b.typeName }

// providerDataFrom extracts the providerData that Configure set; ok is false when the provider is
// not configured yet (nil) or when a wrong type arrived (reported as an error naming the kind).
func providerDataFrom(data any, kind string, diags *diag.Diagnostics) (*providerData, bool) {
	if data == nil {
		return nil, false
	}
	pd, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected "+kind+" Configure Type",
			fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider; please report it.", data))
		return nil, false
	}
	return pd, true
}

// managedResource is what every managed resource implements besides its own extras: Configure
// (from resourceBase), import by name and by resource identity, and a plan checked by policy.
type managedResource interface {
	resource.ResourceWithConfigure
	resource.ResourceWithImportState
	resource.ResourceWithIdentity
	resource.ResourceWithModifyPlan
}

// checkedAction is what every action implements: Configure (from identityAction) and a
// ModifyPlan that checks the action's identity before it is invoked.
type checkedAction interface {
	action.ActionWithConfigure
	action.ActionWithModifyPlan
}
