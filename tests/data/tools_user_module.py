"""A user tool module, loaded by tests/test_tools_registry.py: every public function is a tool."""

from typing import Literal


def greet(name: str, style: Literal["short", "long"] = "short") -> str:
    """Greet someone by name.

    Args:
        name: who to greet.
        style: how long the greeting is.
    """
    return f"Hi {name}" if style == "short" else f"Hello there, {name}, nice to meet you"


def _helper() -> str:
    return "private helpers are not tools"
