// psa-oracle reads Kubernetes YAML the way kubectl and the API server read it and says what Pod Security
// admission decides about every pod and pod template in it, using Kubernetes' own code at v1.37.2:
//
//   - documents are split like `kubectl apply -f` splits them (k8s.io/apimachinery/pkg/util/yaml.YAMLReader) and
//     converted to JSON by sigs.k8s.io/yaml (go.yaml.in/yaml/v2, YAML 1.1 scalars), as kubectl does before it sends
//     them and the API server does for an application/yaml body;
//   - the JSON is decoded into the typed object by apimachinery's JSON serializer (case-sensitive, unknown fields
//     dropped) and defaulted with the API server's own defaulting functions (k8s.io/kubernetes/pkg/apis/.../v1), as
//     the API server does before admission;
//   - a workload's pod template becomes the Pod its controller makes (metadata and spec copied), defaulted as the API
//     server defaults that Pod (SetDefaults_Pod: e.g. a hostNetwork container's ports become host ports), since Pod
//     Security enforces on pods;
//   - the pod is evaluated with k8s.io/pod-security-admission's checks at each requested level and version, as the
//     PodSecurity admission plugin does.
//
// Usage: psa-oracle [-levels baseline:v1.33,restricted:latest] < documents.yaml > results.jsonl
//
// One JSON object per document, in order: {"doc": N, "json": "<the document as JSON text>", "readError": "...",
// "decodeError": "...", "kind": "Pod", "verdicts": {"restricted:latest": {"allowed": false, "reasons": [...],
// "details": [...]}}}. A document Kubernetes cannot read has readError; one it reads but the API would refuse to
// decode has decodeError; objects without a pod spec have no verdicts.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	appsv1 "k8s.io/kubernetes/pkg/apis/apps/v1"
	batchv1 "k8s.io/kubernetes/pkg/apis/batch/v1"
	corev1 "k8s.io/kubernetes/pkg/apis/core/v1"
	"k8s.io/pod-security-admission/admission"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Allowed bool     `json:"allowed"`
	Reasons []string `json:"reasons"`
	Details []string `json:"details"`
}

type result struct {
	Doc         int                `json:"doc"`
	JSON        *string            `json:"json,omitempty"`
	ReadError   string             `json:"readError,omitempty"`
	DecodeError string             `json:"decodeError,omitempty"`
	Kind        string             `json:"kind,omitempty"`
	Verdicts    map[string]verdict `json:"verdicts,omitempty"`
}

type levelVersion struct {
	name string
	lv   api.LevelVersion
}

func parseLevels(spec string) ([]levelVersion, error) {
	var out []levelVersion
	for _, item := range strings.Split(spec, ",") {
		level, version, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("-levels: %q is not LEVEL:VERSION", item)
		}
		l, err := api.ParseLevel(level)
		if err != nil {
			return nil, fmt.Errorf("-levels: %w", err)
		}
		v, err := api.ParseVersion(version)
		if err != nil {
			return nil, fmt.Errorf("-levels: %w", err)
		}
		out = append(out, levelVersion{item, api.LevelVersion{Level: l, Version: v}})
	}
	return out, nil
}

// newScheme registers the pod-bearing built-in kinds with the API server's defaulting functions (each package's
// AddToScheme adds k8s.io/api's types together with k8s.io/kubernetes' defaulters for them).
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(appsv1.AddToScheme(scheme))
	utilruntime.Must(batchv1.AddToScheme(scheme))
	return scheme
}

func main() {
	levelsFlag := flag.String("levels", "baseline:v1.33,restricted:v1.33,baseline:latest,restricted:latest",
		"comma-separated LEVEL:VERSION pairs to evaluate")
	flag.Parse()
	levels, err := parseLevels(*levelsFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "psa-oracle:", err)
		os.Exit(2)
	}
	scheme := newScheme()
	decoder := jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme, scheme,
		jsonserializer.SerializerOptions{})
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "psa-oracle:", err)
		os.Exit(2)
	}
	extractor := admission.DefaultPodSpecExtractor{}

	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(os.Stdin, 1<<20))
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	for doc := 0; ; doc++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The stream itself is unreadable (e.g. content after a `---` separator): kubectl stops here too.
			_ = encoder.Encode(result{Doc: doc, ReadError: err.Error()})
			return
		}
		_ = encoder.Encode(evaluate(doc, chunk, decoder, scheme, evaluator, extractor, levels))
	}
}

func evaluate(doc int, chunk []byte, decoder runtime.Decoder, scheme *runtime.Scheme, evaluator policy.Evaluator,
	extractor admission.PodSpecExtractor, levels []levelVersion) result {
	res := result{Doc: doc}
	converted, err := yaml.YAMLToJSON(chunk)
	if err != nil {
		res.ReadError = err.Error()
		return res
	}
	text := string(converted)
	res.JSON = &text
	if string(converted) == "null" {
		return res
	}
	obj, gvk, err := decoder.Decode(converted, nil, nil)
	if err != nil {
		res.DecodeError = err.Error()
		return res
	}
	res.Kind = gvk.Kind
	scheme.Default(obj)
	meta, spec, err := extractor.ExtractPodSpec(obj)
	if err != nil || spec == nil {
		return res
	}
	if _, isPod := obj.(*v1.Pod); !isPod {
		pod := &v1.Pod{ObjectMeta: *meta.DeepCopy(), Spec: *spec.DeepCopy()}
		scheme.Default(pod)
		meta, spec = &pod.ObjectMeta, &pod.Spec
	}
	res.Verdicts = map[string]verdict{}
	for _, level := range levels {
		aggregate := policy.AggregateCheckResults(evaluator.EvaluatePod(level.lv, meta, spec))
		res.Verdicts[level.name] = verdict{aggregate.Allowed, aggregate.ForbiddenReasons, aggregate.ForbiddenDetails}
	}
	return res
}
