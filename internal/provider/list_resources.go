package provider

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/list/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"

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
func NewLifecycleClassListResource() list.ListResource { return &lifecycleClassResource{} }

// NewTTLPolicyListResource returns the nhi_ttl_policy list resource.
func NewTTLPolicyListResource() list.ListResource { return &ttlPolicyResource{} }

// NewRotationScheduleListResource returns the nhi_rotation_schedule list resource.
func NewRotationScheduleListResource() list.ListResource { return &rotationScheduleResource{} }

// NewOwnerListResource returns the nhi_owner list resource.
func NewOwnerListResource() list.ListResource { return &ownerResource{} }

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
	if !listConfigured(r.data, stream) {
		return
	}
	classes, err := r.data.engine.ListClasses(ctx)
	if err != nil {
		listError(stream, "list lifecycle classes", err)
		return
	}
	items := make([]listed, len(classes))
	for i, c := range classes {
		items[i] = listed{name: c.Name, display: fmt.Sprintf("%s (%s)", c.Name, c.Kind), model: func(*diag.Diagnostics) any {
			var m lifecycleClassModel
			m.fromPolicy(c)
			return &m
		}}
	}
	streamListed(ctx, req, stream, "name", items)
}

func (r *ttlPolicyResource) ListResourceConfigSchema(_ context.Context, _ list.ListResourceSchemaRequest, resp *list.ListResourceSchemaResponse) {
	resp.Schema = noListFilters("TTL policy")
}

func (r *ttlPolicyResource) List(ctx context.Context, req list.ListRequest, stream *list.ListResultsStream) {
	if !listConfigured(r.data, stream) {
		return
	}
	policies, err := r.data.engine.ListTTLPolicies(ctx)
	if err != nil {
		listError(stream, "list TTL policies", err)
		return
	}
	items := make([]listed, len(policies))
	for i, p := range policies {
		items[i] = listed{name: p.Name, display: fmt.Sprintf("%s (class %s, ttl %s)", p.Name, p.Class, policy.FormatDuration(p.TTL)),
			model: func(*diag.Diagnostics) any {
				var m ttlPolicyModel
				m.fromPolicy(p)
				return &m
			}}
	}
	streamListed(ctx, req, stream, "name", items)
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
	if !listConfigured(r.data, stream) {
		return
	}
	owners, err := r.data.engine.ListOwners(ctx)
	if err != nil {
		listError(stream, "list owners", err)
		return
	}
	items := make([]listed, len(owners))
	for i, o := range owners {
		items[i] = listed{name: o.Name, display: fmt.Sprintf("%s (%s, %s)", o.Name, o.Kind, o.Status), model: func(*diag.Diagnostics) any {
			var m ownerModel
			m.fromPolicy(o)
			return &m
		}}
	}
	streamListed(ctx, req, stream, "name", items)
}
