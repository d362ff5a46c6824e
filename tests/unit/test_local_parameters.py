"""The local cloud is configured like a deployment: template parameters, and each function's own
environment seen by its thread only (no process-wide mutation per invoke)."""

from __future__ import annotations

import os
import threading

import pytest

from cataloop_local.cli.common import parse_parameter_overrides
from cataloop_local.cli.main import split_parameter_overrides
from cataloop_local.emulator.cfn import TemplateError, check_parameter_overrides, load_template
from cataloop_local.emulator.lambdas import applied_environment, install_function_environments
from tests.conftest import TEMPLATE


def test_overrides_are_checked_like_cloudformation_does() -> None:
    template = load_template(TEMPLATE)
    assert check_parameter_overrides(template, {"DeploymentMode": "learn_then_deploy"}) == {
        "DeploymentMode": "learn_then_deploy"
    }
    with pytest.raises(TemplateError, match="DeploymentMode='sometimes': allowed values are"):
        check_parameter_overrides(template, {"DeploymentMode": "sometimes"})
    with pytest.raises(TemplateError, match="Nope: no such parameter"):
        check_parameter_overrides(template, {"Nope": "1"})
    with pytest.raises(TemplateError, match="AuditSampleRate='2': does not match"):
        check_parameter_overrides(template, {"AuditSampleRate": "2"})
    with pytest.raises(TemplateError, match="LearningTokenBudget=-1: below MinValue"):
        check_parameter_overrides(template, {"LearningTokenBudget": "-1"})


def test_the_cli_takes_overrides_before_or_after_the_command() -> None:
    words, overrides = split_parameter_overrides(
        ["--parameter-overrides", "DeploymentMode=learn_then_deploy", "demo", "--products", "20"]
    )
    assert words == ["demo", "--products", "20"]
    assert parse_parameter_overrides(overrides) == {"DeploymentMode": "learn_then_deploy"}
    words, overrides = split_parameter_overrides(["search", "x", "--parameter-overrides", "A=1", "B=2"])
    assert words == ["search", "x"] and parse_parameter_overrides(overrides) == {"A": "1", "B": "2"}
    assert parse_parameter_overrides(["ParameterKey=A,ParameterValue=x=y"]) == {"A": "x=y"}
    with pytest.raises(SystemExit):
        split_parameter_overrides(["--parameter-overrides", "demo"])


@pytest.mark.probe("concurrency")
def test_a_function_environment_is_seen_by_its_thread_only() -> None:
    environment = install_function_environments()
    assert os.environ is environment
    with applied_environment({"CATALOOP_TEST_ONLY": "inside"}):
        assert os.environ["CATALOOP_TEST_ONLY"] == "inside"
        assert os.getenv("CATALOOP_TEST_ONLY") == "inside"
        assert os.environ.copy()["CATALOOP_TEST_ONLY"] == "inside"
        seen_elsewhere: list[str | None] = []
        thread = threading.Thread(target=lambda: seen_elsewhere.append(os.environ.get("CATALOOP_TEST_ONLY")))
        thread.start()
        thread.join()
        assert seen_elsewhere == [None]
    assert "CATALOOP_TEST_ONLY" not in os.environ


@pytest.mark.probe("concurrency")
def test_invokes_on_other_threads_never_make_a_variable_vanish() -> None:
    """The race behind ~1% of failed local executions: botocore copies os.environ while another thread's
    invoke sets and removes its variables. With per-thread environments the copy is always whole."""
    install_function_environments()
    os.environ["CATALOOP_TEST_STAGE"] = "dev"
    stop = threading.Event()
    errors: list[BaseException] = []

    def invoker() -> None:
        while not stop.is_set():
            with applied_environment({"CATALOOP_TEST_STAGE": "dev", "CATALOOP_TEST_FUNCTION_ONLY": "t"}):
                pass

    def reader() -> None:
        try:
            for _ in range(20000):
                copied = os.environ.copy()  # what botocore does; it raised KeyError mid-copy before
                assert copied["CATALOOP_TEST_STAGE"] == "dev"
                assert "CATALOOP_TEST_FUNCTION_ONLY" not in copied
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=invoker) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        reader()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        del os.environ["CATALOOP_TEST_STAGE"]
    assert errors == []
