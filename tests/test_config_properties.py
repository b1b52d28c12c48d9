"""The config file is text a stranger (or a careless edit) controls: whatever it holds, loading the
settings gives a ``Settings`` or one ``VoicecliError`` line, never another exception.

Two properties, each with Hypothesis:

- any TOML table (known keys and unknown ones, every TOML value type: strings with control and
  NUL characters, huge integers, nan and inf, dates and times, arrays, nested tables) written to the
  config file: ``Settings.load`` for every command returns settings, or raises a ``VoicecliError``
  whose message is one line; unknown keys only produce one-line warnings;
- any bytes as the config file (not UTF-8, not TOML, a truncated table): one line naming the file.

And through the real program: a config file that is not UTF-8, or not TOML, is one ``error:`` line.
"""

from __future__ import annotations

import datetime as dt
import math
import sys

import pytest
from clirun import assert_one_line_error, voicecli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecli.config import Settings
from voicecli.config.settings import OPTION_FIELDS, OPTION_KEYS, _read_config, load_config
from voicecli.errors import VoicecliError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMMANDS = [None, "chat", "talk", "say", "transcribe", "models", "bench", "tools", "fetch", "devices", "doctor"]
PER_RUN = [f.name for f in OPTION_FIELDS if f.metadata["option"].per_run]


# --- a small TOML writer for the generated tables (values only TOML can hold) ------------------------

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_string(text: str) -> str:
    """A TOML basic string: quote and backslash escaped, control characters (and DEL) as \\uXXXX."""
    out = ['"']
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out) + '"'


def toml_table(table: dict) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in table.items())


scalars = st.one_of(
    st.text(max_size=30), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(), st.dates(), st.times(),
    st.sampled_from(["adaptive", "sentence", "word", "1", "yes", "off", "0.5", "nan", "inf", "-1", "1e400", "",
                     "replay:x.jsonl", "http://[::1", "~/models/x.gguf", "a\x00b"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
keys = st.one_of(st.sampled_from(OPTION_KEYS), st.sampled_from(PER_RUN), st.text(min_size=1, max_size=20))
tables = st.dictionaries(keys, values, max_size=6)


def one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message and "\r" not in message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables)
def test_any_table_gives_settings_or_one_line(isolated_env, table):
    text = toml_table(table)
    assert tomllib.loads(text).keys() == table.keys()  # the writer above wrote valid TOML
    isolated_env.write_config(text)
    warnings: list[str] = []
    for command in COMMANDS:
        try:
            loaded = Settings.load(command=command, environ={}, warn=warnings.append)
        except VoicecliError as e:
            assert one_line(e.one_line()), e.one_line()
        else:
            assert isinstance(loaded, Settings)
            for key in OPTION_KEYS:
                value = getattr(loaded, key)
                assert not (isinstance(value, float) and not math.isfinite(value)), (key, value)
    assert all(one_line(w) for w in warnings), warnings


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200),
                      st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
                      tables.map(lambda t: toml_table(t).encode()[:-3])))  # cut short
def test_any_bytes_as_the_config_file_give_a_table_or_one_line(isolated_env, data):
    isolated_env.config.write_bytes(data)
    _read_config.cache_clear()
    try:
        table = load_config()
    except VoicecliError as e:
        assert one_line(e.one_line()) and str(isolated_env.config) in e.one_line(), e.one_line()
    else:
        assert isinstance(table, dict)


@pytest.mark.parametrize(("content", "says"), [
    (b"chunking = \"sentence\"\nsystem_prompt = \"caf\xe9\"\n", "UTF-8"),  # Latin-1, not UTF-8
    (b"chunking = sentence\n", "Invalid value"),
    (b"[table\n", "Expected"),
    (b"\xff\xfe\x00\x00", "UTF-8"),
])
def test_a_config_file_that_is_not_utf8_or_not_toml_is_one_line(isolated_env, content, says):
    isolated_env.config.write_bytes(content)
    line = assert_one_line_error(voicecli("say", "Hello.", "--no-audio"), str(isolated_env.config))
    assert says.lower() in line.lower() or "cannot read the config file" in line, line
