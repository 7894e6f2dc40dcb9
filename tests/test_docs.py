"""The documentation cannot rot: every ```python block in docs/ runs (the blocks of one page in order, in one
fresh process forked from a warm interpreter (tests/warm.py), so later blocks see earlier names), and the site builds with `mkdocs build --strict`
(broken links, missing API names and docstring warnings are errors).

A block that must not run is preceded by the line ``<!-- docs-test: skip -->`` (keep these rare: installation
commands are ```bash blocks and are not run anyway)."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from warm import run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_MARK = "<!-- docs-test: skip -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
# pages whose blocks take more than ~30 s on one busy core (training loops); they still run in CI
SLOW_PAGES = {"getting-started/first-ude.md", "tutorials/ode-methods.md", "tutorials/sensitivity.md", "tutorials/ude-sindy.md",
              "tutorials/pinns.md", "tutorials/delay.md", "tutorials/ensembles.md", "tutorials/sdes.md",
              "tutorials/nlme.md", "tutorials/bayes.md", "tutorials/shadowing.md"}


def python_blocks(text):
    """The ```python blocks of a Markdown page, in order, dedented, without those marked to skip."""
    blocks = []
    for m in FENCE.finditer(text):
        if m.group("info").strip().split(" ")[0] not in ("python", "py"):
            continue
        before = text[:m.start()].rstrip().splitlines()
        if before and before[-1].strip() == SKIP_MARK:
            continue
        indent = m.group("indent")
        blocks.append("\n".join(line[len(indent):] if line.startswith(indent) else line
                                for line in m.group("body").splitlines()))
    return blocks


def pages(tutorials):
    """The pages with python blocks: the tutorials (tests/test_docs_tutorials.py) or all the others (here);
    two files (with `--dist loadgroup` each page is its own group: see tests/conftest.py SPLIT_FILES)."""
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    pages = [p for p in pages if p.startswith("tutorials/") == tutorials]
    return [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PAGES else p
            for p in pages if python_blocks((DOCS / p).read_text())]


def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
                MPLBACKEND="Agg", NO_MKDOCS_2_WARNING="1")


def test_fence_parser_finds_blocks_and_honours_the_skip_mark():
    text = ("# t\n\n```python\na = 1\n```\n\n```bash\nmake docs\n```\n\n" + SKIP_MARK +
            "\n```python\nraise SystemExit(1)\n```\n\n!!! note\n    ```python\n    b = a + 1\n    ```\n")
    assert python_blocks(text) == ["a = 1", "b = a + 1"]


def run_page(page, tmp_path):
    blocks = python_blocks((DOCS / page).read_text())
    # each block starts with a marker line so a traceback names the block that failed
    script = "\n".join(f"# --- {page}: block {i + 1}\n{block}\n" for i, block in enumerate(blocks))
    (tmp_path / "page.py").write_text(script)
    done = run_script(tmp_path / "page.py", cwd=tmp_path, timeout=900)
    assert done.returncode == 0, f"{page} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"


@pytest.mark.parametrize("page", pages(tutorials=False))
def test_code_blocks_run(page, tmp_path):
    run_page(page, tmp_path)


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-6000:]
    site = tmp_path / "site"
    for page in ("index.html", "api/solve/index.html", "benchmarks/index.html", "figures/stiff_work_precision.png"):
        assert (site / page).exists(), page
    # the benchmarks page is RESULTS.md itself, included at build time
    assert "benchmarks/nonstiff.py" in (site / "benchmarks" / "index.html").read_text()


def test_docstring_checker_flags_what_is_missing():
    sys.path.insert(0, str(DOCS))
    try:
        from check_docstrings import problems
    finally:
        sys.path.remove(str(DOCS))

    def complete(u, rtol=1e-3):
        """Scale ``u`` by ``rtol``; returns the scaled array."""

    def incomplete(u, rtol=1e-3):
        """Scale u."""

    def bare(u):
        pass

    assert problems(complete, "function") == []
    assert problems(incomplete, "function") == ["parameters not described: rtol", "return value not described"]
    assert problems(bare, "function") == ["no docstring"]


def test_no_new_docstring_gaps():
    """The API reference is generated from the docstrings: a public name added without one (or a parameter
    added without a word about it) fails here; so does a gap that was closed but is still allow-listed, so the
    list in docs/docstring_gaps.txt only shrinks."""
    sys.path.insert(0, str(DOCS))
    try:
        import check_docstrings
    finally:
        sys.path.remove(str(DOCS))
    found, allowed = check_docstrings.report(), check_docstrings.allowed()
    checked = {prefix for prefix, _, _ in check_docstrings.public_names()}   # an optional extra may be missing

    def prefix(line):
        parts = line.split(":")[0].split(".")
        return ".".join(parts[:2]) if parts[1] in check_docstrings.SUBPACKAGES else "pysciml"
    new = sorted(set(found) - set(allowed))
    closed = sorted(line for line in set(allowed) - set(found) if prefix(line) in checked)
    assert not new, ("public names without a complete docstring (say what it does, each parameter, what it "
                     "returns):\n" + "\n".join(new))
    assert not closed, ("these gaps are closed: delete their lines from docs/docstring_gaps.txt (or run "
                        "python docs/check_docstrings.py --write-allowlist):\n" + "\n".join(closed))
