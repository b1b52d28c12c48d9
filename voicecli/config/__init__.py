"""Settings, decided once, and where things live.

    paths.py     the config file, the user data directory, the models directory
    parse.py     how an option is declared (``Option``) and the one parsing rule per type
    settings.py  ``Settings``: every option declared once, resolved flag > env > config file > default
    models.py    the three model roles, where each model is and where that setting came from
"""

from voicecli.config.models import ROLES, ModelRole, ResolvedModel
from voicecli.config.parse import Option, env_name, flag_name, parse_bool
from voicecli.config.paths import (
    APP,
    PROJECT_ROOT,
    api_key_from_env,
    config_path,
    data_dir,
    debug_from_env,
    fetch_hint,
    models_dir,
    source_checkout,
)
from voicecli.config.settings import (
    DEFAULT_SYSTEM_PROMPT,
    OPTION_FIELDS,
    OPTION_KEYS,
    Settings,
    load_config,
    options_for,
    resolve_model,
    unknown_config_keys,
)

__all__ = [
    "APP", "DEFAULT_SYSTEM_PROMPT", "OPTION_FIELDS", "OPTION_KEYS", "PROJECT_ROOT", "ROLES", "ModelRole", "Option",
    "ResolvedModel", "Settings", "api_key_from_env", "config_path", "data_dir", "debug_from_env", "env_name", "fetch_hint", "source_checkout",
    "flag_name", "load_config", "models_dir", "options_for", "parse_bool", "resolve_model", "unknown_config_keys",
]
