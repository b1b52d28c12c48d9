"""Settings precedence (flag > VOICECLI_* env > config file > default) and model resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecli import config
from voicecli.config import ROLES, Settings, resolve_model
from voicecli.errors import ModelMissing, VoicecliError

LAYERS = ("flag", "env", "config", "default")


def _setup_layers(isolated_env, monkeypatch, key: str, present: tuple[str, ...]) -> str | None:
    """Set ``key`` in each layer in ``present`` to a value naming that layer; return the flag value."""
    env_name = f"VOICECLI_{key.upper()}"
    if "config" in present:
        isolated_env.write_config(f'{key} = "/from/config"\n')
    if "env" in present:
        monkeypatch.setenv(env_name, "/from/env")
    return "/from/flag" if "flag" in present else None


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("top", LAYERS)
def test_model_precedence_each_layer_wins_over_the_ones_below(isolated_env, monkeypatch, role, top):
    spec = ROLES[role]
    present = LAYERS[LAYERS.index(top):]  # the winning layer and every layer below it
    flag = _setup_layers(isolated_env, monkeypatch, spec.key, present)

    model = resolve_model(role, flag)

    expected = {
        "flag": (Path("/from/flag"), "flag"),
        "env": (Path("/from/env"), f"env VOICECLI_{spec.key.upper()}"),
        "config": (Path("/from/config"), f"config {isolated_env.config}"),
        "default": (config.models_dir() / spec.default_rel, "default"),
    }[top]
    assert (model.path, model.source) == expected


def test_model_env_names_are_the_documented_ones(isolated_env, monkeypatch):
    monkeypatch.setenv("VOICECLI_STT_MODEL", "/s")
    monkeypatch.setenv("VOICECLI_LLM_MODEL", "/l.gguf")
    monkeypatch.setenv("VOICECLI_VOICE", "/v.onnx")
    assert {r: resolve_model(r).path for r in ROLES} == {"stt": Path("/s"), "llm": Path("/l.gguf"), "tts": Path("/v.onnx")}


@pytest.mark.parametrize("top", LAYERS)
def test_plain_setting_precedence(isolated_env, monkeypatch, top):
    present = LAYERS[LAYERS.index(top):]
    if "config" in present:
        isolated_env.write_config('chunking = "sentence"\n')
    if "env" in present:
        monkeypatch.setenv("VOICECLI_CHUNKING", "phrase")
    flag = "word" if "flag" in present else None

    s = Settings.load({"chunking": flag})

    assert (s.chunking, s.source("chunking")) == {
        "flag": ("word", "flag"),
        "env": ("phrase", "env VOICECLI_CHUNKING"),
        "config": ("sentence", f"config {isolated_env.config}"),
        "default": ("adaptive", "default"),
    }[top]


def test_config_values_keep_their_toml_type(isolated_env):
    isolated_env.write_config("max_tokens = 64\nno_log = true\n")
    s = Settings.load()
    assert s.max_tokens == 64 and s.no_log is True


def test_empty_env_var_counts_as_unset(isolated_env, monkeypatch):
    isolated_env.write_config('llm_model = "/from/config.gguf"\n')
    monkeypatch.setenv("VOICECLI_LLM_MODEL", "")
    assert resolve_model("llm").source == f"config {isolated_env.config}"


def test_missing_config_file_is_not_an_error(isolated_env):
    assert not isolated_env.config.exists()
    assert Settings.load().source("chunking") == "default"


def test_models_dir_env_moves_the_defaults(isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("VOICECLI_MODELS_DIR", str(tmp_path / "m"))
    assert resolve_model("llm").path == tmp_path / "m" / ROLES["llm"].default_rel


def test_user_home_is_expanded(isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_model("llm", "~/x.gguf").path == tmp_path / "x.gguf"


def test_data_dir_follows_the_env(isolated_env):
    assert config.data_dir() == isolated_env.data


@pytest.mark.parametrize("text", ['llm_model = "unterminated\n', "llm_model /x.gguf\n", "[a\n"])
def test_broken_config_is_one_line_error(isolated_env, text):
    isolated_env.write_config(text)
    with pytest.raises(VoicecliError) as info:
        resolve_model("llm")
    line = info.value.one_line()
    assert "\n" not in line
    assert str(isolated_env.config) in line
    assert "VOICECLI_CONFIG" in line  # the hint says how to get out of it


def test_broken_config_is_reported_even_when_a_flag_decides(isolated_env):
    # settings are decided once, from every layer: a broken file is never silently half-read
    isolated_env.write_config("[a\n")
    with pytest.raises(VoicecliError, match="cannot read the config file"):
        resolve_model("llm", "/x.gguf")


# --- require(): a missing model is one line naming the path and the fix ------------------------

@pytest.mark.parametrize("how", ["flag", "env"])
def test_require_missing_llm_names_path_and_setting(isolated_env, monkeypatch, tmp_path, how):
    missing = tmp_path / "nope.gguf"
    if how == "env":
        monkeypatch.setenv("VOICECLI_LLM_MODEL", str(missing))
    with pytest.raises(ModelMissing) as info:
        resolve_model("llm", missing if how == "flag" else None).require()
    line = info.value.one_line()
    assert "\n" not in line
    assert str(missing) in line
    assert "--llm-model" in line and "VOICECLI_LLM_MODEL" in line


def test_require_missing_config_setting_names_the_config_file(isolated_env, tmp_path):
    missing = tmp_path / "nope.gguf"
    isolated_env.write_config(f'llm_model = "{missing}"\n')
    with pytest.raises(ModelMissing) as info:
        resolve_model("llm").require()
    assert str(missing) in str(info.value) and str(isolated_env.config) in str(info.value)


def test_require_missing_default_says_make_models(isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("VOICECLI_MODELS_DIR", str(tmp_path / "empty"))
    for role in ROLES:
        with pytest.raises(ModelMissing) as info:
            resolve_model(role).require()
        assert "make models" in info.value.one_line()
        assert str(tmp_path / "empty") in info.value.one_line()


def test_require_voice_without_its_json_names_the_json(isolated_env, tmp_path):
    onnx = tmp_path / "v.onnx"
    onnx.write_bytes(b"x")
    model = resolve_model("tts", onnx)
    assert not model.exists
    with pytest.raises(ModelMissing, match=r"v\.onnx\.json"):
        model.require()
    (tmp_path / "v.onnx.json").write_text("{}")
    assert model.require() == onnx


def test_require_stt_directory_needs_model_bin(isolated_env, tmp_path):
    d = tmp_path / "whisper"
    d.mkdir()
    model = resolve_model("stt", d)
    with pytest.raises(ModelMissing):
        model.require()
    (d / "model.bin").write_bytes(b"12345")
    assert model.require() == d
    assert model.as_dict() == {"path": str(d), "source": "flag", "exists": True, "size": 5}


def test_as_dict_of_missing_model(isolated_env, tmp_path):
    assert resolve_model("llm", tmp_path / "x.gguf").as_dict() == {
        "path": str(tmp_path / "x.gguf"), "source": "flag", "exists": False, "size": None,
    }
