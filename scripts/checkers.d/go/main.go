// Command checkers reads the configuration complete-cluster generates with the libraries the real
// tools read it with, so a test fails when Prometheus, promtool, Alertmanager or the OpenTelemetry
// Collector would refuse what the program writes.
//
//	checkers batch                 a JSON array of {kind, name, text} on stdin; a JSON array of results on stdout
//	checkers rules FILE...         Prometheus rule files, as `promtool check rules` reads them
//	checkers promql EXPR...        PromQL expressions, as Prometheus parses a query
//	checkers alertmanager FILE...  Alertmanager configuration files, as `amtool check-config` reads them
//
// Kinds of the batch: rules, promql, selector (a series selector, as Grafana's label_values()
// sends it in match[]), alertmanager. Each result names the item and lists its errors (empty when
// the tool accepts it) and warnings (what the tool logs while accepting it); for promql and
// selector it also lists the series selectors the parser found, and for promql the expression's
// tree (tree.go), so tests can check which metric names and labels a query reads from the
// parser's own reading of it. Exit status: 0 when every
// item is accepted, 1 when any is refused, 2 on a usage error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Item is one piece of generated configuration to check.
type Item struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// Matcher is one label matcher of a series selector, as the PromQL parser read it.
type Matcher struct {
	Label string `json:"label"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// Selector is one series selector of an expression: the metric name and every label matcher.
type Selector struct {
	Metric   string    `json:"metric"`
	Matchers []Matcher `json:"matchers"`
}

// Result says whether the tool accepts an item.
type Result struct {
	Kind      string     `json:"kind"`
	Name      string     `json:"name"`
	Errors    []string   `json:"errors"`
	Warnings  []string   `json:"warnings"`
	Selectors []Selector `json:"selectors,omitempty"`
	// Grouping lists the labels of every `by`/`without`, `on`/`ignoring` and `group_left`/`group_right` clause.
	Grouping []string `json:"grouping,omitempty"`
	// Tree is the expression as the parser read it (tree.go), for promql items.
	Tree *Node `json:"tree,omitempty"`
}

// recorder keeps what a library logs at warning level or above while it reads an item: Alertmanager,
// for one, accepts a matcher it will refuse in a later release and only logs a warning.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelWarn }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *recorder) WithGroup(string) slog.Handler                { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b bytes.Buffer
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := r.lines
	r.lines = nil
	if lines == nil {
		return []string{}
	}
	return lines
}

var (
	logs   = &recorder{}
	logger = slog.New(logs)
	// promtool's parser without --enable-feature: what a Prometheus server runs by default.
	promql = parser.NewParser(parser.Options{})
)

func init() {
	// As amtool and the alertmanager binary do at start-up, with no feature flag given.
	flags, err := featurecontrol.NewFlags(logger, "")
	if err != nil {
		panic(err)
	}
	compat.InitFromFlags(logger, flags)
}

func errorStrings(errs []error) []string {
	out := make([]string, 0, len(errs))
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

// checkRules reads a rule file the way `promtool check rules` does: unknown fields refused, UTF-8
// metric and label names (Prometheus 3's default), every expression parsed, every template of
// labels and annotations parsed.
func checkRules(text string) []string {
	_, errs := rulefmt.Parse([]byte(text), false, model.UTF8Validation, promql, logger)
	return errorStrings(errs)
}

func matchers(ms []*labels.Matcher) (string, []Matcher) {
	name := ""
	out := []Matcher{}
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
			continue
		}
		out = append(out, Matcher{Label: m.Name, Op: m.Type.String(), Value: m.Value})
	}
	return name, out
}

// readExpr parses a PromQL expression and lists what it reads: its series selectors and the labels
// its aggregations and vector matchings name.
func readExpr(text string, result *Result) {
	expr, err := promql.ParseExpr(text)
	if err != nil {
		result.Errors = append(result.Errors, err.Error())
		return
	}
	result.Tree = tree(expr)
	grouping := map[string]bool{}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name, ms := matchers(n.LabelMatchers)
			if n.Name != "" {
				name = n.Name
			}
			result.Selectors = append(result.Selectors, Selector{Metric: name, Matchers: ms})
		case *parser.AggregateExpr:
			for _, label := range n.Grouping {
				grouping[label] = true
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				for _, label := range append(append([]string{}, n.VectorMatching.MatchingLabels...), n.VectorMatching.Include...) {
					grouping[label] = true
				}
			}
		}
		return nil
	})
	for label := range grouping {
		result.Grouping = append(result.Grouping, label)
	}
	sort.Strings(result.Grouping)
}

func readSelector(text string, result *Result) {
	ms, err := promql.ParseMetricSelector(text)
	if err != nil {
		result.Errors = append(result.Errors, err.Error())
		return
	}
	name, rest := matchers(ms)
	result.Selectors = append(result.Selectors, Selector{Metric: name, Matchers: rest})
}

// checkAlertmanager reads a configuration the way `amtool check-config` does (config.Load; the
// templates it names would be parsed too, but the program writes none).
func checkAlertmanager(text string) []string {
	cfg, err := amconfig.Load(text)
	if err != nil {
		return []string{err.Error()}
	}
	if len(cfg.Templates) > 0 {
		return []string{"the configuration names template files, which this checker does not read"}
	}
	return nil
}

func check(item Item) Result {
	result := Result{Kind: item.Kind, Name: item.Name, Errors: []string{}}
	logs.take()
	switch item.Kind {
	case "rules":
		result.Errors = append(result.Errors, checkRules(item.Text)...)
	case "promql":
		readExpr(item.Text, &result)
	case "selector":
		readSelector(item.Text, &result)
	case "alertmanager":
		result.Errors = append(result.Errors, checkAlertmanager(item.Text)...)
	case "collector":
		result.Errors = append(result.Errors, checkCollector(item.Text)...)
	default:
		result.Errors = append(result.Errors, fmt.Sprintf("unknown kind %q (one of rules, promql, selector, alertmanager, collector)", item.Kind))
	}
	result.Warnings = logs.take()
	return result
}

func report(results []Result) int {
	status := 0
	for _, r := range results {
		if len(r.Errors) > 0 {
			status = 1
		}
	}
	return status
}

func batch() int {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkers: cannot read standard input:", err)
		return 2
	}
	var items []Item
	if err := json.Unmarshal(data, &items); err != nil {
		fmt.Fprintln(os.Stderr, "checkers: standard input is not a JSON array of {kind, name, text}:", err)
		return 2
	}
	results := make([]Result, 0, len(items))
	for _, item := range items {
		results = append(results, check(item))
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", " ")
	if err := out.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "checkers:", err)
		return 2
	}
	return report(results)
}

// direct checks files or expressions given as arguments and prints one line per item.
func direct(kind string, args []string, files bool) int {
	if len(args) == 0 {
		fmt.Fprintf(os.Stderr, "checkers: %s needs at least one argument\n", kind)
		return 2
	}
	results := []Result{}
	for _, arg := range args {
		item := Item{Kind: kind, Name: arg, Text: arg}
		if files {
			data, err := os.ReadFile(arg)
			if err != nil {
				fmt.Fprintf(os.Stderr, "checkers: %v\n", err)
				return 2
			}
			item.Text = string(data)
		}
		r := check(item)
		results = append(results, r)
		if len(r.Errors) == 0 {
			fmt.Printf("%s: SUCCESS\n", arg)
		}
		for _, e := range r.Errors {
			fmt.Printf("%s: FAILED: %s\n", arg, e)
		}
		for _, w := range r.Warnings {
			fmt.Printf("%s: WARNING: %s\n", arg, w)
		}
	}
	return report(results)
}

const usage = `usage: checkers batch | rules FILE... | promql EXPR... | alertmanager FILE... | collector FILE...`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "batch":
		os.Exit(batch())
	case "rules":
		os.Exit(direct("rules", args, true))
	case "promql":
		os.Exit(direct("promql", args, false))
	case "alertmanager":
		os.Exit(direct("alertmanager", args, true))
	case "collector":
		os.Exit(direct("collector", args, true))
	case "-h", "--help", "help":
		fmt.Println(usage)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
