"""The GitLab pipeline's structure: stages, which jobs run in which pipeline, the promotion order and
its gates, serialization per stack, and that nothing is applied from a merge request.

The file is read the way GitLab reads it: `extends` merged (hashes deep, everything else replaced),
`!reference` resolved, and `rules` evaluated for each kind of pipeline, so a test asks "which jobs
does a merge request run, and what do their scripts do" rather than grepping the text.

The scripts embedded in the file (drift verdict, merge-request comment) are run here too.
"""

from __future__ import annotations

import copy
import http.server
import importlib.machinery
import importlib.util
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from stacks.loader import shipped_stacks

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / ".gitlab-ci.yml"

STAGES = ["check", "preview", "deploy-dev", "deploy-test", "deploy-prod", "deploy-prod-site-1", "deploy-prod-site-2", "drift"]
#: The promotion order and the stage each apply runs in.
PROMOTION = [("dev", "deploy-dev"), ("test", "deploy-test"), ("prod", "deploy-prod"), ("onprem-dc1", "deploy-prod-site-1"),
             ("onprem-dc2", "deploy-prod-site-2")]
DEPLOYED = [stack for stack, _ in PROMOTION]
PROD = ["prod", "onprem-dc1", "onprem-dc2"]
KEYWORDS = {"default", "include", "stages", "variables", "workflow"}

# --- reading the file as GitLab does ---------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


class Reference(list):
    """`!reference [job, key, ...]`."""


_Loader.add_constructor("!reference", lambda loader, node: Reference(loader.construct_sequence(node)))


def _merge(base, overlay):
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return overlay


def _resolve_references(value, document):
    if isinstance(value, Reference):
        target = document
        for key in value:
            target = target[key]
        return _resolve_references(copy.deepcopy(target), document)
    if isinstance(value, dict):
        return {key: _resolve_references(item, document) for key, item in value.items()}
    if isinstance(value, list):
        flattened = []
        for item in value:
            resolved = _resolve_references(item, document)
            # A reference inside a script list is replaced by the lines it names.
            if isinstance(item, Reference) and isinstance(resolved, list):
                flattened.extend(resolved)
            else:
                flattened.append(resolved)
        return flattened
    return value


def _expand(name: str, document: dict, seen=()) -> dict:
    job = document[name]
    assert name not in seen, f"extends cycle at {name}"
    parents = job.get("extends", [])
    parents = [parents] if isinstance(parents, str) else parents
    merged: dict = {}
    for parent in parents:
        merged = _merge(merged, _expand(parent, document, (*seen, name)))
    own = {key: value for key, value in job.items() if key != "extends"}
    return _merge(merged, own)


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.load(PIPELINE.read_text(), Loader=_Loader)


@pytest.fixture(scope="module")
def jobs(document) -> dict[str, dict]:
    """Every job (not the hidden templates), extends merged and references resolved."""
    expanded = {}
    for name in document:
        if name in KEYWORDS or name.startswith("."):
            continue
        job = _resolve_references(_expand(name, document), document)
        job.setdefault("stage", "test")
        expanded[name] = job
    return expanded


# --- rules ----------------------------------------------------------------------------------------

