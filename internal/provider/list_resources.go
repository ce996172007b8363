package provider

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/list/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// List resources (`terraform query`, Terraform >= 1.14) list what the engine holds, each object
// with its resource identity and, when Terraform asks (`-generate-config-out`), the object as
// its resource's Read gives it: the generated configuration and import blocks then plan with no
// changes. The list resources are the resource types themselves (one Metadata and Configure
// serve both); their List methods live here and in identity_list_resource.go.

var (
	_ list.ListResourceWithConfigure = (*lifecycleClassResource)(nil)
	_ list.ListResourceWithConfigure = (*ttlPolicyResource)(nil)
	_ list.ListResourceWithConfigure = (*rotationScheduleResource)(nil)
	_ list.ListResourceWithConfigure = (*ownerResource)(nil)
)

// NewLifecycleClassListResource returns the nhi_lifecycle_class list resource.
func NewLifecycleClassListResource() list.ListResource {
	return asList(NewLifecycleClassResource())
}

// NewTTLPolicyListResource returns the nhi_ttl_policy list resource.
func NewTTLPolicyListResource() list.ListResource { return asList(NewTTLPolicyResource()) }

// NewRotationScheduleListResource returns the nhi_rotation_schedule list resource.
func NewRotationScheduleListResource() list.ListResource {
	return asList(NewRotationScheduleResource())
}

// NewOwnerListResource returns the nhi_owner list resource.
func NewOwnerListResource() list.ListResource { return asList(NewOwnerResource()) }

// asList returns the list resource that a resource type also is (asserted at compile time above).
func asList(r resource.Resource) list.ListResource {
	l, ok := r.(list.ListResource)
	if !ok {
		panic(fmt.Sprintf("%T is not a list resource", r))
	}
	return l
}

// listed is one object a list resource reports: the name that is its resource identity, a
// display name, and its resource object (a model the resource's schema reads).
type listed struct {
	name, display string
	model         func(diags *diag.Diagnostics) any
}

// streamListed streams items as list results under the identity attribute attr, up to the
// request's limit, building resource objects only when Terraform asks for them.
func streamListed(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream, attr string, items []listed) {
	stream.Results = func(push func(list.ListResult) bool) {
		for i, it := range items {
			if req.Limit > 0 && int64(i) >= req.Limit {
				return
			}
			r := req.NewListResult(ctx)
			r.DisplayName = it.display
			r.Diagnostics.Append(r.Identity.SetAttribute(ctx, path.Root(attr), it.name)...)
			if req.IncludeResource && !r.Diagnostics.HasError() {
				if m := it.model(&r.Diagnostics); !r.Diagnostics.HasError() {
					r.Diagnostics.Append(r.Resource.Set(ctx, m)...)
				}
			}
			if !push(r) {
				return
			}
		}
	}
}

// listRecords lists the governance records that all reads from the engine (what names them in
// an error), each keyed by its name and made a list result by item.
func listRecords[T any](ctx context.Context, req list.ListRequest, stream *list.ListResultsStream, data *providerData,
	what string, all func(engine.Engine, context.Context) ([]T, error), item func(T) listed) {
	if !listConfigured(data, stream) {
		return
	}
	records, err := all(data.engine, ctx)
	if err != nil {
		listError(stream, "list "+what, err)
		return
	}
	items := make([]listed, len(records))
	for i, rec := range records {
		items[i] = item(rec)
	}
	streamListed(ctx, req, stream, "name", items)
}

// fromRecord is the model of a listed governance record, as its resource's Read makes it.
func fromRecord[M, T any, PM recordModel[M, T]](record T) func(*diag.Diagnostics) any {
	return func(*diag.Diagnostics) any {
		var m M
		PM(&m).fromPolicy(record)
		return &m
	}
}

// listConfigured ends a list with an error when the provider is not configured.
func listConfigured(data *providerData, stream *list.ListResultsStream) bool {
	if data == nil {
		var diags diag.Diagnostics
		diags.AddError("Provider Not Configured", "The provider was not configured before the list ran. This is a bug in the provider; please report it.")
		stream.Results = list.ListResultsStreamDiagnostics(diags)
	}
	return data != nil
}

// listError ends a list with one error result.
func listError(stream *list.ListResultsStream, action string, err error) {
	var diags diag.Diagnostics
	addEngineError(&diags, action, err)
	stream.Results = list.ListResultsStreamDiagnostics(diags)
}

// noListFilters is the configuration schema of a list resource that lists everything.
func noListFilters(what string) schema.Schema {
	return schema.Schema{MarkdownDescription: "Lists every " + what + " the engine holds. It takes no arguments."}
}

func (r *lifecycleClassResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = noListFilters("lifecycle class")
}

func (r *lifecycleClassResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	listRecords(ctx, req, stream, r.data, "lifecycle classes", engine.Engine.ListClasses, func(c policy.Class) listed {
		return listed{name: c.Name, display: fmt.Sprintf("%s (%s)", c.Name, c.Kind), model: fromRecord[lifecycleClassModel](c)}
	})
}

func (r *ttlPolicyResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = noListFilters("TTL policy")
}

func (r *ttlPolicyResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	listRecords(ctx, req, stream, r.data, "TTL policies", engine.Engine.ListTTLPolicies, func(p policy.TTLPolicy) listed {
		return listed{name: p.Name, display: fmt.Sprintf("%s (class %s, ttl %s)", p.Name, p.Class, policy.FormatDuration(p.TTL)),
			model: fromRecord[ttlPolicyModel](p)}
	})
}

func (r *rotationScheduleResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = noListFilters("rotation schedule")
}

func (r *rotationScheduleResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	if !listConfigured(r.data, stream) {
		return
	}
	schedules, err := r.data.engine.ListRotationSchedules(ctx)
	if err != nil {
		listError(stream, "list rotation schedules", err)
		return
	}
	var versions []engine.SecretVersion
	if req.IncludeResource {
		if versions, err = r.data.engine.ListSecretVersions(ctx, ""); err != nil {
			listError(stream, "list secret versions", err)
			return
		}
	}
	now := r.data.clock.Now()
	items := make([]listed, len(schedules))
	for i, s := range schedules {
		items[i] = listed{name: s.Identity, display: "rotation of " + s.Identity, model: func(*diag.Diagnostics) any {
			var m rotationScheduleModel
			m.fromEngine(s, slices.DeleteFunc(slices.Clone(versions), func(v engine.SecretVersion) bool { return v.Identity != s.Identity }), now)
			return &m
		}}
	}
	streamListed(ctx, req, stream, "identity", items)
}

func (r *ownerResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = noListFilters("owner")
}

func (r *ownerResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	listRecords(ctx, req, stream, r.data, "owners", engine.Engine.ListOwners, func(o policy.Owner) listed {
		return listed{name: o.Name, display: fmt.Sprintf("%s (%s, %s)", o.Name, o.Kind, o.Status), model: fromRecord[ownerModel](o)}
	})
}
