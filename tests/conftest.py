"""Shared fixtures: real services on free loopback ports, started once per session.

A missing component fails the run with an install hint (devstack.procs.MissingComponentError);
nothing here skips, and the hooks below turn any skip or xfail elsewhere into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from devstack.azurite import Azurite, start_azurite
from devstack.githttp import GitOrigin, start_git_origin
from devstack.github_fake import GitHubFake, start_github_fake
from devstack.openapi_check import describe
from devstack.procs import ROOT
from devstack.registry import Registry, start_registry

# Subprocesses started by tests (python -m modelstore, python -m app, ...) import the packages
# from this checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)


# The project's rule: a missing real part (a binary, a service, a package) is a failure,
# never a skip. A skip or an xfail reads as green in a summary and hides that CI did not test
# something, so any test or module that skips or is marked xfail fails the run instead.
_NO_SKIPS = "skips and xfails fail this suite: a missing real part is a failure, never a skip"


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    if hasattr(report, "wasxfail"):
        return f"marked xfail: {report.wasxfail}" if report.wasxfail else "marked xfail"
    longrepr = report.longrepr  # a skip's is (file, line, reason)
    return f"skipped: {longrepr[2] if isinstance(longrepr, tuple) else longrepr}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped or hasattr(report, "wasxfail"):
        report.longrepr = f"{item.nodeid}: {_reason(report)} ({_NO_SKIPS})"
        report.outcome = "failed"
        if hasattr(report, "wasxfail"):
            del report.wasxfail  # else the terminal still counts it as xfailed/xpassed
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report() -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped:  # pytest.skip(allow_module_level=True), importorskip
        report.longrepr = f"{report.nodeid}: {_reason(report)} ({_NO_SKIPS})"
        report.outcome = "failed"
    return report


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as service:
        yield service


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    with start_registry() as service:
        yield service


@pytest.fixture(scope="session")
def registry_basic_auth() -> Iterator[Registry]:
    with start_registry(username="pusher", password="s3cret-pass") as service:
        yield service


@pytest.fixture(scope="session")
def git_origin() -> Iterator[GitOrigin]:
    with start_git_origin() as service:
        yield service


@pytest.fixture(scope="session")
def forge(git_origin: GitOrigin) -> Iterator[GitHubFake]:
    """The GitHub API fake, over the same bare repositories the git origin serves."""
    with start_github_fake(git_origin.root) as service:
        yield service
        # Every exchange of the session, held to GitHub's OpenAPI description.
        violations = service.violations()
        assert not violations, describe(violations)


@pytest.fixture
def blob_container(azurite: Azurite, request: pytest.FixtureRequest) -> str:
    """A fresh container name per test, so tests sharing one Azurite do not collide."""
    import re
    import uuid

    slug = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[:40]
    return f"t{slug}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("examples")
