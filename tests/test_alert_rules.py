"""The fleet's alert rules, Prometheus examples and Grafana dashboard (config/prometheus/,
config/grafana/), proved with the real promtool and held to the metrics the sidecar exposes.

promtool comes from the Debian package `prometheus` (scripts/test installs it when it can).
Without it these tests fail, never skip: CI must prove the rules.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.web.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "config" / "prometheus"
ALERTS = PROM / "alerts.yml"
ALERT_TESTS = PROM / "alerts.test.yml"
EXAMPLE = PROM / "prometheus.example.yml"
AGENT_EXAMPLE = PROM / "prometheus.agent.example.yml"
ALERTMANAGER_EXAMPLE = PROM / "alertmanager.example.yml"
DASHBOARD = ROOT / "config" / "grafana" / "gameball-sidecar.json"

JOB = "gameball-sidecar"

# Series the sidecar exposes today (sidecar/web/metrics.py) ...
EXISTING = frozenset(
    {
        "sidecar_http_request_duration_seconds_bucket",
        "sidecar_http_request_duration_seconds_sum",
        "sidecar_http_request_duration_seconds_count",
        "sidecar_upstream_request_duration_seconds_bucket",
        "sidecar_upstream_request_duration_seconds_sum",
        "sidecar_upstream_request_duration_seconds_count",
        "sidecar_outbox_deliveries_total",
        "sidecar_outbox_queued_items",
        "sidecar_outbox_oldest_queued_age_seconds",
        "sidecar_outbox_dead_letter_items",
        "sidecar_gameball_online",
        "sidecar_gameball_credentials_alarm",
        "sidecar_gameball_offline_seconds",
        "sidecar_outbox_redemption_failed_items",
        "sidecar_database_bytes",
        "sidecar_database_limit_bytes",
        "sidecar_offline_redemption_outstanding_points",
        "sidecar_offline_redemption_outstanding_value",
        "sidecar_redemption_failed_value",
        "sidecar_build_info",
        "sidecar_pacing_shared_budget_fallback",
    }
)
# ... and any being added: once the sidecar exposes one, move it up, and
# test_sidecar_exposes_the_metrics_the_rules_use holds it to its name.
PENDING: frozenset[str] = frozenset()
KNOWN = EXISTING | PENDING | {"up"}

# Store identity comes only from the scrape target's labels; the rest are the metrics' own.
TARGET_LABELS = frozenset({"store", "branch", "terminal", "instance", "job"})
METRIC_LABELS = frozenset(
    {"route", "method", "status", "endpoint", "outcome", "kind", "result", "le", "version"}
)
ALLOWED_LABELS = TARGET_LABELS | METRIC_LABELS


# --- promtool -----------------------------------------------------------------------------


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail(
            "promtool is not installed: the alert-rule tests need it. Install the Debian "
            "package: apt-get install --no-install-recommends prometheus (scripts/test does "
            "this when run as root or with passwordless sudo)."
        )
    return subprocess.run(
        [exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{output}"
    return output


def test_promtool_checks_the_rules() -> None:
    output = assert_ok(promtool("check", "rules", str(ALERTS.relative_to(ROOT))))
    assert f"SUCCESS: {len(list(rules()))} rules found" in output, output


def test_promtool_unit_tests_pass() -> None:
    output = assert_ok(promtool("test", "rules", str(ALERT_TESTS.relative_to(ROOT))))
    assert "SUCCESS" in output and "FAILED" not in output, output


def _copy_with_token(tmp_path: Path, config: Path, token_path: str) -> Path:
    """The examples name token files on the Prometheus host or the till, which promtool
    insists exist: check a copy (rules and file_sd targets beside it, as in the repo) in
    which only that path points at a scratch token."""
    work = tmp_path / "prometheus"
    shutil.copytree(PROM, work)
    text = config.read_text()
    assert text.count(token_path) == 1, f"{config.name} should name {token_path} once"
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123\n")
    token.chmod(0o600)
    copy = work / config.name
    copy.write_text(text.replace(token_path, str(token)))
    return copy


def test_promtool_checks_the_example_config(tmp_path: Path) -> None:
    copy = _copy_with_token(tmp_path, EXAMPLE, "/etc/prometheus/gameball-sidecar-token")
    output = assert_ok(promtool("check", "config", copy.name, cwd=copy.parent))
    # It loaded the rule file and the file_sd targets too (a bad target file fails here).
    assert "SUCCESS: 1 rule files found" in output, output
    assert f"SUCCESS: {len(list(rules()))} rules found" in output, output


def test_promtool_checks_the_agent_example(tmp_path: Path) -> None:
    copy = _copy_with_token(tmp_path, AGENT_EXAMPLE, "/etc/prometheus/remote-write-token")
    assert_ok(promtool("check", "config", "--agent", copy.name, cwd=copy.parent))


# --- PromQL: which metric names and labels an expression uses -----------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", re.IGNORECASE
)
_OFFSET = re.compile(r"\b(?:offset\s+-?|@\s*)[\w.()$]+", re.IGNORECASE)
_TOKEN = re.compile(
    r"(?P<number>(?<![\w:$])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+))"
    r"|(?P<var>\$\{?\w+\}?)"
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "inf", "nan", "offset"})


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression uses: names of selected series, and the
    labels of its selectors' matchers and of by/without/on/ignoring/group_* clauses."""
    labels: set[str] = set()
    text = _STRING.sub('""', expr)
    for selector in _SELECTOR.findall(text):
        labels.update(_MATCHER.findall(selector))
    text = _SELECTOR.sub(" ", text)
    text = _RANGE.sub(" ", text)
    for group in _GROUPING.findall(text):
        labels.update(name.strip() for name in group.split(",") if name.strip())
    text = _GROUPING.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    metrics: set[str] = set()
    for token in _TOKEN.finditer(text):
        ident = token.group("ident")
        if ident and not token.group("call") and ident.lower() not in _KEYWORDS:
            metrics.add(ident)
    return metrics, labels


