"""Cold start of every handler against `import boto3`, measured in one run.

    python -m bench.cold_start [-n 7] [NAME ...]

For each function of the template: a fresh interpreter imports the handler module (`app`) the way the Lambda
runtime does (working directory = the function's code, the layer's `cataloop` on the path), with the
function's environment as the template resolves it (Globals merged, parameter defaults, placeholder resource
names) plus what Lambda itself sets, so the Powertools tracer is on and patches as in AWS. The floor is
`python -c "import boto3"` in the same environment, run alternately with the handler (floor, handler, floor,
handler, ...). Both are wall times of the whole process, interpreter start included; medians of n. The same
runs' CPU time (user + system of the child process) is reported beside them: on a loaded machine the wall
time also counts waiting for a CPU, the CPU time much less.

Writes bench/results/cold_start.json: {"handlers": {NAME: {"value", "floor", "ratio", "cpu_value",
"cpu_floor", "cpu_ratio", "n", "how"}}}; handlers not measured in this run keep their previous figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from resource import RUSAGE_CHILDREN, getrusage
from typing import Any

from bench.common import RESULTS, machine, print_table

ROOT = Path(__file__).resolve().parents[1]
RESULT = RESULTS / "cold_start.json"
TARGET_RATIO = 1.5
HANDLER_IMPORT = "import importlib; importlib.import_module({module!r})"
FLOOR_IMPORT = "import boto3"

# What the Lambda runtime sets for a function (placeholders: imports read them, nothing calls AWS).
LAMBDA_ENVIRONMENT = {
    "AWS_REGION": "ap-northeast-2",
    "AWS_DEFAULT_REGION": "ap-northeast-2",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "_X_AMZN_TRACE_ID": "",
}


def _placeholder_resource(logical_id: str, attribute: str | None) -> str:
    if attribute is None:
        return f"cataloop-bench-{logical_id}"
    if attribute == "Arn":
        return f"arn:aws:bench:ap-northeast-2:123456789012:{logical_id}"
    return f"cataloop-bench-{logical_id}-{attribute}"


def function_environments(root: Path = ROOT) -> dict[str, tuple[Path, str, dict[str, str]]]:
    """name (the code directory's) -> (code directory, handler module, environment), from template.yaml."""
    from local.emulator.cfn import IntrinsicResolver, load_template, merged_function_properties

    template = load_template(root / "template.yaml")
    resolver = IntrinsicResolver(template, _placeholder_resource)
    functions: dict[str, tuple[Path, str, dict[str, str]]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = merged_function_properties(template, resource.get("Properties", {}))
        code_dir = (root / str(properties["CodeUri"])).resolve()
        module = str(properties["Handler"]).rpartition(".")[0]
        variables = resolver.resolve(properties.get("Environment", {}).get("Variables", {}))
        environment = {key: str(value) for key, value in variables.items()}
        environment["AWS_LAMBDA_FUNCTION_NAME"] = f"cataloop-bench-{logical_id}"
        environment["LAMBDA_TASK_ROOT"] = str(code_dir)  # Powertools: "in Lambda", so the tracer is on
        functions[code_dir.name] = (code_dir, module, environment)
    return functions


def _process_environment(environment: dict[str, str], root: Path = ROOT) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "CATALOOP_", "_X_AMZN"))
        and key not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")  # the warm-up run writes the bytecode
    }
    return {**inherited, **LAMBDA_ENVIRONMENT, **environment, "PYTHONPATH": str(root / "layers" / "cataloop")}


def _children_cpu_ms() -> float:
    usage = getrusage(RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _run_ms(code: str, cwd: Path, environment: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one fresh interpreter running `code`."""
    cpu_before = _children_cpu_ms()
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"{code!r} in {cwd} failed:\n{completed.stderr[-2000:]}")
    return elapsed, _children_cpu_ms() - cpu_before


def measure(
    name: str, code_dir: Path, module: str, environment: dict[str, str], n: int, root: Path = ROOT
) -> dict[str, Any]:
    env = _process_environment(environment, root)
    handler_code = HANDLER_IMPORT.format(module=module)
    _run_ms(handler_code, code_dir, env)  # warm the file cache and the bytecode cache, as a deployed layer is
    _run_ms(FLOOR_IMPORT, code_dir, env)
    values, floors = [], []
    for _ in range(n):
        floors.append(_run_ms(FLOOR_IMPORT, code_dir, env))
        values.append(_run_ms(handler_code, code_dir, env))
    value, floor = statistics.median(v[0] for v in values), statistics.median(f[0] for f in floors)
    cpu_value, cpu_floor = statistics.median(v[1] for v in values), statistics.median(f[1] for f in floors)
    return {
        "value": round(value, 1),
        "floor": round(floor, 1),
        "ratio": round(value / floor, 2),
        "cpu_value": round(cpu_value, 1),
        "cpu_floor": round(cpu_floor, 1),
        "cpu_ratio": round(cpu_value / cpu_floor, 2),
        "n": n,
        "how": (
            f"median wall ms of a fresh `python -c 'import {module}'` in functions/{name} with its template "
            "environment and Lambda's (tracer on), vs `python -c 'import boto3'` run alternately in the same "
            "environment; interpreter start included in both; cpu_*: the same runs' user + system CPU time"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=7, help="runs per handler and per floor (median)")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="measure another tree (e.g. `git archive HEAD` unpacked)"
    )
    parser.add_argument("--out", type=Path, default=RESULT, help="result file (default bench/results/)")
    parser.add_argument("names", nargs="*", help="functions/<name> to measure (all when none)")
    args = parser.parse_args(argv)
    functions = function_environments(args.root.resolve())
    unknown = sorted(set(args.names) - set(functions))
    if unknown:
        parser.error(f"unknown functions: {', '.join(unknown)} (known: {', '.join(sorted(functions))})")
    previous = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    handlers: dict[str, Any] = dict(previous.get("handlers", {}))
    for name in args.names or sorted(functions):
        code_dir, module, environment = functions[name]
        handlers[name] = measure(name, code_dir, module, environment, args.n, args.root.resolve())
        figure = handlers[name]
        print(
            f"{name:<16} {figure['value']:>7.1f} ms  floor {figure['floor']:>6.1f} ms  {figure['ratio']:.2f}x"
            f"  | cpu {figure['cpu_value']:>7.1f} ms  floor {figure['cpu_floor']:>6.1f} ms  {figure['cpu_ratio']:.2f}x"
        )
    payload = {
        "benchmark": "cold_start",
        "machine": machine(),
        "target_ratio": TARGET_RATIO,
        "handlers": dict(sorted(handlers.items())),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    worst = max(handlers.items(), key=lambda item: item[1]["ratio"])
    print_table("cold start", [("worst", f"{worst[0]} {worst[1]['ratio']}x"), ("written", str(args.out))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
