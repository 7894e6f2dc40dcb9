"""MkDocs hook: make the figures (docs/figures.py) and add them to the site as figures/*.png.

The figures are cached under .cache/docs-figures/<key>, keyed on the figure script, the benchmark data and the
library's source, so `mkdocs serve` and repeated builds do not redo the solves. They are made in a subprocess,
so the build process itself never imports JAX.
"""
import hashlib
import os
import pathlib
import subprocess
import sys

from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "docs-figures"


def _key():
    h = hashlib.sha256()
    sources = [ROOT / "docs" / "figures.py", *sorted((ROOT / "benchmarks" / "results").glob("*.jsonl")),
               *sorted((ROOT / "src").rglob("*.py"))]
    for path in sources:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _figures():
    out = CACHE / _key()
    done = out / ".done"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
                   MPLBACKEND="Agg")
        subprocess.run([sys.executable, str(ROOT / "docs" / "figures.py"), str(out)], check=True, env=env, cwd=ROOT)
        done.touch()
    return sorted(out.glob("*.png"))


def on_files(files, config):
    for path in _figures():
        files.append(File.generated(config, f"figures/{path.name}", abs_src_path=str(path)))
    return files
