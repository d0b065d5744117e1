// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider from the Go module
// github.com/pulumi/pulumi-kubernetes/provider/v4.
//
// The provider's own main package embeds schema-embed.json and terraform-mapping-embed.json, which its build
// generates and which are therefore missing from the module zip. scripts/engine writes both next to this file
// before building (the committed schema.json with its "version" set, and terraform-mapping.json re-serialized),
// and the version itself comes from -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=...
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
