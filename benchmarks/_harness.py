"""Shared benchmark plumbing: one-core environment, timing, JAX compile timing, machine info, tables.

The method follows ../shared/peers-baseline.md. Call `setup_env()` before anything imports numpy, jax
or torch: it pins the process to ONE core, sets the single-thread variables read when those libraries
load, and unsets the image's OpenBLAS core-type overrides so numpy/scipy use their best kernel.
This module imports nothing heavy at the top for that reason.
"""
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_DIR = HERE / "results"

XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def setup_env(core: int | None = None) -> int:
    """Pin to one core (core 1 when allowed, as in the baseline) and set one-thread env; returns the core."""
    allowed = sorted(os.sched_getaffinity(0))
    if core is None:
        core = 1 if 1 in allowed else allowed[-1]
    os.sched_setaffinity(0, {core})
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " " + XLA_ONE_THREAD).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(var, None)
    return core


def setup_jax():
    """Import jax with float64 on (after `setup_env`)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


def setup_torch():
    """Import torch with one intra-op and one inter-op thread and float64 default; None if missing."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:      # already set (it may only be set once per process)
        pass
    torch.set_default_dtype(torch.float64)
    return torch


# --- timing -------------------------------------------------------------------------------------------

class Timing(NamedTuple):
    median: float     # seconds per call
    min: float
    max: float
    cpu: float        # median process CPU seconds per call
    inner: int        # calls per sample
    samples: int
    result: Any       # what the warm-up call returned


def time_call(fn: Callable[[], Any], repeats: int = 7, min_sample: float = 0.1, warmup: int = 1) -> Timing:
    """Time ``fn()`` (which must block until its result is ready): warm-up, then ``repeats`` samples.

    A call shorter than ``min_sample`` seconds is repeated inside each sample and the sample divided.
    """
    result = None
    for _ in range(max(warmup, 1)):
        result = fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    inner = 1 if once >= min_sample else max(1, math.ceil(min_sample / max(once, 1e-9)))
    walls, cpus = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(inner):
            fn()
        walls.append((time.perf_counter() - w0) / inner)
        cpus.append((time.process_time() - c0) / inner)
    return Timing(statistics.median(walls), min(walls), max(walls), statistics.median(cpus), inner,
                  repeats, result)


def paired_ratio(fn_a: Callable[[], Any], fn_b: Callable[[], Any], rounds: int = 15,
                 min_sample: float = 0.05) -> tuple[float, float, float]:
    """time(b) / time(a) measured in alternating samples a, b, a, b, ... so both see the same machine state.

    On a shared virtual machine the speed drifts by tens of percent between seconds; interleaving makes
    the ratio robust to that. Returns (median, lower quartile, upper quartile) of the per-round ratios.
    """
    inner = []
    for fn in (fn_a, fn_b):
        fn()
        start = time.perf_counter()
        fn()
        inner.append(max(1, math.ceil(min_sample / max(time.perf_counter() - start, 1e-9))))
    ratios = []
    for _ in range(rounds):
        sample = []
        for fn, n in zip((fn_a, fn_b), inner):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            sample.append((time.perf_counter() - start) / n)
        ratios.append(sample[1] / sample[0])
    q = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), q[0], q[2]


def jax_compile_times(fn, *args):
    """Trace (``jax.jit(fn).lower``) and compile (``.compile()``) separately: (trace_s, compile_s, compiled)."""
    import jax
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    trace = time.perf_counter() - start
    start = time.perf_counter()
    compiled = lowered.compile()
    return trace, time.perf_counter() - start, compiled


# --- machine and versions -----------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def load_average() -> float:
    return os.getloadavg()[0]


def versions(names) -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info(packages) -> dict:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "pinned_to": sorted(os.sched_getaffinity(0)),
        "platform": platform.platform(), "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(packages),
    }


def machine_markdown(info: dict, load_range=None) -> str:
    vers = ", ".join(f"{k}=={v}" for k, v in info["versions"].items())
    load = info["load_average"][0] if load_range is None else f"{load_range[0]:.2f}–{load_range[1]:.2f}"
    return (f"- Date: {info['date']}\n"
            f"- CPU: {info['cpu']}, {info['cores']} cores, process pinned to core(s) {info['pinned_to']}; "
            f"{info['platform']}; Python {info['python']}\n"
            f"- Load average (1 min) during the run: {load} (1.0 = our own process alone)\n"
            f"- Versions: {vers}\n")


# --- output -------------------------------------------------------------------------------------------

def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}"


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_section(heading: str, body: str, path: Path = RESULTS_MD) -> None:
    """Put ``## heading`` + body into RESULTS.md, replacing that section if it is already there."""
    title = f"## {heading}"
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    section = f"{title}\n\n{body.rstrip()}\n\n"
    if start is None:
        text = text.rstrip() + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        text = "".join(lines[:start]) + section + "".join(lines[end:])
    path.write_text(text.rstrip() + "\n")


def write_jsonl(name: str, meta: dict, rows, mode: str = "w") -> Path:
    """Raw rows of the latest run to results/<name>.jsonl; the first line is the run's metadata. ``mode="a"``
    appends instead (see `append_jsonl`)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.jsonl"
    with path.open(mode) as fh:
        fh.write(json.dumps({"meta": meta}) + "\n")
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def append_jsonl(name: str, meta: dict, rows) -> Path:
    """Like write_jsonl, but appended to results/<name>.jsonl: runs accumulate, each led by its metadata line."""
    return write_jsonl(name, meta, rows, mode="a")


def time_cell(row) -> str:
    """'median [min–max]' in ms for a result row (keys median_s, min_s, max_s)."""
    return f"{fmt(row['median_s'] * 1e3)} [{fmt(row['min_s'] * 1e3)}–{fmt(row['max_s'] * 1e3)}]"


def compile_cell(row) -> str:
    """'trace + compile' seconds for a JAX row, '–' for the others."""
    return "–" if row["trace_s"] is None else f"{row['trace_s']:.2f} + {row['compile_s']:.2f}"
