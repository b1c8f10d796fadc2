"""The package's import structure: no import cycle inside wombet_jax, the method never imports
the run harness, neither the scripts nor the tests edit sys.path, and only the tests import
experiments (it is not installed: a script run from the checkout against a built wheel has
only wombet_jax). Every import statement counts, including those inside functions."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules(package: str) -> dict[str, str]:
  """Dotted module name -> file, for every .py file under ROOT/package."""
  out = {}
  for folder, _, files in os.walk(os.path.join(ROOT, package)):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        out[dotted.removesuffix(".__init__")] = path
  return out


def _imports(module: str, path: str, known: set[str]) -> set[str]:
  """The modules of `known` that `module` imports. `from pkg import sub` is an import of
  pkg.sub (the package itself is already initialising when its submodules run)."""
  package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
  found = set()
  for node in ast.walk(ast.parse(open(path).read(), path)):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
      subs = {f"{base}.{a.name}" for a in node.names} & known
      found.update(subs)
      if len(subs) < len(node.names):
        found.add(base)
  return (found & known) - {module}


def _graph() -> dict[str, set[str]]:
  mods = _modules("wombet_jax")
  return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import cycle of `graph` (as a path that ends where it starts), or None."""
  state: dict[str, int] = {}  # 1: on the current path, 2: done
  path: list[str] = []

  def visit(u):
    state[u] = 1
    path.append(u)
    for v in sorted(graph[u]):
      if state.get(v) == 1:
        return path[path.index(v):] + [v]
      if v not in state and (found := visit(v)):
        return found
    path.pop()
    state[u] = 2
    return None

  for m in sorted(graph):
    if m not in state and (found := visit(m)):
      return found
  return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_chain():
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_are_read_from_every_statement(tmp_path):
  src = tmp_path / "m.py"
  src.write_text("import p.a\nfrom p import b\nfrom . import c\ndef f():\n  from .d import x\n")
  known = {"p", "p.a", "p.b", "p.c", "p.d"}
  assert _imports("p.m", str(src), known) == {"p.a", "p.b", "p.c", "p.d"}


def test_no_import_cycle_in_the_package():
  graph = _graph()
  assert "wombet_jax.harness.runner" in graph and "wombet_jax.loop" in graph
  assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_method_never_imports_the_harness():
  graph = _graph()
  harness = "wombet_jax.harness"
  edges = sorted((m, n) for m, ns in graph.items() for n in ns
                 if not m.startswith(harness) and n.startswith(harness))
  assert edges == []
  assert any(n.startswith(harness) for n in graph[harness + ".runner"])  # the check can see


def test_no_script_or_test_edits_sys_path():
  offenders = []
  for package in ("experiments", "tests"):
    for module, path in _modules(package).items():
      for node in ast.walk(ast.parse(open(path).read(), path)):
        if (isinstance(node, ast.Attribute) and node.attr == "path"
            and isinstance(node.value, ast.Name) and node.value.id == "sys"):
          offenders.append(module)
  assert offenders == []


def test_only_the_tests_import_experiments():
  """The scripts and the package import nothing from experiments/, which a wheel lacks (the
  configs and the reference table they use are package data of wombet_jax)."""
  offenders = []
  for package in ("experiments", "wombet_jax"):
    for module, path in _modules(package).items():
      for node in ast.walk(ast.parse(open(path).read(), path)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        offenders += [(module, n) for n in names if n.split(".")[0] == "experiments"]
  assert offenders == []
  assert _modules("wombet_jax")["wombet_jax.configs.smoke"]  # the configs are in the package
