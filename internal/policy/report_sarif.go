package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// SARIF 2.1.0 names that the report uses.
const (
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	sarifVersion = "2.1.0"
	// SARIFFingerprint is the partialFingerprints key of every result: a hash of the finding's
	// rule, subject, attribute and object, which stay the same while the finding persists.
	SARIFFingerprint = "nhiFinding/v1"
	sarifToolName    = "terraform-provider-nhi"
	sarifToolURI     = "https://registry.terraform.io/providers/nhigov/nhi/latest/docs"
)

// The subset of SARIF 2.1.0 (OASIS) that the report writes, in the schema's property order.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool        sarifTool         `json:"tool"`
		Invocations []sarifInvocation `json:"invocations"`
		Results     []sarifResult     `json:"results"`
		Properties  map[string]any    `json:"properties,omitempty"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string         `json:"id"`
		Name                 string         `json:"name"`
		ShortDescription     sarifMessage   `json:"shortDescription"`
		FullDescription      sarifMessage   `json:"fullDescription"`
		Help                 sarifMessage   `json:"help"`
		DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
		Properties           map[string]any `json:"properties"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifMessage struct {
		Text     string `json:"text"`
		Markdown string `json:"markdown,omitempty"`
	}
	sarifInvocation struct {
		ExecutionSuccessful bool   `json:"executionSuccessful"`
		EndTimeUTC          string `json:"endTimeUtc"`
	}
	sarifResult struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           int               `json:"ruleIndex"`
		Level               string            `json:"level"`
		Message             sarifMessage      `json:"message"`
		Locations           []sarifLocation   `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		Properties          map[string]any    `json:"properties"`
	}
	sarifLocation struct {
		PhysicalLocation *sarifPhysicalLocation `json:"physicalLocation,omitempty"`
		LogicalLocations []sarifLogicalLocation `json:"logicalLocations"`
	}
	sarifPhysicalLocation struct {
		ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	}
	sarifArtifactLocation struct {
		URI string `json:"uri"`
	}
	sarifLogicalLocation struct {
		Name               string `json:"name"`
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

// SARIFReport renders a drift report of fleet as a SARIF 2.1.0 log, for code-scanning
// dashboards: one rule per finding kind in the report (its title, what it checks, the general
// remedy, the OWASP reference, a default level from its severity) and one result per finding,
// located logically at its subject (kind/name, under its class when it has one) and
// fingerprinted by rule, subject, attribute and object so a dashboard tracks it across runs.
//
// SARIF results locate findings in files, and some consumers (GitHub code scanning) reject a
// result that has only a logical location: with artifactURI set (a path in the repository,
// such as the fleet's root module), every result also points at that file.
//
// The output depends only on its inputs: rules and results in the report's order.
func SARIFReport(r Report, fleet Fleet, artifactURI string) (string, error) {
	classOf := fleet.classIndex()
	run := sarifRun{
		Tool:        sarifTool{Driver: sarifDriver{Name: sarifToolName, InformationURI: sarifToolURI, Rules: []sarifRule{}}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: true, EndTimeUTC: fleet.Now.UTC().Format(time.RFC3339)}},
		Results:     make([]sarifResult, 0, len(r.Findings)),
		Properties:  map[string]any{"trustDebtHours": roundHours(r.TotalTrustDebt())},
	}
	blast, unbounded := r.TotalBlastRadius()
	run.Properties["blastRadiusScopeHours"] = math.Round(blast*10) / 10
	run.Properties["unboundedExposureIdentities"] = unbounded
	ruleIndex := map[string]int{}
	ruleSeverity := map[string]Severity{}
	for _, f := range r.Findings {
		i, ok := ruleIndex[f.Rule]
		switch {
		case !ok:
			i = len(run.Tool.Driver.Rules)
			ruleIndex[f.Rule] = i
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleOf(f))
			ruleSeverity[f.Rule] = f.Severity
		case f.Severity.Rank() > ruleSeverity[f.Rule].Rank():
			// A rule's default is its worst finding's (each rule gives its findings one severity).
			run.Tool.Driver.Rules[i] = sarifRuleOf(f)
			ruleSeverity[f.Rule] = f.Severity
		}
		run.Results = append(run.Results, sarifResultOf(f, i, classOf(f.Subject), artifactURI))
	}
	out, err := json.MarshalIndent(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}, "", "  ")
	if err != nil {
		return "", err
	}
	return string(out) + "\n", nil
}

func sarifRuleOf(f Finding) sarifRule {
	help := ruleHelp[f.Rule]
	desc, remedy := help.Description, help.Remedy
	if desc == "" { // a rule added without help: say what the finding says
		desc = f.Title() + "."
	}
	if remedy == "" {
		remedy = f.Remedy
	}
	props := map[string]any{"severity": f.Severity, "security-severity": securitySeverity(f.Severity), "tags": sarifTags(f)}
	if f.OWASP != "" {
		props["owasp"] = f.OWASP
	}
	helpMarkdown := "**Remedy:** " + mdText(remedy)
	if f.OWASP != "" {
		helpMarkdown += "\n\nOWASP Non-Human Identities Top 10: " + mdText(f.OWASP)
	}
	return sarifRule{
		ID:                   f.Rule,
		Name:                 pascalCase(f.Rule),
		ShortDescription:     sarifMessage{Text: f.Title()},
		FullDescription:      sarifMessage{Text: desc},
		Help:                 sarifMessage{Text: "Remedy: " + remedy, Markdown: helpMarkdown},
		DefaultConfiguration: sarifConfig{Level: sarifLevel(f.Severity)},
		Properties:           props,
	}
}

func sarifResultOf(f Finding, ruleIndex int, class, artifactURI string) sarifResult {
	kind, name, _ := strings.Cut(f.Subject, "/")
	qualified := f.Subject
	if class != "" && kind != SubjectClass {
		qualified = subject(SubjectClass, class) + "/" + f.Subject
	}
	loc := sarifLocation{LogicalLocations: []sarifLogicalLocation{{Name: name, FullyQualifiedName: qualified, Kind: kind}}}
	if artifactURI != "" {
		loc.PhysicalLocation = &sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: artifactURI}}
	}
	props := map[string]any{"severity": f.Severity, "subject": f.Subject, "observed": f.Observed, "allowed": f.Allowed, "remedy": f.Remedy}
	for key, value := range map[string]string{"class": class, "attribute": f.Attribute, "object": f.Object, "owasp": f.OWASP} {
		if value != "" {
			props[key] = value
		}
	}
	return sarifResult{
		RuleID: f.Rule, RuleIndex: ruleIndex, Level: sarifLevel(f.Severity),
		Message:             sarifMessage{Text: f.Message()},
		Locations:           []sarifLocation{loc},
		PartialFingerprints: map[string]string{SARIFFingerprint: findingFingerprint(f)},
		Properties:          props,
	}
}

// findingFingerprint identifies a finding across runs: what it is about, not what was observed
// (a credential's age grows from one run to the next).
func findingFingerprint(f Finding) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{f.Rule, f.Subject, f.Attribute, f.Object}, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// sarifLevel maps a severity to a SARIF level: high and critical findings are errors.
func sarifLevel(s Severity) string {
	switch s {
	case SeverityCritical, SeverityHigh:
		return "error"
	case SeverityMedium:
		return "warning"
	default:
		return "note"
	}
}

// securitySeverity is the CVSS-like score that code-scanning dashboards (GitHub's
// "security-severity") sort and badge by: critical above 9, high 7 to 8.9, medium 4 to 6.9,
// low below 4.
func securitySeverity(s Severity) string {
	switch s {
	case SeverityCritical:
		return "9.5"
	case SeverityHigh:
		return "8.0"
	case SeverityMedium:
		return "5.5"
	default:
		return "3.0"
	}
}

func sarifTags(f Finding) []string {
	tags := []string{"security", "non-human-identity"}
	if f.OWASP != "" {
		tags = append(tags, "owasp-nhi:"+strings.ToLower(f.OWASP))
	}
	return tags
}

// roundHours is a duration in hours, to one decimal as in the Markdown report.
func roundHours(d time.Duration) float64 { return math.Round(d.Hours()*10) / 10 }

// pascalCase writes a rule id ("credential-no-expiry") as a SARIF rule name
// ("CredentialNoExpiry").
func pascalCase(id string) string {
	var b strings.Builder
	for _, word := range strings.Split(id, "-") {
		if word != "" {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	return b.String()
}
