"""Enable and verify the JupyterLab extensions the course needs: `python -m nncourse.environment`."""
import subprocess
import sys
from pathlib import Path

LAB_EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib", "@jupyter/nbgrader")
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


def enabled(listing, name):
    """True when `name` appears in a jupyter extension listing marked enabled."""
    return any(name in line and "enabled" in line for line in listing.splitlines())


def main():
    """Enable every needed extension, then exit non-zero naming any that is still missing."""
    for name in LAB_EXTENSIONS:
        jupyter("labextension", "enable", "--level=sys_prefix", name)
    for name in SERVER_EXTENSIONS:
        jupyter("server", "extension", "enable", "--sys-prefix", name)
    lab, server = jupyter("labextension", "list"), jupyter("server", "extension", "list")
    missing = [n for n in LAB_EXTENSIONS if not enabled(lab, n)]
    missing += [n for n in SERVER_EXTENSIONS if not enabled(server, n)]
    if missing:
        sys.exit("These JupyterLab extensions are not enabled: " + ", ".join(missing))
    print("JupyterLab extensions enabled: ipywidgets, ipympl, nbgrader.")


if __name__ == "__main__":
    main()