def test_the_promql_reader_finds_names_and_labels() -> None:
    metrics, labels = promql_names(
        'histogram_quantile(0.95, sum by (le, endpoint) (rate(x_bucket{job="a{b}", '
        'store=~"$store"}[$__rate_interval]))) > 1e3 and on(instance) y offset 5m '
        'or count without (customerId) (z == bool 0) unless vector(0) or w{kind!="by (q)"}'
    )
    assert metrics == {"x_bucket", "y", "z", "w"}
    assert labels == {"le", "endpoint", "job", "store", "instance", "customerId", "kind"}
    assert promql_names("job:sidecar_tills:count * 0") == ({"job:sidecar_tills:count"}, set())
    assert promql_names("sum(rate(a[5m])) by (result)") == ({"a"}, {"result"})


# --- the rules ----------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> Iterator[dict[str, Any]]:
    for group in load_yaml(ALERTS)["groups"]:
        yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def annotation_queries(rule: dict[str, Any]) -> list[str]:
    """PromQL inside the annotations' `query` template calls (Go raw strings)."""
    found: list[str] = []
    for text in rule.get("annotations", {}).values():
        found += re.findall(r"query\s+`([^`]*)`", text)
    return found


def test_the_rules_use_only_known_metrics_and_labels() -> None:
    for rule in rules():
        name = rule.get("alert") or rule.get("record")
        for expr in [rule["expr"], *annotation_queries(rule)]:
            metrics, labels = promql_names(expr)
            unknown = metrics - KNOWN - recorded()
            assert not unknown, f"{name}: unknown metric(s) {sorted(unknown)} in {expr!r}"
            odd = labels - ALLOWED_LABELS
            assert not odd, f"{name}: label(s) {sorted(odd)} are neither target nor metric labels"
    for rule in rules():
        if "record" in rule:
            metrics, _ = promql_names(rule["expr"])
            assert metrics <= KNOWN | recorded(), rule["record"]


