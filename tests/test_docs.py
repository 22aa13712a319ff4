"""Docs that cannot rot: every command, endpoint and setting is documented."""

from __future__ import annotations

import re

from pydantic import BaseModel

import escalade.domain.policy as models
from conftest import ROOT
from escalade.api.health import render as render_metrics
from escalade.app import create_app
from escalade.engine.backlog import Backlog
from escalade.settings import Settings
from support.clidoc import render
from support.routes import app_routes

DOCS = ROOT / "docs"


def test_cli_reference_is_generated_from_the_commands() -> None:
    assert (DOCS / "cli.md").read_text() == render(), "run `make docs`"


def test_every_endpoint_is_in_the_api_guide(tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = ROOT / "examples/policies/demo.yaml"
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/d.db", policy=policy))
    guide = (DOCS / "api.md").read_text()
    routes = app_routes(app)
    assert ("POST", "/v1/signals") in routes  # the table really is flattened
    for method, path in routes:
        if path.startswith(("/docs", "/redoc", "/openapi")):
            continue
        assert f"{method} {path}" in guide, f"{method} {path} missing from docs/api.md"
    app.state.escalade.close()


def test_every_setting_is_in_the_configuration_guide() -> None:
    source = "".join(
        (ROOT / "src/escalade" / name).read_text() for name in ("settings.py", "engine/tuning.py")
    )
    guide = (DOCS / "configuration.md").read_text()
    for name in set(re.findall(r'"(ESCALADE_[A-Z_]+)"', source)):
        assert name in guide, f"{name} missing from docs/configuration.md"


def test_every_metric_is_in_the_api_and_operations_guides() -> None:
    exported = render_metrics(
        Backlog(0, 0, 0.0, 0, 0.0, {"pending": 0}, 0.0, {"alive": 0}),
    )
    names = set(re.findall(r"^# TYPE (escalade_\w+)", exported, re.MULTILINE))
    assert "escalade_timers_overdue_seconds" in names  # the pattern really reads them
    for guide in ("api.md", "operations.md"):
        text = (DOCS / guide).read_text()
        for name in names:
            assert name in text, f"{name} missing from docs/{guide}"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to missing {target}"


def test_every_policy_key_is_in_the_policy_guide() -> None:
    guide = (DOCS / "policy.md").read_text()
    keys = {
        field.alias or name
        for model in vars(models).values()
        if isinstance(model, type) and issubclass(model, BaseModel) and model is not BaseModel
        for name, field in model.model_fields.items()
    }
    missing = sorted(k for k in keys if not re.search(rf"\b{re.escape(k)}\b", guide))
    assert missing == [], f"keys missing from docs/policy.md: {missing}"


def test_the_agent_in_the_reviews_guide_is_the_tested_example() -> None:
    # tests/process/test_reviews_process.py runs examples/agent.py against a real server.
    agent = (ROOT / "examples/agent.py").read_text()
    assert f"```python\n{agent}```" in (DOCS / "reviews.md").read_text(), "copy examples/agent.py"


def _anchors(doc: str) -> set[str]:
    """GitHub's anchors for a doc's headings: lower case, punctuation gone, '-' for ' '."""
    headings = re.findall(r"^#+ (.+)$", (DOCS / doc).read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_integrations_guide_links_resolve() -> None:
    guide = (DOCS / "integrations.md").read_text()
    links = re.findall(r"\]\(([\w./-]*)#([\w-]+)\)", guide)
    outbound = {target for target, _ in links}
    assert {"channels.md", "webhooks.md"} <= outbound  # the Outbound section is there
    for target, anchor in links:
        doc = target or "integrations.md"
        assert anchor in _anchors(doc), f"integrations.md links to missing {doc}#{anchor}"
