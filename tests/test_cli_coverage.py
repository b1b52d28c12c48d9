"""Every command and every documented flag is invoked by at least one test.

What must be covered comes from the Typer app itself (``typer.main.get_command``): each command, and
for each command every option it shows in ``--help`` (``--help`` included; a yes/no pair such as
``--barge-in/--no-barge-in`` counts as two flags, since each half does something different; a
short alias such as ``-o`` counts as its option). A flag added to ``config.Settings`` appears here
at once, and this test fails until a test runs it.

What is covered is read from the tests' source with ``ast``, not from what a test says about itself:
the arguments of the calls that run the program, i.e. ``voicecli(...)``, ``spawn(...)`` and
``invoke(...)`` from ``tests/clirun.py``, ``runner.invoke(app, [...])``, ``start_talk(...)`` and
``speak_over_the_reply(...)`` (the audio tests' ``talk``), and any list literal holding ``"-m",
"voicecli", ...``. String constants there are the command line; a name is followed to the list
assigned to it in the same function, or to the values ``@pytest.mark.parametrize`` gives it. Comments, docstrings and assertion messages
are never arguments of such a call, so mentioning a flag does not cover it.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import typer
import typer.main

from voicecli.cli import app

TESTS = Path(__file__).parent
# name -> implied arguments
HELPERS = {"voicecli": (), "spawn": (), "invoke": (), "start_talk": ("talk",), "speak_over_the_reply": ("talk",)}
ROOT = ""  # the program's own options (before any command): --version, --debug


def flag_units(command) -> dict[str, tuple[str, ...]]:
    """Each flag of ``command`` that must be covered -> the names that cover it."""
    params = [p for p in command.get_params(typer.Context(command)) if p.param_type_name == "option"]
    units: dict[str, tuple[str, ...]] = {}
    for p in params:
        names = tuple(p.opts)
        units["/".join(names)] = names
        for off in p.secondary_opts:  # --no-barge-in, --stt-library: a behaviour of their own
            units[off] = (off,)
    return units


def required() -> dict[str, dict[str, tuple[str, ...]]]:
    """Command ("" for the program itself) -> its flags -> the names that cover each."""
    group = typer.main.get_command(app)
    out = {ROOT: flag_units(group)}
    for name, command in group.commands.items():
        out[name] = flag_units(command)
    return out


# --- reading the tests ------------------------------------------------------------------------------

Alternatives = list[list["str | None"]]  # each alternative: one possible argument list (None: not a constant)


class Scope:
    """What names mean inside one function: lists assigned to them, values parametrize gives them;
    names it does not assign are looked up among the module's top-level assignments."""

    def __init__(self, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Module | None, module: Scope | None = None):
        self.assigned: dict[str, list[ast.expr]] = defaultdict(list)
        self.params: dict[str, list[ast.expr]] = {}
        self.module = module
        if fn is None:
            return
        if isinstance(fn, ast.Module):
            for node in fn.body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            self.assigned[target.id].append(node.value)
            return
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned[target.id].append(node.value)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                self.assigned[node.target.id].append(node.value)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("append", "extend") and isinstance(node.func.value, ast.Name)):
                self.assigned[node.func.value.id].extend(node.args)
            elif isinstance(node, ast.For) and isinstance(node.iter, (ast.List, ast.Tuple)):
                self._alternatives(node.target, node.iter.elts)  # for flag in ("--a", "--b"): each is a run
        for deco in fn.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "parametrize" and len(deco.args) >= 2):
                continue
            if isinstance(deco.args[0], ast.Constant):
                names = [n.strip() for n in str(deco.args[0].value).split(",")]
            elif isinstance(deco.args[0], (ast.Tuple, ast.List)):
                names = [str(e.value) for e in deco.args[0].elts if isinstance(e, ast.Constant)]
            else:
                continue
            listed = deco.args[1]
            if isinstance(listed, ast.Name) and module is not None and module.assigned.get(listed.id):
                listed = module.assigned[listed.id][-1]  # @parametrize("turn", TURNS): TURNS = [...]
            if isinstance(listed, (ast.List, ast.Tuple)):
                target = ast.Tuple([ast.Name(n) for n in names]) if len(names) > 1 else ast.Name(names[0])
                self._alternatives(target, listed.elts)

    def _alternatives(self, target: ast.expr, values: list[ast.expr]) -> None:
        """``target`` (a name, or a tuple of names) takes each of ``values`` in turn."""
        if isinstance(target, ast.Name):
            self.params[target.id] = list(values)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, t in enumerate(target.elts):
                if isinstance(t, ast.Name):
                    self.params[t.id] = [v.elts[i] for v in values
                                         if isinstance(v, (ast.Tuple, ast.List)) and i < len(v.elts)]


def expand(node: ast.expr, scope: Scope, depth: int = 0) -> Alternatives:
    """The argument lists ``node`` can stand for (constants kept, anything computed as None)."""
    if depth > 5:
        return [[None]]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, ast.Starred):
        return expand(node.value, scope, depth + 1)
    if isinstance(node, (ast.List, ast.Tuple)):
        return concat([expand(e, scope, depth + 1) for e in node.elts])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return concat([expand(node.left, scope, depth + 1), expand(node.right, scope, depth + 1)])
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):  # [a for f in files for a in ("--input", str(f))]
        parts = [expand(g.iter, scope, depth + 1) for g in node.generators] + [expand(node.elt, scope, depth + 1)]
        return concat(parts)
    if isinstance(node, ast.Name):
        if node.id in scope.params:
            return [alt for v in scope.params[node.id] for alt in expand(v, scope, depth + 1)] or [[None]]
        if node.id in scope.assigned:
            return concat([expand(v, scope, depth + 1) for v in scope.assigned[node.id]])
        if scope.module is not None and node.id in scope.module.assigned:
            return expand(scope.module.assigned[node.id][-1], scope.module, depth + 1)
    return [[None]]