CONTEXTS = {
    "merge_request": {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main", "CI_MERGE_REQUEST_IID": "7"},
    "default_branch": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
    "feature_branch": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature/x", "CI_DEFAULT_BRANCH": "main"},
    "release_tag": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.4.0", "CI_DEFAULT_BRANCH": "main"},
    "other_tag": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "try-this", "CI_DEFAULT_BRANCH": "main"},
    "schedule": {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
}

_TOKEN = re.compile(r'\s*(\$[A-Za-z_][A-Za-z0-9_]*|"[^"]*"|/(?:\\/|[^/])*/|==|!=|=~|!~|&&|\|\||\(|\))')


def _tokens(expression: str) -> list[str]:
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        assert match, f"cannot read rule expression {expression!r} at {position}"
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def evaluate(expression: str, variables: dict[str, str]) -> bool:
    """A GitLab `rules:if` expression with the operators this pipeline uses."""
    tokens = _tokens(expression)

    def value(token: str):
        if token.startswith("$"):
            return variables.get(token[1:])
        if token.startswith('"'):
            return token[1:-1]
        return token

    def comparison(index: int):
        left = tokens[index]
        if left == "(":
            result, index = disjunction(index + 1)
            assert tokens[index] == ")"
            return result, index + 1
        if index + 1 < len(tokens) and tokens[index + 1] in ("==", "!=", "=~", "!~"):
            operator, right = tokens[index + 1], tokens[index + 2]
            a = value(left)
            if operator in ("=~", "!~"):
                pattern = right[1:-1].replace("\\/", "/")
                matched = a is not None and re.search(pattern, a) is not None
                return (matched if operator == "=~" else not matched), index + 3
            b = value(right)
            return ((a == b) if operator == "==" else (a != b)), index + 3
        return bool(value(left)), index + 1

    def conjunction(index: int):
        result, index = comparison(index)
        while index < len(tokens) and tokens[index] == "&&":
            right, index = comparison(index + 1)
            result = result and right
        return result, index

    def disjunction(index: int):
        result, index = conjunction(index)
        while index < len(tokens) and tokens[index] == "||":
            right, index = conjunction(index + 1)
            result = result or right
        return result, index

    result, index = disjunction(0)
    assert index == len(tokens), f"unread tokens in {expression!r}"
    return result


def decision(rules: list[dict] | None, variables: dict[str, str]) -> dict | None:
    """The first matching rule (its `when` and `allow_failure`), or None when the job is left out."""
    if rules is None:
        return {"when": "on_success"}
    for rule in rules:
        if "if" not in rule or evaluate(rule["if"], variables):
            if rule.get("when") == "never":
                return None
            return {"when": rule.get("when", "on_success"), "allow_failure": rule.get("allow_failure", False)}
    return None


def pipeline(document: dict, jobs: dict, context: str) -> dict[str, dict]:
    """The jobs a pipeline of this kind contains, each with its rule decision; {} if no pipeline."""
    variables = CONTEXTS[context]
    if decision(document["workflow"]["rules"], variables) is None:
        return {}
    result = {}
    for name, job in jobs.items():
        chosen = decision(job.get("rules"), variables)
        if chosen is not None:
            result[name] = {**job, "decided": chosen}
    return result


def script_of(job: dict) -> str:
    return "\n".join(str(line) for key in ("before_script", "script", "after_script") for line in job.get(key, []))


_PULUMI = re.compile(r"\bpulumi\s+(up|update|destroy|refresh|import|state|cancel|stack\s+rm)\b([^\n]*)")


def applies(job: dict) -> list[str]:
    """The shell commands in a job that change a stack or its state (embedded programs, which only
    read files and call the GitLab API, are left out: their messages may name commands)."""
    shell = re.sub(r"<<'EOF'\n.*?\nEOF", "", script_of(job), flags=re.S)
    found = []
    for command, rest in _PULUMI.findall(shell):
        if command == "refresh" and "--preview-only" in rest:
            continue
        found.append(f"pulumi {command}{rest}")
    return found


def stack_of(job: dict) -> str | None:
    return (job.get("variables") or {}).get("STACK")


# --- structure ------------------------------------------------------------------------------------


def test_the_file_parses_and_every_extended_template_exists(document, jobs):
    assert document["stages"] == STAGES
    for name, job in jobs.items():
        assert job["stage"] in STAGES, name
        assert "script" in job, f"{name} has no script"


def test_pipelines_run_for_merge_requests_the_default_branch_release_tags_and_schedules_only(document, jobs):
    assert pipeline(document, jobs, "feature_branch") == {}  # its merge request's pipeline runs instead
    for context in ("merge_request", "default_branch", "release_tag", "schedule"):
        assert pipeline(document, jobs, context), context


def test_every_shipped_stack_gets_a_preview_and_a_review_on_merge_requests(document, jobs):
    merge_request = pipeline(document, jobs, "merge_request")
    for stack in shipped_stacks():
        preview, review = merge_request[f"preview:{stack}"], merge_request[f"review:{stack}"]
        assert stack_of(preview) == stack == stack_of(review)
        script = script_of(preview)
        assert 'stacks policy-config "$STACK" --output ".state/policy-$STACK.json"' in script
        assert 'pulumi preview --stack "$STACK" --policy-pack policies --policy-pack-config ".state/policy-$STACK.json"' in script
        assert 'stacks review "$STACK" --markdown --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA"' in script_of(review)
        assert preview["decided"]["when"] == "on_success" and review["decided"]["when"] == "on_success"
    for context in ("default_branch", "release_tag", "schedule"):
        assert not [name for name in pipeline(document, jobs, context) if name.startswith(("preview:", "review:"))], context


def test_the_review_is_posted_as_one_comment_per_stack_updated_in_place(jobs):
    script = script_of(jobs["review:prod"])
    assert "GITLAB_REVIEW_TOKEN" in script and "/merge_requests/" in script and "/notes" in script
    assert 'marker = f"<!-- stacks review: {stack} -->"' in script
    assert script.rstrip().endswith('exit "$code"')  # the job fails on a mandatory violation, after posting


def test_nothing_is_applied_on_merge_requests(document, jobs):
    merge_request = pipeline(document, jobs, "merge_request")
    assert merge_request
    for name, job in merge_request.items():
        assert applies(job) == [], f"{name} applies on a merge request: {applies(job)}"
        assert not name.startswith(("up:", "drift:")), name


def test_the_promotion_order_needs_and_stages(document, jobs):
    release = pipeline(document, jobs, "release_tag")
    previous = "check:tests"
    for stack, stage in PROMOTION:
        job = release[f"up:{stack}"]
        assert job["stage"] == stage and stack_of(job) == stack
        assert previous in job["needs"], f"up:{stack} does not wait for {previous}"
        assert STAGES.index(stage) > STAGES.index(release[previous]["stage"])
        assert "pulumi up --stack \"$STACK\" --yes --non-interactive" in script_of(job)
        assert "--policy-pack policies --policy-pack-config" in script_of(job)
        previous = f"up:{stack}"
    assert "release:check" in release["up:prod"]["needs"]  # a tag off the default branch never reaches prod


def test_dev_is_automatic_and_every_later_step_is_a_blocking_manual_gate(document, jobs):
    for context in ("default_branch", "release_tag"):
        run = pipeline(document, jobs, context)
        assert run["up:dev"]["decided"]["when"] == "on_success", context
        for stack in DEPLOYED[1:]:
            if f"up:{stack}" in run:
                decided = run[f"up:{stack}"]["decided"]
                assert decided == {"when": "manual", "allow_failure": False}, (context, stack, decided)


def test_prod_is_applied_from_release_tags_only(document, jobs):
    assert {f"up:{stack}" for stack in PROD} <= set(pipeline(document, jobs, "release_tag"))
    for context in ("merge_request", "default_branch", "feature_branch", "other_tag", "schedule"):
        present = set(pipeline(document, jobs, context))
        assert not present & {f"up:{stack}" for stack in PROD}, context
    # The default branch takes a change to dev and test; only a release takes it further.
    assert {name for name in pipeline(document, jobs, "default_branch") if name.startswith("up:")} == {"up:dev", "up:test"}


def test_applies_and_drift_checks_are_serialized_per_stack(jobs):
    for name, job in jobs.items():
        if name.startswith(("up:", "drift:")):
            assert job["resource_group"] == f"stack-{stack_of(job)}", name
            assert job.get("interruptible") is False or name.startswith("drift:"), f"{name} may be cancelled mid-apply"
    for name, job in jobs.items():
        if applies(job):
            assert name.startswith("up:"), f"{name} changes a stack but is not a serialized apply"


def test_every_deployed_stack_has_a_scheduled_drift_job(document, jobs):
    scheduled = pipeline(document, jobs, "schedule")
    assert {name for name in scheduled if name.startswith("drift:")} == {f"drift:{stack}" for stack in DEPLOYED}
    assert not [name for name in scheduled if name.startswith("up:")]
    for stack in DEPLOYED:
        script = script_of(scheduled[f"drift:{stack}"])
        assert 'pulumi refresh --stack "$STACK" --preview-only --expect-no-changes --json' in script
    for context in ("merge_request", "default_branch", "release_tag"):
        assert not [name for name in pipeline(document, jobs, context) if name.startswith("drift:")], context
    # The local stack renders manifests on a developer's machine: there is no deployed state to drift.
    assert "local" in shipped_stacks() and "drift:local" not in jobs


def test_every_stack_job_uses_its_own_environment_and_private_runners_for_prod(jobs):
    for name, job in jobs.items():
        stack = stack_of(job)
        if stack is None or stack == "local" or name.startswith("review:"):
            continue
        assert job["environment"]["name"] == stack, name
        if stack in PROD:
            assert job.get("tags") == ["platform-private"], name
    assert jobs["up:prod"]["environment"]["deployment_tier"] == "production"


def test_no_secret_is_written_in_the_file(document):
    text = PIPELINE.read_text()
    assert not re.search(r"(?i)glpat-|AZURE_CLIENT_SECRET|ARM_CLIENT_SECRET|password\s*:", text)
    # Variables defined in the file carry no secret values (the local stack's passphrase is empty).
    def walk(value, path=""):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for item in value:
                yield from walk(item, path)
        else:
            yield path, value

    for path, value in walk(document):
        if re.search(r"(PASSPHRASE|TOKEN|SECRET|KEY)$", path.split(".")[-1]) and "variables" in path:
            assert value in ("", None) or str(value).startswith("$"), f"{path} is set in the file"


# --- the tools: what the tests run ---------------------------------------------------------------

_RUNS_PULUMI = re.compile(r"^\s*pulumi\s", re.M)
_ENGINE_ENV = 'eval "$(scripts/engine env)"'


def _load_engine_script():
    loader = importlib.machinery.SourceFileLoader("engine_for_pipeline", str(ROOT / "scripts" / "engine"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    loader.exec_module(module)
    return module


def test_the_check_job_runs_the_readme_test_command_with_every_tier(jobs):
    check = jobs["check:tests"]
    assert ".ci/run" in [str(line).strip() for line in check["script"]]  # the command CI runs: scripts/test
    for name, job in jobs.items():  # nobody runs pytest with a tier left out
        assert not re.search(r"\bpytest\b", script_of(job)), f"{name} runs pytest itself"
    # A runner without the engine cache builds the engine first (docs/engine.md: about half an hour), then tests.
    hours = re.fullmatch(r"(\d+)h", str(check.get("timeout", "")))
    assert hours and int(hours.group(1)) >= 2, check.get("timeout")


def test_every_job_that_runs_pulumi_takes_it_from_scripts_engine(jobs):
    runners = {name: job for name, job in jobs.items() if _RUNS_PULUMI.search(script_of(job))}
    expected = {f"preview:{stack}" for stack in shipped_stacks()} | {f"{kind}:{stack}" for stack in DEPLOYED for kind in ("up", "drift")}
    assert expected <= set(runners)
    for name, job in runners.items():
        lines = [str(line) for key in ("before_script", "script") for line in job.get(key, [])]
        assert _ENGINE_ENV in lines, f"{name} does not take pulumi from scripts/engine"
        first_pulumi = next(index for index, line in enumerate(lines) if _RUNS_PULUMI.search(line))
        assert lines.index(_ENGINE_ENV) < first_pulumi, name
        # the stack's own backend, set before the engine's environment (whose default is the local .state folder)
        backend = 'export ENGINE_BACKEND_URL="${PULUMI_BACKEND_URL:?set PULUMI_BACKEND_URL as a CI/CD variable}"'
        assert lines.index(backend) < lines.index(_ENGINE_ENV), name
        assert "scripts/engine check" in lines, f"{name}: the job log must say which pieces are releases"
        assert not [line for line in lines if "export PATH" in line or "pulumi/bin" in line], f"{name} installs its own pulumi"
    # the resolution is the tests' own: nothing in the file steers it elsewhere
    assert not re.search(r"\bENGINE_(KUBERNETES|PLUGIN_SOURCE|USE_INSTALLED|PULUMI|CACHE_DIR)\b", PIPELINE.read_text())


def test_the_engine_cache_is_kept_between_pipelines(document, monkeypatch):
    project = "/builds/platform/complete-cluster"
    variables = {key: str(value).replace("$CI_PROJECT_DIR", project) for key, value in document["variables"].items()}
    monkeypatch.delenv("ENGINE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", variables["XDG_CACHE_HOME"])
    engine_cache = _load_engine_script().cache_dir()  # where scripts/engine puts its builds in a job
    cached = [Path(project) / path for entry in document["default"]["cache"] for path in entry["paths"]]
    assert any(path in engine_cache.parents for path in cached), (engine_cache, cached)
    [engine_entry] = [entry for entry in document["default"]["cache"] if Path(project) / ".cache/complete-cluster" in
                      [Path(project) / path for path in entry["paths"]]]
    assert set(engine_entry["key"]["files"]) == {"requirements.txt", "scripts/engine"}  # new pins, new cache


# --- the embedded scripts -------------------------------------------------------------------------


def _heredoc(job: dict) -> str:
    """The Python program a job's script passes to `python3 - ... <<'EOF'`."""
    match = re.search(r"<<'EOF'\n(.*?)\nEOF", script_of(job), re.S)
    assert match, "no embedded program"
    return match.group(1)


@pytest.mark.parametrize(
    "output, code, drift",
    [
        ({"steps": [{"op": "same", "urn": "urn:a"}], "changeSummary": {"same": 12}}, 0, False),
        ({"steps": [{"op": "update", "urn": "urn:pulumi:prod::complete-cluster::azure-native:containerservice:AgentPool::general"}],
          "changeSummary": {"same": 11, "update": 1}}, 0, True),
        ({"steps": [{"op": "delete", "urn": "urn:b"}]}, 0, True),  # no summary: the steps decide
        ({"changeSummary": {"same": 12}}, 255, True),  # the CLI said changes were proposed
        (None, 255, True),  # no JSON at all (the CLI failed)
    ],
)
def test_the_drift_verdict(tmp_path, jobs, output, code, drift):
    program = tmp_path / "verdict.py"
    program.write_text(_heredoc(jobs["drift:prod"]))
    result_file = tmp_path / "drift-prod.json"
    result_file.write_text(json.dumps(output) if output is not None else "error: failed to refresh")
    run = subprocess.run([sys.executable, str(program), "prod", str(result_file), str(code)], capture_output=True, text=True)
    assert (run.returncode != 0) is drift, run.stdout + run.stderr
    if drift and output and output.get("steps"):
        assert output["steps"][0]["urn"] in run.stdout


class _GitLab(http.server.BaseHTTPRequestHandler):
    """The merge-request notes API, on 127.0.0.1."""

    notes: list[dict] = []
    calls: list[tuple[str, str, dict | None]] = []

    def _reply(self, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self):
        type(self).calls.append(("GET", self.path, None))
        assert self.headers["PRIVATE-TOKEN"] == "token-from-ci"
        self._reply(type(self).notes)

    def do_POST(self):
        body = self._body()
        type(self).calls.append(("POST", self.path, body))
        self._reply({"id": 99, **body})

    def do_PUT(self):
        body = self._body()
        type(self).calls.append(("PUT", self.path, body))
        self._reply({"id": 1, **body})

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("existing", [False, True])
def test_the_review_comment_is_created_once_then_updated(tmp_path, jobs, existing):
    earlier = [{"id": 1, "body": "<!-- stacks review: prod -->\nold"}] if existing else []
    _GitLab.notes = [{"id": 5, "body": "an unrelated comment"}, *earlier]
    _GitLab.calls = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _GitLab)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        program = tmp_path / "post.py"
        program.write_text(_heredoc(jobs["review:prod"]))
        report = tmp_path / "review-prod.md"
        report.write_text("<!-- stacks review: prod -->\n## Policy review: stack `prod`\n")
        environment = {
            "CI_API_V4_URL": f"http://127.0.0.1:{server.server_port}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "7",
            "GITLAB_REVIEW_TOKEN": "token-from-ci",
            "PATH": "/usr/bin:/bin",
        }
        run = subprocess.run([sys.executable, str(program), "prod", str(report)], capture_output=True, text=True,
                             env=environment, timeout=60)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stderr
    notes = "/api/v4/projects/42/merge_requests/7/notes"
    method, path, body = _GitLab.calls[-1]
    assert (method, path) == (("PUT", f"{notes}/1") if existing else ("POST", notes))
    assert body == {"body": report.read_text()}
    assert len(_GitLab.calls) == 2
