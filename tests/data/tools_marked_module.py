"""A user tool module with a @tool mark: only the marked functions are tools."""

from voicecli.tools import tool


@tool
def roll(sides: int = 6) -> int:
    """Roll a die."""
    return sides


@tool(name="shout")
def make_loud(text: str) -> str:
    """Say something loudly."""
    return text.upper()


def not_a_tool(x: int) -> int:
    """Public but unmarked, so not loaded."""
    return x