def concat(parts: list[Alternatives]) -> Alternatives:
    out = [[x for alt in combo for x in alt] for combo in itertools.product(*parts)]
    return out[:64]


def invocations(tree: ast.Module) -> list[tuple[str, list[str | None]]]:
    """(the enclosing function's name, an argument list) for each place that runs the program."""
    found: list[tuple[str, list[str | None]]] = []

    def visit(node: ast.AST, fn: ast.FunctionDef | ast.AsyncFunctionDef | None, scope: Scope) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child, Scope(child, module))
                continue
            where = fn.name if fn is not None else "<module>"
            for alt in arguments_of(child, scope):
                found.append((where, alt))
            visit(child, fn, scope)

    module = Scope(tree)
    visit(tree, None, module)
    return found


def arguments_of(node: ast.AST, scope: Scope) -> Alternatives:
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in HELPERS:
            implied = [[*HELPERS[name]]]
            args = node.args[1:] if name == "start_talk" else node.args
            if name == "invoke" and args and isinstance(args[0], ast.Name) and args[0].id == "app":
                args = args[1:]  # CliRunner().invoke(app, [...])
            return concat([implied, *[expand(a, scope) for a in args]])
    if isinstance(node, (ast.List, ast.Tuple)):
        consts = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
        for i in range(len(consts) - 1):
            if consts[i] == "-m" and consts[i + 1] == "voicecli":
                return concat([expand(e, scope) for e in node.elts[i + 2:]])
    return []


def covered() -> dict[tuple[str, str], set[str]]:
    """(command, flag name as written) -> the tests that pass it."""
    commands = set(required()) - {ROOT}
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for where, args in invocations(tree):
            command = ROOT
            for arg in args:
                if arg is None:
                    continue
                if command == ROOT and arg in commands:
                    command = arg
                    out[(command, "")].add(f"{path.stem}::{where}")
                elif arg.startswith("-") and len(arg) > 1:
                    out[(command, arg.split("=", 1)[0])].add(f"{path.stem}::{where}")
    return out


def coverage_table() -> tuple[list[tuple[str, str, list[str]]], list[tuple[str, str]]]:
    """Every (command, flag) with the tests that cover it, and those no test covers."""
    seen = covered()
    table, missing = [], []
    for command, units in required().items():
        if command != ROOT:
            by = sorted(seen.get((command, ""), ()))
            (table if by else missing).append((command, "", by) if by else (command, ""))
        for unit, names in units.items():
            by = sorted({t for n in names for t in seen.get((command, n), ())})
            if by:
                table.append((command, unit, by))
            else:
                missing.append((command, unit))
    return table, missing


def test_every_command_and_every_flag_is_invoked_by_a_test():
    table, missing = coverage_table()
    assert not missing, "never invoked by a test: " + ", ".join(f"{c or 'voicecli'} {f}".strip() for c, f in missing)
    assert len(table) > 100


def test_the_scanner_reads_calls_not_comments_or_messages():
    source = '''
import pytest

def test_a(tmp_path):
    # voicecli("talk", "--record", "x")   <- a comment
    """voicecli("talk", "--realtime")"""
    proc = voicecli("say", "--voice", str(tmp_path), "hello")
    assert "--play" in proc.stderr, "try voicecli say --output-device"
    args = ["chat", "--once", "hi"]
    args += ["--no-log"]
    spawn(*args)

@pytest.mark.parametrize("command", ["models", "tools"])
def test_b(command):
    invoke(command, "--json")
    cmd = [sys.executable, "-m", "voicecli", "--debug", "transcribe", *[a for f in [1] for a in ("--language", str(f))]]

@pytest.mark.parametrize(("turn", "x"), TURNS)
def test_c(turn, x):
    for flag in ("--speed", "--log"):
        voicecli(*turn, flag, "1")

TURNS = [(("chat", "--once", "hi"), 1)]
'''
    found = {(w, tuple(a)) for w, a in invocations(ast.parse(source))}
    assert found == {
        ("test_a", ("say", "--voice", None, "hello")),
        ("test_a", ("chat", "--once", "hi", "--no-log")),
        ("test_b", ("models", "--json")),
        ("test_b", ("tools", "--json")),
        ("test_b", ("--debug", "transcribe", None, "--language", None, None)),
        ("test_c", ("chat", "--once", "hi", "--speed", "1")),
        ("test_c", ("chat", "--once", "hi", "--log", "1")),
    }


if __name__ == "__main__":  # the table for a report: python tests/test_cli_coverage.py
    rows, gaps = coverage_table()
    for command, flag, by in rows:
        print(f"{command or 'voicecli':<11} {flag or '(the command)':<32} {', '.join(by[:3])}{' …' if len(by) > 3 else ''}")
    for command, flag in gaps:
        print(f"{command or 'voicecli':<11} {flag or '(the command)':<32} NOT COVERED")
