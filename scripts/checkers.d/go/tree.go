package main

import "github.com/prometheus/prometheus/promql/parser"

// Node is a PromQL expression as the parser read it, reduced to what decides which labels its
// result carries: selectors, aggregations with their grouping, binary operations with their vector
// matching, and function calls. Every node says which type of value it yields.
type Node struct {
	Type     string    `json:"type"`  // vector, matrix, subquery, aggregate, binary, call, number, string
	Value    string    `json:"value"` // the value type it yields: vector, matrix, scalar or string
	Metric   string    `json:"metric,omitempty"`
	Matchers []Matcher `json:"matchers,omitempty"`
	Op       string    `json:"op,omitempty"`
	Func     string    `json:"func,omitempty"`
	Grouping []string  `json:"grouping,omitempty"`
	Without  bool      `json:"without,omitempty"`
	// Vector matching of a binary operation between two vectors.
	Card     string   `json:"card,omitempty"`
	On       bool     `json:"on,omitempty"`
	Matching []string `json:"matching,omitempty"`
	Include  []string `json:"include,omitempty"`
	Bool     bool     `json:"bool,omitempty"`
	Args     []*Node  `json:"args,omitempty"`
}

func tree(expr parser.Expr) *Node {
	node := &Node{Value: string(expr.Type())}
	switch e := expr.(type) {
	case *parser.ParenExpr:
		return tree(e.Expr)
	case *parser.StepInvariantExpr:
		return tree(e.Expr)
	case *parser.UnaryExpr:
		return tree(e.Expr)
	case *parser.VectorSelector:
		node.Type = "vector"
		node.Metric, node.Matchers = matchers(e.LabelMatchers)
		if e.Name != "" {
			node.Metric = e.Name
		}
	case *parser.MatrixSelector:
		node.Type = "matrix"
		node.Args = []*Node{tree(e.VectorSelector)}
	case *parser.SubqueryExpr:
		node.Type = "subquery"
		node.Args = []*Node{tree(e.Expr)}
	case *parser.AggregateExpr:
		node.Type, node.Op, node.Grouping, node.Without = "aggregate", e.Op.String(), e.Grouping, e.Without
		if e.Param != nil {
			node.Args = append(node.Args, tree(e.Param))
		}
		node.Args = append(node.Args, tree(e.Expr))
	case *parser.BinaryExpr:
		node.Type, node.Op, node.Bool = "binary", e.Op.String(), e.ReturnBool
		if m := e.VectorMatching; m != nil && e.LHS.Type() == parser.ValueTypeVector && e.RHS.Type() == parser.ValueTypeVector {
			node.Card, node.On, node.Matching, node.Include = m.Card.String(), m.On, m.MatchingLabels, m.Include
		}
		node.Args = []*Node{tree(e.LHS), tree(e.RHS)}
	case *parser.Call:
		node.Type, node.Func = "call", e.Func.Name
		for _, arg := range e.Args {
			node.Args = append(node.Args, tree(arg))
		}
	case *parser.NumberLiteral:
		node.Type = "number"
	case *parser.StringLiteral:
		node.Type, node.Op = "string", e.Val
	default:
		node.Type = "unknown"
	}
	return node
}
