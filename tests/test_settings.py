"""The settings contract: config.toml, --config, HERALD_CONFIG, HERALD_<SECTION>__<KEY>, and a
start-up that stops with the key's name when a value is wrong."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError, config_path, load_settings, warn_deprecated

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_is_valid_and_equals_the_defaults():
    assert load_settings(ROOT / "config.toml") == Settings()
    assert Settings().server.host == "127.0.0.1" and Settings().server.port == 8080


def test_every_setting_is_in_the_shipped_config():
    text = (ROOT / "config.toml").read_text()
    for section, model in Settings.model_fields.items():
        assert f"[{section}]" in text
        for key in model.annotation.model_fields:
            assert f"\n{key} =" in text, f"{section}.{key} is not in config.toml"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 7000\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("HERALD_SERVER__PORT", "9000")
    settings = load_settings(path)
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9000)


def test_config_path_order(monkeypatch):
    monkeypatch.setenv("HERALD_CONFIG", "/etc/herald.toml")
    assert config_path("given.toml") == Path("given.toml")
    assert config_path(None) == Path("/etc/herald.toml")
    monkeypatch.delenv("HERALD_CONFIG")
    assert config_path(None) == Path("config.toml")


@pytest.mark.parametrize("toml,key", [
    ("[server]\nport = 'eighty'\n", "server.port"),
    ("[notifications]\ntransport = 'pigeon'\n", "notifications.transport"),
    ("[reports]\ntimezone = 'Moon/Base'\n", "reports.timezone"),
    ("[server]\nprot = 80\n", "server.prot"),
])
def test_an_invalid_value_names_its_key(tmp_path, toml, key):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings(path)


def test_main_refuses_to_start_on_a_bad_setting(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = 0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(path)],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "server.port" in result.stderr


def test_create_token_prints_a_token_that_is_stored_hashed(tmp_path):
    import sqlite3

    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_STORAGE__PATH"] = str(tmp_path / "h.db")
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(tmp_path / "none.toml"),
                             "create_token", "crm-sync"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) == 40
    rows = sqlite3.connect(tmp_path / "h.db").execute("SELECT name, token_sha256 FROM api_tokens").fetchall()
    import hashlib

    assert rows == [("crm-sync", hashlib.sha256(token.encode()).hexdigest())]


@pytest.mark.parametrize("variable", [
    "HERALD_SERVR__PORT",          # a misspelt section
    "HERALD_SERVER__PROT",         # a misspelt key
    "HERALD_PORT",                 # no section at all
])
def test_an_unknown_herald_variable_stops_start_up_naming_it(tmp_path, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    with pytest.raises(SettingsError, match=variable):
        load_settings(tmp_path / "absent.toml")


def test_herald_config_is_not_taken_for_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_CONFIG", str(tmp_path / "absent.toml"))
    assert load_settings(config_path(None)) == Settings()


@pytest.mark.parametrize("variable,value", [
    ("HERALD_SERVER__PORT", "abc"),
    ("HERALD_REPORTS__TIMEZONE", "Moon/Base"),
    ("HERALD_AUTH__API_TOKENS", '["unterminated'),   # not JSON: once a traceback
    ("HERALD_AUTH__API_TOKENS", "[1]"),
])
def test_a_bad_environment_value_names_the_variable_not_the_file(tmp_path, monkeypatch, variable, value):
    path = tmp_path / "herald.toml"
    path.write_text('[server]\nport = 7000\n[auth]\napi_tokens = ["t"]\n')
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as failure:
        load_settings(path)
    assert variable in str(failure.value)
    assert "herald.toml" not in str(failure.value)
    assert "unterminated" not in str(failure.value)  # a value may be a secret: never echoed


def test_main_exits_2_on_a_misspelt_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_SERVR__PORT"] = "1"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(tmp_path / "none.toml")],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "HERALD_SERVR__PORT" in result.stderr and "Traceback" not in result.stderr


# -- [email], and the old subscriptions.email_* keys ---------------------------------------------


def test_the_old_email_keys_in_the_file_still_apply_and_are_reported(tmp_path, caplog):
    path = tmp_path / "c.toml"
    path.write_text("[subscriptions]\nemail_max_attempts = 3\nemail_retry_base_seconds = 7.5\n")
    settings = load_settings(path)
    assert (settings.email.max_attempts, settings.email.retry_base_seconds) == (3, 7.5)
    assert settings.email.retry_max_seconds == 21600  # untouched: the default

    with caplog.at_level(logging.WARNING, logger="herald.settings"):
        warn_deprecated(settings)
    [line] = caplog.records
    assert line.levelname == "WARNING" and "deprecated" in line.getMessage()
    for name in ("subscriptions.email_max_attempts", "subscriptions.email_retry_base_seconds",
                 "email.max_attempts", "email.retry_base_seconds"):
        assert name in line.getMessage()


def test_an_old_email_key_from_the_environment_applies_too(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_SUBSCRIPTIONS__EMAIL_RETRY_BASE_SECONDS", "12")
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.email.retry_base_seconds == 12 and settings.email.max_attempts == 5
    assert settings.deprecated == ("subscriptions.email_retry_base_seconds",)


def test_the_new_email_key_wins_over_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[email]\nmax_attempts = 9\n[subscriptions]\nemail_max_attempts = 3\n")
    monkeypatch.setenv("HERALD_EMAIL__RETRY_BASE_SECONDS", "4")
    monkeypatch.setenv("HERALD_SUBSCRIPTIONS__EMAIL_RETRY_BASE_SECONDS", "40")
    settings = load_settings(path)
    assert (settings.email.max_attempts, settings.email.retry_base_seconds) == (9, 4)
    assert set(settings.deprecated) == {"subscriptions.email_max_attempts", "subscriptions.email_retry_base_seconds"}


def test_without_the_old_keys_nothing_is_reported(caplog):
    settings = load_settings(ROOT / "config.toml")
    with caplog.at_level(logging.WARNING, logger="herald.settings"):
        warn_deprecated(settings)
    assert settings.deprecated == () and caplog.records == []


def test_a_bad_old_email_value_is_named_as_it_was_given(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[subscriptions]\nemail_max_attempts = 0\n")
    with pytest.raises(SettingsError, match=r"subscriptions\.email_max_attempts \("):
        load_settings(path)
    path.write_text("")
    monkeypatch.setenv("HERALD_SUBSCRIPTIONS__EMAIL_RETRY_BASE_SECONDS", "-1")
    with pytest.raises(SettingsError, match="HERALD_SUBSCRIPTIONS__EMAIL_RETRY_BASE_SECONDS"):
        load_settings(path)


def test_start_up_logs_one_warning_line_naming_the_new_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[subscriptions]\nemail_max_attempts = 3\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_STORAGE__PATH"] = str(tmp_path / "h.db")
    env["HERALD_SUBSCRIPTIONS__EMAIL_RETRY_BASE_SECONDS"] = "30"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(path), "list_tokens"],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert " WARNING herald.settings " in line
    assert "subscriptions.email_max_attempts, subscriptions.email_retry_base_seconds" in line
    assert "email.max_attempts, email.retry_base_seconds" in line
