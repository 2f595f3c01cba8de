"""platform/ stays a plain folder, and `config` imports the same way for every entry point."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int

ROOT = Path(__file__).resolve().parents[2]


def test_platform_is_not_a_package():
    # A platform/__init__.py hides the standard library's `platform`, which breaks `import uuid` and Django.
    assert not (ROOT / "platform" / "__init__.py").exists()
    assert (ROOT / "platform" / "config" / "settings.py").exists()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY",
                                                             "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}}
    return {**env, **extra}


@pytest.mark.parametrize(
    "code",
    [
        "import platform, uuid; assert callable(platform.system); import config.settings",
        "from config.celery import app; assert app.main == 'stepwise'",
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); "
        "from config.asgi import application; print(type(application).__name__)",
    ],
    ids=["settings", "celery -A config", "daphne config.asgi"],
)
def test_config_imports_outside_the_repo_like_celery_and_daphne_do(tmp_path, code):
    env = clean_env(STEPWISE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_manage_py_runs_from_anywhere(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "check"], cwd=tmp_path,
                          env=clean_env(STEPWISE_VAR_DIR=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_debug_off_without_secret_key_stops_with_a_clear_message(tmp_path):
    env = clean_env(DEBUG="false", DATABASE_URL="postgres://postgres@127.0.0.1:5432/stepwise",
                    STEPWISE_VAR_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in done.stderr


def test_settings_helpers_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", False)
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("N", "-3")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("N", 1, minimum=0)
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("N", 1)