def test_alerts_read_recording_rules_of_the_same_evaluation() -> None:
    """Groups are evaluated independently (and by promtool in random order), so an alert on
    a recording rule of another group lags it by up to an interval and its `for:` wobbles
    (the unit tests failed about one run in four that way). Keep each recording rule an
    alert reads earlier in the alert's own group."""
    for group in load_yaml(ALERTS)["groups"]:
        seen: set[str] = set()
        for rule in group["rules"]:
            if "record" in rule:
                seen.add(rule["record"])
                continue
            metrics, _ = promql_names(rule["expr"])
            needed = metrics & recorded()
            assert needed <= seen, f"{rule['alert']} reads {needed - seen} from elsewhere"


def test_every_alert_has_a_severity_and_says_where_and_what_to_do() -> None:
    commands = ("gameball-sidecar", "systemctl", "Check", "Restore")
    for rule in alerts():
        name, annotations = rule["alert"], rule.get("annotations", {})
        assert rule.get("labels", {}).get("severity") in {"critical", "warning"}, name
        assert {"summary", "description"} <= annotations.keys(), name
        description = annotations["description"]
        assert any(word in description for word in commands), f"{name}: what should one do?"
        metrics, _ = promql_names(rule["expr"])
        fleet = "by (job)" in rule["expr"] or any(m.startswith("job:") for m in metrics)
        if not fleet:
            text = annotations["summary"] + description
            assert "$labels.store" in text and "$labels.terminal" in text, name
        else:
            # A fleet-wide alert has no till labels: it lists the stores or tills it is about.
            assert "Labels.store" in description, f"{name} should name the stores"


