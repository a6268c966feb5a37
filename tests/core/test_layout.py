"""The package's import rule: stage modules never import each other, nothing below the stages imports them, and
there is no import cycle, imports inside functions included."""
import ast
from pathlib import Path

from aitranscribe.core.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "lib" / "aitranscribe"


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str], root: Path = PACKAGE) -> set[str]:
    """Kit modules ``path`` imports anywhere in its body (module level or inside functions)."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules) for p in paths}
    # importing a module imports its packages' __init__ too, which is not a dependency of the module's own code
    return {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_stage_modules_never_import_each_other_and_nothing_below_imports_them():
    graph = _graph()
    stages = {m for m in graph if m.startswith("aitranscribe.stages.")}
    assert len(stages) == 7
    offending = sorted((m, t) for m, targets in graph.items() for t in targets
                       if t in stages and m != "aitranscribe.stages")
    assert offending == []


def test_the_rule_catches_a_function_level_import(tmp_path):
    """The check is not vacuous: a cycle hidden in a function is found."""
    graph = {"a": {"b"}, "b": set()}
    assert _cycles(graph) == []
    graph["b"].add("a")
    assert _cycles(graph) == [["a", "b"]]
    source = PACKAGE / "core" / "files.py"
    probe = tmp_path / "lib" / "aitranscribe" / "core"
    probe.mkdir(parents=True)
    (probe / "files.py").write_text(source.read_text() + "\n\ndef late():\n    from ..stages import train\n")
    names = {"aitranscribe.core.files", "aitranscribe.stages.train", "aitranscribe.stages", "aitranscribe.core",
             "aitranscribe"}
    assert "aitranscribe.stages.train" in _imports(probe / "files.py", names, tmp_path / "lib" / "aitranscribe")


# Packages (and modules at the package's root) by floor, lowest first: a package imports only from lower floors
# (and from itself). Two packages on one floor never import each other.
FLOORS = (
    ("core",),
    ("io", "text", "scale"),
    ("features",),
    ("sources",),
    ("decoding",),
    ("models",),
    ("backends",),
    ("transcription",),
    ("evaluation",),
    ("benchmarking",),
    ("plots",),
    ("stages",),
    ("pipeline",),
    ("results_doc",),
)
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def _package(module: str) -> str:
    """``aitranscribe.<package>[.…]`` -> ``<package>`` (the kit's own ``__init__`` is ``aitranscribe``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "aitranscribe"


def _upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((m, t) for m, targets in graph.items() for t in targets
                  if _package(m) != _package(t) and _package(m) != "aitranscribe"
                  and FLOOR[_package(m)] <= FLOOR[_package(t)])


def test_every_package_has_a_floor():
    assert {_package(m) for m in _graph()} - {"aitranscribe"} == set(FLOOR)


def test_no_import_runs_upward_or_sideways_between_packages():
    assert _upward(_graph()) == []


def test_the_floor_rule_catches_an_upward_import():
    graph = {"aitranscribe.models.base": {"aitranscribe.transcription.transcribe"},
             "aitranscribe.io.audio": {"aitranscribe.text.phones"}, "aitranscribe.stages.train": {"aitranscribe.core"}}
    assert _upward(graph) == [("aitranscribe.io.audio", "aitranscribe.text.phones"),
                              ("aitranscribe.models.base", "aitranscribe.transcription.transcribe")]
