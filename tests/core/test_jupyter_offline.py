"""JupyterLab of the kit's environment fetches no news and checks for no updates: the settings files written into a
prefix, checked against the installed JupyterLab's own schemas and read back through its own loaders."""
import json
import sys
from pathlib import Path

import pytest

from aitranscribe.core import jupyter_offline

jupyterlab = pytest.importorskip("jupyterlab")
LAB = Path(sys.prefix) / "share" / "jupyter" / "lab"  # the JupyterLab this interpreter runs


def test_install_writes_the_three_settings(tmp_path):
    written = jupyter_offline.install(tmp_path)
    files = jupyter_offline.paths(tmp_path)
    assert written == [files["overrides"], files["page_config"], files["server_config"]]
    assert files["overrides"] == tmp_path / "share/jupyter/lab/settings/overrides.json"
    assert json.loads(files["overrides"].read_text()) == {
        "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"}}
    assert json.loads(files["page_config"].read_text()) == {
        "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    assert json.loads(files["server_config"].read_text()) == {
        "LabApp": {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate", "news_url": None}}


def test_install_keeps_other_settings_and_is_idempotent(tmp_path):
    files = jupyter_offline.paths(tmp_path)
    files["overrides"].parent.mkdir(parents=True)
    files["overrides"].write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                              "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True,
                                                                                              "fetchNews": "true"}}))
    files["page_config"].parent.mkdir(parents=True)
    files["page_config"].write_text(json.dumps({"disabledExtensions": ["@jupyterlab/some:plugin"]}))
    jupyter_offline.install(tmp_path)
    first = {name: path.read_text() for name, path in files.items()}
    overrides = json.loads(first["overrides"])
    assert overrides["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"doNotDisturbMode": True, "fetchNews": "false",
                                                                        "checkForUpdates": False}
    assert json.loads(first["page_config"])["disabledExtensions"] == {
        "@jupyterlab/some:plugin": True, "@jupyterlab/apputils-extension:announcements": True}
    jupyter_offline.install(tmp_path)
    assert {name: path.read_text() for name, path in files.items()} == first


def test_the_settings_are_those_of_the_installed_jupyterlab(tmp_path):
    """Every overridden key exists in the installed JupyterLab's schema with an allowed value, and JupyterLab's own
    settings loader returns them as the defaults."""
    from jupyterlab_server.settings_utils import get_settings

    schemas = LAB / "schemas"
    if not schemas.is_dir():
        pytest.skip(f"no JupyterLab schemas under {schemas}")
    jupyter_offline.install(tmp_path)
    for plugin, values in jupyter_offline.OVERRIDES.items():
        package, name = plugin.split(":")
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        for key, value in values.items():
            prop = schema["properties"][key]
            assert value in [c["const"] for c in prop["oneOf"]] if "oneOf" in prop else isinstance(value, bool)
        settings, _ = get_settings(str(jupyter_offline.paths(tmp_path)["overrides"].parent), str(schemas),
                                   str(tmp_path / "user-settings"), schema_name=plugin)
        assert {k: settings["schema"]["properties"][k]["default"] for k in values} == values
    bundle = " ".join(p.read_text(errors="ignore") for p in (LAB / "static").glob("jlab_core*.js"))
    if bundle:
        assert f'"{jupyter_offline.ANNOUNCEMENTS}"' in bundle  # the plugin disabled is one JupyterLab has


def test_the_page_config_and_the_server_config_are_read_by_jupyter(tmp_path, monkeypatch):
    from jupyterlab.handlers.announcements import NeverCheckForUpdate
    from jupyterlab.labapp import LabApp
    from jupyterlab_server.config import get_page_config
    from traitlets.config.loader import JSONFileConfigLoader

    jupyter_offline.install(tmp_path)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / "etc" / "jupyter"))
    page = get_page_config([], app_settings_dir=None)
    assert jupyter_offline.ANNOUNCEMENTS in page["disabledExtensions"]
    server = jupyter_offline.paths(tmp_path)["server_config"]
    app = LabApp(config=JSONFileConfigLoader(server.name, str(server.parent)).load_config())
    assert app.news_url is None and app.check_for_updates_class is NeverCheckForUpdate


def test_a_broken_settings_file_is_reported_not_overwritten(tmp_path):
    files = jupyter_offline.paths(tmp_path)
    files["overrides"].parent.mkdir(parents=True)
    files["overrides"].write_text("{not json")
    with pytest.raises(SystemExit, match="overrides.json: not valid JSON"):
        jupyter_offline.install(tmp_path)
    assert files["overrides"].read_text() == "{not json"
