"""Enable and verify the JupyterLab extensions the course needs: `python -m nncourse.environment`."""
import json
import subprocess
import sys
from pathlib import Path

LAB_EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "anywidget", "jupyter-matplotlib", "@jupyter/nbgrader")
SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.validate_assignment",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.formgrader",
)


def jupyter(*args):
    """Run a jupyter sub-command from this environment and return its combined output."""
    jupyter_bin = Path(sys.executable).with_name("jupyter")
    done = subprocess.run([str(jupyter_bin), *args], capture_output=True, text=True)
    return done.stdout + done.stderr


def read_json(path):
    """A JSON file's content, or {} when it is missing."""
    return json.loads(path.read_text()) if path.exists() else {}


def missing_extensions(prefix=sys.prefix):
    """Needed extensions that are not installed and enabled in this environment (read from its config files)."""
    prefix = Path(prefix)
    disabled = read_json(prefix / "etc/jupyter/labconfig/page_config.json").get("disabledExtensions", {})
    missing = [name for name in LAB_EXTENSIONS
               if not (prefix / "share/jupyter/labextensions" / name / "package.json").exists()
               or disabled.get(name) is True or name in (disabled if isinstance(disabled, list) else [])]
    enabled = {}
    config_dir = prefix / "etc/jupyter"
    for path in sorted(config_dir.glob("jupyter_server_config.d/*.json")) + [config_dir / "jupyter_server_config.json"]:
        enabled.update(read_json(path).get("ServerApp", {}).get("jpserver_extensions", {}))
    return missing + [name for name in SERVER_EXTENSIONS if not enabled.get(name)]


def main():
    """Enable every needed extension, then exit non-zero naming any that is still missing."""
    for name in LAB_EXTENSIONS:
        jupyter("labextension", "enable", "--level=sys_prefix", name)
    for name in SERVER_EXTENSIONS:
        jupyter("server", "extension", "enable", "--sys-prefix", name)
    missing = missing_extensions()
    if missing:
        sys.exit("These JupyterLab extensions are not enabled: " + ", ".join(missing))
    print("JupyterLab extensions enabled: ipywidgets, anywidget, ipympl, nbgrader.")


if __name__ == "__main__":
    main()
