"""wsready.deploy.app_release: content hashes name releases; only the lock names node_modules."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from wsready.deploy import app_release
from wsready.validate import ConfigError

BUNDLED = Path(__file__).resolve().parents[2] / "files" / "app"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(BUNDLED, copy, ignore=shutil.ignore_patterns("node_modules"))
    return copy


def test_node_modules_and_git_are_left_out(app: Path) -> None:
    (app / "node_modules" / "x").mkdir(parents=True)
    (app / "node_modules" / "x" / "index.js").write_text("1")
    (app / ".git").mkdir()
    (app / ".git" / "HEAD").write_text("ref")
    release = app_release.scan(app)
    assert "server.js" in release.files and "package-lock.json" in release.files
    assert not any(f.startswith(("node_modules/", ".git/")) for f in release.files)
    assert release.entry == "server.js"


def test_code_change_keeps_deps_hash_lock_change_does_not(app: Path) -> None:
    before = app_release.scan(app)
    (app / "server.js").write_text((app / "server.js").read_text() + "\n// edit\n")
    code = app_release.scan(app)
    assert code.hash != before.hash and code.deps_hash == before.deps_hash
    lock = app / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    locked = app_release.scan(app)
    assert locked.deps_hash != code.deps_hash


def test_same_content_same_hash_and_archive(app: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(app, other)
    assert app_release.scan(app).hash == app_release.scan(other).hash
    archive = app_release.archive_bytes(app_release.scan(app))
    assert archive == app_release.archive_bytes(app_release.scan(other))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
        assert tar.extractfile("server.js").read() == (app / "server.js").read_bytes()
    assert sorted(names) == sorted(app_release.scan(app).files)


def test_missing_lock_or_entry_is_a_config_error(app: Path) -> None:
    (app / "package-lock.json").unlink()
    with pytest.raises(ConfigError, match=r"app_source = .*has no package-lock.json"):
        app_release.scan(app)


def test_entry_point_from_package_main(app: Path) -> None:
    package = app / "package.json"
    package.write_text(package.read_text().replace('"main": "server.js"', '"main": "index.js"'))
    with pytest.raises(ConfigError, match="the entry point 'index.js' does not exist"):
        app_release.scan(app)
    (app / "index.js").write_text("require('./server')\n")
    assert app_release.scan(app).entry == "index.js"


# --- package.json `main` and symlinks (issue 22): what reaches the unit, what gets uploaded ----


@pytest.mark.parametrize(
    "main",
    [
        "server.js\nExecStartPre=+/bin/touch /tmp/pwned",
        "server.js\rx",
        "server.js ExecStartPre=+/bin/id",
        "%h/server.js",
        "/etc/passwd",
        "../outside.js",
        "lib/../../outside.js",
        "./../outside.js",
        "server.js;id",
        "'server.js'",
        "$(id).js",
        "server.js\x00",
        "ѕerver.js",
        "a" * 300,
        "",
        42,
        ["server.js"],
        ".hidden.js",
    ],
)
def test_a_hostile_main_is_refused(app: Path, main: object) -> None:
    (app / "package.json").write_text(json.dumps({"name": "x", "main": main}))
    if main == "":  # empty falls back to server.js, which exists: accepted
        assert app_release.scan(app).entry == "server.js"
        return
    with pytest.raises(ConfigError) as refused:
        app_release.scan(app)
    assert refused.value.key == "app_source"


@pytest.mark.parametrize("main", ["server.js", "./server.js", "lib/main.js"])
def test_a_plain_relative_main_is_the_entry(app: Path, main: str) -> None:
    (app / "lib").mkdir(exist_ok=True)
    (app / "lib" / "main.js").write_text("// main\n")
    (app / "package.json").write_text(json.dumps({"name": "x", "main": main}))
    assert app_release.scan(app).entry == main.removeprefix("./")


def test_a_symlink_leaving_app_source_is_refused(app: Path, tmp_path: Path) -> None:
    secret = tmp_path / "id_ed25519"
    secret.write_text("PRIVATE KEY\n")
    (app / "config.js").symlink_to(secret)
    with pytest.raises(ConfigError, match="config.js is a symlink leading out"):
        app_release.scan(app)


def test_a_symlinked_directory_leaving_app_source_is_refused(app: Path) -> None:
    (app / "etc").symlink_to("/etc")
    with pytest.raises(ConfigError, match="etc is a symlink leading out"):
        app_release.scan(app)


def test_a_symlink_inside_app_source_is_uploaded_as_its_file(app: Path) -> None:
    (app / "alias.js").symlink_to("server.js")
    release = app_release.scan(app)
    assert "alias.js" in release.files