def _tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = load_yaml(ALERT_TESTS)["tests"]
    return tests


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    evaluated: set[str] = set()
    for case in _tests():
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
        for check in case.get("promql_expr_test", []):
            evaluated.add(check["expr"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts no test fires"
    assert names - quiet == set(), "alerts no test proves quiet"
    assert recorded() - evaluated == set(), "recording rules no test evaluates"
    assert load_yaml(ALERT_TESTS)["rule_files"] == [ALERTS.name]


def test_alertmanager_example_names_real_alerts() -> None:
    config = load_yaml(ALERTMANAGER_EXAMPLE)
    names = {rule["alert"] for rule in alerts()}
    matchers = [
        m
        for rule in config["inhibit_rules"]
        for m in rule["source_matchers"] + rule["target_matchers"]
    ]
    matchers += [m for route in config["route"]["routes"] for m in route["matchers"]]
    for matcher in matchers:
        match = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
        if match:
            for alertname in match.group(1).split("|"):
                assert alertname in names, f"{matcher} names no alert in alerts.yml"
    assert "GameballFleetOffline" in str(config["inhibit_rules"])


def test_example_targets_carry_the_store_labels() -> None:
    """Alerts and the dashboard name a till only by its target labels: every till of the
    examples has store, branch and terminal."""
    groups: list[dict[str, Any]] = []
    for path in (EXAMPLE, AGENT_EXAMPLE):
        (job,) = [j for j in load_yaml(path)["scrape_configs"] if j["job_name"] == JOB]
        groups += job.get("static_configs", [])
        for sd in job.get("file_sd_configs", []):
            for pattern in sd["files"]:
                for target_file in sorted(path.parent.glob(pattern)):
                    groups += load_yaml(target_file)
    assert len(groups) >= 4
    for group in groups:
        assert group["targets"], group
        assert {"store", "branch", "terminal"} <= group["labels"].keys(), group


# --- the metrics the sidecar exposes ------------------------------------------------------


def exposed() -> set[str]:
    """Series names sidecar/metrics.py exposes, from the exposition's TYPE lines."""
    body, _ = Metrics().exposition()
    names: set[str] = set()
    for line in body.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            if name.endswith("_created"):  # prometheus-client's creation times; never used
                continue
            if kind == "histogram":
                names.update(name + s for s in ("_bucket", "_sum", "_count"))
            elif kind == "counter":
                names.add(name if name.endswith("_total") else name + "_total")
            else:
                names.add(name)
    return names


def test_sidecar_exposes_the_metrics_the_rules_use() -> None:
    names = exposed()
    assert not EXISTING - names, f"rules rely on metrics gone from the sidecar: {EXISTING - names}"
    stray = names - KNOWN
    assert not stray, (
        f"the sidecar exposes {sorted(stray)}, which the rules and dashboard do not know: if "
        "it replaces a name they use, rename it (or fix alerts.yml and the dashboard); if it "
        "is new, add it to EXISTING here"
    )


def test_sidecar_metrics_pass_promtool_lint() -> None:
    metrics = Metrics()
    metrics.delivery("payment", "delivered")
    metrics.upstream_call("POST", "/integrations/payments", 0.1, "ok")
    body, _ = metrics.exposition()
    exe = shutil.which("promtool")
    if exe is None:
        promtool()  # fails with the install hint
    result = subprocess.run(
        [str(exe), "check", "metrics"],
        input=body.decode(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_ok(result)


# --- the dashboard ------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from panels(item.get("panels", []))


def dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def variable_queries() -> dict[str, str]:
    return {v["name"]: v["query"]["query"] for v in dashboard()["templating"]["list"]}


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus would receive it from Grafana."""
    return (
        expr.replace("$__rate_interval", "2m")
        .replace("$__interval", "1m")
        .replace("$store", ".*")
        .replace("$terminal", ".*")
    )


def test_dashboard_has_the_datasource_input_and_store_variables() -> None:
    data = dashboard()
    assert [i["name"] for i in data["__inputs"]] == ["DS_PROMETHEUS"]
    assert variable_queries() == {
        "store": f'label_values(up{{job="{JOB}"}}, store)',
        "terminal": f'label_values(up{{job="{JOB}", store=~"$store"}}, terminal)',
    }
    sources = [p["datasource"] for p in panels(data["panels"]) if "datasource" in p]
    sources += [t["datasource"] for p in panels(data["panels"]) for t in p.get("targets", [])]
    sources += [v["datasource"] for v in data["templating"]["list"]]
    assert sources and all(s == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"} for s in sources)
    ids = [p["id"] for p in panels(data["panels"])]
    assert len(ids) == len(set(ids))


def test_dashboard_covers_the_fleet_views() -> None:
    used = set().union(*(promql_names(expr)[0] for _, expr in dashboard_exprs()))
    for wanted in (
        KNOWN
        - {"sidecar_http_request_duration_seconds_sum"}
        - {"sidecar_upstream_request_duration_seconds_sum"}
    ):
        assert wanted in used, f"no panel shows {wanted}"
    kinds = {p["type"] for p in panels(dashboard()["panels"])}
    assert {"state-timeline", "table"} <= kinds


def test_dashboard_uses_only_known_metrics_and_target_or_metric_labels() -> None:
    allowed = KNOWN | recorded()
    for title, expr in dashboard_exprs():
        metrics, labels = promql_names(expr)
        assert metrics, f"{title}: {expr!r} selects nothing"
        assert not metrics - allowed, f"{title}: unknown metric(s) {metrics - allowed}"
        assert not labels - ALLOWED_LABELS, f"{title}: groups or filters by {labels}"
        if "up" not in metrics and not metrics & recorded():
            # Every per-till query follows the store/terminal variables.
            assert 'store=~"$store"' in expr and 'terminal=~"$terminal"' in expr, title
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert legend <= ALLOWED_LABELS, f"{panel['title']}: legend names {legend}"
    for name, query in variable_queries().items():
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        assert match, name
        metrics, labels = promql_names(match.group(1))
        assert metrics == {"up"} and labels | {match.group(2)} <= TARGET_LABELS, name


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (as a recording rule of a scratch rule file)."""
    exprs = [as_promql(expr) for _, expr in dashboard_exprs()]
    for query in variable_queries().values():
        match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
        assert match, query
        exprs.append(as_promql(match.group(1)))
    scratch = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(scratch))
    output = assert_ok(promtool("check", "rules", str(path)))
    assert f"SUCCESS: {len(exprs)} rules found" in output, output
