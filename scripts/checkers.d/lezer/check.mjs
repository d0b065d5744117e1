// LogQL and TraceQL read by Grafana's own grammars (@grafana/lezer-logql, @grafana/lezer-traceql, the
// parsers Grafana's Loki and Tempo data sources validate queries with). Loki's and Tempo's Go
// parsers are under the AGPL, which this project does not take in.
//
// Standard input: a JSON array of {kind: "logql" | "traceql", name, text}. Standard output: a JSON
// array of {kind, name, errors, warnings, selectors}, as scripts/checkers.d/go/main.go writes it.
// A lezer parser recovers from errors by inserting error nodes; like Grafana's query validation
// (the Loki data source's validation.ts), every error node is an error of the query. `selectors`
// lists each LogQL stream selector's matchers, or the attributes a TraceQL query reads.
// Exit status: 0 when every item is accepted, 1 when any is refused, 2 on a usage error.
import { readFileSync } from "node:fs";
import { parser as logql } from "@grafana/lezer-logql";
import { parser as traceql } from "@grafana/lezer-traceql";

const PARSERS = { logql, traceql };

function describe(text, node) {
  const found = text.slice(node.from, node.to);
  return found ? `unexpected \`${found}\` at ${node.from}` : `unexpected end of query at ${node.from}`;
}

function check(item) {
  const result = { kind: item.kind, name: item.name, errors: [], warnings: [], selectors: [] };
  const parser = PARSERS[item.kind];
  if (!parser) {
    result.errors.push(`unknown kind ${JSON.stringify(item.kind)} (one of ${Object.keys(PARSERS).join(", ")})`);
    return result;
  }
  const text = item.text;
  if (!text.trim()) {
    result.errors.push("empty query");
    return result;
  }
  const tree = parser.parse(text);
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) {
        result.errors.push(describe(text, ref));
      } else if (ref.name === "Selector") {
        result.selectors.push({ metric: "", matchers: matchers(text, ref.node) });
      } else if (ref.name === "AttributeField") {
        result.selectors.push({ metric: "", matchers: [{ label: text.slice(ref.from, ref.to), op: "", value: "" }] });
      }
    },
  });
  return result;
}

function matchers(text, selector) {
  const found = [];
  const cursor = selector.cursor();
  do {
    if (cursor.name === "Matcher") {
      const parts = [];
      for (let child = cursor.node.firstChild; child; child = child.nextSibling) {
        parts.push(text.slice(child.from, child.to));
      }
      const [label, op, value] = parts;
      found.push({ label, op, value: unquote(value || "") });
    }
  } while (cursor.next() && cursor.from < selector.to);
  return found;
}

// A LogQL string is a Go string literal (double-quoted with escapes, or raw in backquotes); JSON reads
// the double-quoted form the same way for every escape a matcher value uses.
function unquote(literal) {
  if (literal.startsWith("`")) return literal.slice(1, -1);
  try {
    return JSON.parse(literal);
  } catch {
    return literal;
  }
}

let items;
try {
  items = JSON.parse(readFileSync(0, "utf8"));
  if (!Array.isArray(items)) throw new Error("not an array");
} catch (error) {
  process.stderr.write(`lezer checkers: standard input is not a JSON array of {kind, name, text}: ${error.message}\n`);
  process.exit(2);
}
const results = items.map(check);
process.stdout.write(JSON.stringify(results, null, 1) + "\n");
process.exit(results.some((r) => r.errors.length) ? 1 : 0);
