"""One settings object, decided once: every option from flag, env and config file, one parsing rule per type."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import typer.main

from voicecli.cli import app
from voicecli.config import OPTION_FIELDS, Settings, env_name, options_for, parse_bool
from voicecli.errors import VoicecliError

CONVERSATION_OPTIONS = sorted({(key, opt, kind) for command in ("chat", "talk")
                               for key, opt, kind in options_for(command) if not opt.per_run},
                              key=lambda x: x[0])


def _sample(key: str, opt, kind: str):
    """A valid value for the option that differs from its default: (python value, env text, TOML text)."""
    default = getattr(Settings(), key)
    if kind.startswith("bool"):
        v = not default
        return v, ("yes" if v else "no"), ("true" if v else "false")
    if kind.startswith(("float", "int")):
        lo = 0.0 if opt.low is None else opt.low
        hi = lo + 100.0 if opt.high is None else opt.high
        v = (lo + hi) / 2 if kind.startswith("float") else int((lo + hi) // 2)
        if v == default:
            v = v + 1 if kind.startswith("int") else v * 0.75 + lo * 0.25
        return v, str(v), str(v)
    if kind.startswith("list"):
        v = [Path("/tools/a.py"), Path("/tools/b.py")]
        return v, os.pathsep.join(map(str, v)), '["/tools/a.py", "/tools/b.py"]'
    if kind.startswith("Path"):
        return Path("/some/file.x"), "/some/file.x", '"/some/file.x"'
    if opt.choices:
        v = next(c for c in opt.choices if c != default)
        return v, v, f'"{v}"'
    return "some text", "some text", '"some text"'


@pytest.mark.parametrize("key, opt, kind", CONVERSATION_OPTIONS, ids=[k for k, _, _ in CONVERSATION_OPTIONS])
def test_every_conversation_option_is_settable_by_env_and_config(isolated_env, monkeypatch, key, opt, kind):
    value, env_text, toml_text = _sample(key, opt, kind)
    monkeypatch.setenv(env_name(key), env_text)
    s = Settings.load()
    assert getattr(s, key) == value and s.source(key) == f"env {env_name(key)}"
    monkeypatch.delenv(env_name(key))
    isolated_env.write_config(f"{key} = {toml_text}\n")
    s = Settings.load()
    assert getattr(s, key) == value and s.source(key) == f"config {isolated_env.config}"


def test_the_voice_activity_and_barge_in_options_are_among_them():
    keys = {k for k, _, _ in CONVERSATION_OPTIONS}
    assert {"vad_threshold", "end_silence_ms", "min_speech_ms", "pre_roll_ms", "barge_in"} <= keys


@pytest.mark.parametrize("text", ["1", "true", "YES", "On", " yes "])
def test_booleans_parse_one_way_true(isolated_env, monkeypatch, text):
    monkeypatch.setenv("VOICECLI_NO_LOG", text)
    assert Settings.load().no_log is True


@pytest.mark.parametrize("text", ["0", "false", "No", "OFF"])
def test_booleans_parse_one_way_false(isolated_env, monkeypatch, text):
    monkeypatch.setenv("VOICECLI_BARGE_IN", text)
    assert Settings.load().barge_in is False


@pytest.mark.parametrize("text", ["maybe", "2", "yess", "-1"])
def test_anything_else_is_a_clear_error(isolated_env, monkeypatch, text):
    monkeypatch.setenv("VOICECLI_NO_LOG", text)
    with pytest.raises(VoicecliError) as e:
        Settings.load()
    line = e.value.one_line()
    assert f"VOICECLI_NO_LOG={text}" in line and "1/true/yes/on" in line and "\n" not in line


def test_config_booleans_take_the_same_words(isolated_env):
    isolated_env.write_config('no_log = "yes"\nbarge_in = "off"\n')
    s = Settings.load()
    assert s.no_log is True and s.barge_in is False
    assert parse_bool(1) is True and parse_bool(0) is False
    with pytest.raises(ValueError):
        parse_bool(5)


def test_an_unknown_config_key_warns_naming_the_nearest_known_one(isolated_env):
    isolated_env.write_config("end_silence = 300\nfavourite_colour = 'blue'\nchunking = 'word'\n")
    warnings: list[str] = []
    s = Settings.load(warn=warnings.append)
    assert s.chunking == "word"  # the known keys still apply
    assert len(warnings) == 2
    assert "'end_silence'" in warnings[0] and "did you mean 'end_silence_ms'" in warnings[0]
    assert "'favourite_colour'" in warnings[1] and str(isolated_env.config) in warnings[1]


@pytest.mark.parametrize("where, setup, needle", [
    ("flag", {"vad_threshold": 2.0}, "--vad-threshold 2.0: must be strictly between 0 and 1"),
    ("flag", {"end_silence_ms": math.nan}, "--end-silence-ms nan: must be a finite number"),
    ("flag", {"llm_timeout": math.inf}, "--llm-timeout inf: must be a finite number"),
    ("flag", {"max_tokens": 0}, "--max-tokens 0: must be between 1 and"),
    ("env", {"VOICECLI_FEEDBACK_AFTER_MS": "abc"}, "VOICECLI_FEEDBACK_AFTER_MS=abc: must be a number"),
    ("env", {"VOICECLI_CHUNKING": "fastest"}, "VOICECLI_CHUNKING=fastest: is not one of word, sentence"),
    ("config", 'feedback_after_ms = "abc"', "feedback_after_ms = 'abc' in"),
    ("config", "log = 5", "log = 5 in"),
    ("config", "max_tool_rounds = 2.5", "must be a whole number"),
    ("config", 'system_prompt = "a\\u0000b"', "contains a NUL character"),
])
def test_every_number_and_type_is_checked_in_every_layer(isolated_env, monkeypatch, where, setup, needle):
    flags = {}
    if where == "flag":
        flags = setup
    elif where == "env":
        for k, v in setup.items():
            monkeypatch.setenv(k, v)
    else:
        isolated_env.write_config(setup + "\n")
    with pytest.raises(VoicecliError) as e:
        Settings.load(flags)
    line = e.value.one_line()
    assert needle in line and "\n" not in line


def test_flag_beats_env_beats_config_for_plain_options(isolated_env, monkeypatch):
    isolated_env.write_config("end_silence_ms = 700\n")
    assert Settings.load().end_silence_ms == 700.0
    monkeypatch.setenv("VOICECLI_END_SILENCE_MS", "600")
    assert Settings.load().end_silence_ms == 600.0
    s = Settings.load({"end_silence_ms": 450.0})
    assert s.end_silence_ms == 450.0 and s.source("end_silence_ms") == "flag"


def test_a_command_resolves_only_its_own_options(isolated_env, monkeypatch):
    monkeypatch.setenv("VOICECLI_END_SILENCE_MS", "abc")  # a talk option: `say` does not care
    s = Settings.load(command="say")
    assert s.end_silence_ms == 1200.0 and s.source("end_silence_ms") == "default"
    with pytest.raises(VoicecliError):
        Settings.load(command="talk")


def test_per_run_options_are_flags_only(isolated_env, monkeypatch):
    monkeypatch.setenv("VOICECLI_OUTPUT", "/tmp/x.wav")
    isolated_env.write_config('json = true\n')
    warnings: list[str] = []
    s = Settings.load(warn=warnings.append)
    assert s.output is None and s.json is False
    assert any("'json'" in w for w in warnings)  # per-run keys are not config keys


def test_each_command_offers_exactly_the_options_declared_for_it():
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        params = {p.name for p in command.params}
        declared = {key for key, _, _ in options_for(name)}
        assert declared <= params, (name, declared - params)
    every = {f.name for f in OPTION_FIELDS}
    offered = {p.name for c in group.commands.values() for p in c.params}
    assert every <= offered, every - offered  # no setting that no command sets
