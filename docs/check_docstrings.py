"""List the public names whose docstrings are missing or incomplete (the API reference is generated from them).

Public names: `pysciml.__all__` and the `__all__` of the subpackages `nn`, `ude`, `sindy`, `pinn`, `optim` and
`testing` (and any others listed in SUBPACKAGES that exist), plus the public methods of public classes. A docstring
is complete when it says what the object does, names every parameter of its signature (for a class, the
constructor's), and — for functions and methods — says what is returned.

The check is textual (a parameter counts as documented when its name appears in the docstring as a word), so it
finds omissions, not bad prose. Run: python docs/check_docstrings.py  (exit status 0 always; --strict: 1 when
something is listed).

The gaps known today are listed in docs/docstring_gaps.txt, an allow-list that may only shrink:
tests/test_docs.py fails on a gap not in it (document the new name) and on a line of it that is no longer a gap
(remove the line: `python docs/check_docstrings.py --write-allowlist` rewrites the file from the current gaps).
"""
import dataclasses
import pathlib
import enum
import importlib
import inspect
import re
import sys

SUBPACKAGES = ("nn", "ude", "sindy", "pinn", "optim", "testing", "nlme", "bayes", "modeling")
ALLOWLIST = pathlib.Path(__file__).with_name("docstring_gaps.txt")
RETURNS = re.compile(r"\b(return|returns|returned|returning|yields|gives)\b|->", re.I)


def _own_doc(obj):
    doc = obj.__doc__ if isinstance(obj.__doc__, str) else None
    if doc is None:
        return ""
    doc = inspect.cleandoc(doc)
    # dataclasses and NamedTuples generate "Name(field, ...)" when no docstring is written
    if inspect.isclass(obj) and re.match(rf"^{re.escape(obj.__name__)}\(", doc):
        return ""
    return doc


def _params(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [name for name, prm in sig.parameters.items()
            if name not in ("self", "cls") and prm.kind not in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD)]


def problems(obj, kind):
    """What is missing from obj's docstring, as a list of short phrases."""
    doc = _own_doc(obj)
    if inspect.isclass(obj) and not doc:
        return ["no docstring"]
    if not doc:
        return ["no docstring"]
    found = []
    text = doc
    if inspect.isclass(obj):
        init = obj.__dict__.get("__init__")
        if init is not None and _own_doc(init):
            text += "\n" + _own_doc(init)
        # an Enum's signature is the functional API's (value, names, ...), not something users call
        params = [] if issubclass(obj, enum.Enum) else _params(obj)
    else:
        params = _params(obj)
    missing = [p for p in params if not re.search(rf"(?<![\w.]){re.escape(p)}(?!\w)", text)]
    if missing:
        found.append("parameters not described: " + ", ".join(missing))
    if kind in ("function", "method") and not RETURNS.search(doc):
        found.append("return value not described")
    return found


def public_names():
    import pysciml
    yield "pysciml", pysciml, list(pysciml.__all__)
    for sub in SUBPACKAGES:
        try:
            module = importlib.import_module(f"pysciml.{sub}")
        except ImportError:
            continue
        yield f"pysciml.{sub}", module, list(getattr(module, "__all__", []))


def report():
    lines, seen = [], set()
    for prefix, module, names in public_names():
        for name in names:
            obj = getattr(module, name, None)
            if obj is None:
                lines.append(f"{prefix}.{name}: listed in __all__ but missing")
                continue
            if inspect.isclass(obj):
                kind = "class"
            elif callable(obj):
                kind = "function"
            else:
                continue  # constants (tables, reference values) are described where they are used
            key = (id(obj), prefix)
            if key in seen:
                continue
            seen.add(key)
            for p in problems(obj, kind):
                lines.append(f"{prefix}.{name}: {p}")
            if kind == "class" and not issubclass(obj, BaseException):
                fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or attr in fields or not inspect.isfunction(member):
                        continue
                    if attr in ("tree_flatten", "tree_unflatten"):
                        continue  # pytree protocol
                    for p in problems(member, "method"):
                        lines.append(f"{prefix}.{name}.{attr}: {p}")
    return lines


def allowed():
    """The lines of the allow-list (docs/docstring_gaps.txt), without comments and blank lines."""
    lines = ALLOWLIST.read_text().splitlines() if ALLOWLIST.exists() else []
    return [line for line in lines if line.strip() and not line.startswith("#")]


if __name__ == "__main__":
    found = report()
    if "--write-allowlist" in sys.argv:
        ALLOWLIST.write_text("# Public names whose docstrings are still incomplete (docs/check_docstrings.py).\n"
                             "# This list may only shrink: document a name, then delete its line.\n"
                             + "".join(line + "\n" for line in found))
    print("\n".join(found))
    print(f"\n{len(found)} docstring problems", file=sys.stderr)
    sys.exit(1 if found and "--strict" in sys.argv else 0)
