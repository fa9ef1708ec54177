"""Coalescing in a real kernel: a burst of comm updates to one slider, and the renders it causes.

Starts an ipykernel with jupyter_client, shows a LiveFigure whose redraw takes `cost` seconds, sends
`updates` comm messages back to back (as a fast drag would, without the frontend's own throttling) and
prints how many renders ran and with which values. Rendering in the observer would give one render per
update; coalesced, a burst gives a few renders and the last one shows the final value.

    .venv/bin/python -m benchmarks.coalescing
"""
import time

from jupyter_client.manager import start_new_kernel

from benchmarks.widgets import ROOT

SETUP = r'''
import matplotlib; matplotlib.use("Agg")
import time, ipywidgets as ipw
from nncourse import plots
from nncourse.live import LiveFigure
rendered = []
class Slow(LiveFigure):
    def __init__(self):
        fig, ax = plots.figure(figsize=(3, 2))
        (self.line,) = ax.plot([0, 1], [0, 0])
        super().__init__(None, {"a": ipw.FloatSlider(min=0, max=1000, step=1)}, fig)
    def redraw(self, a):
        time.sleep(COST)
        rendered.append(a)
        self.line.set_ydata([0, a])
widget = Slow().show()
rendered.clear()
print(widget.controls["a"].comm.comm_id)
'''


def reply(client, code):
    """What the cell printed (its stream output), once the kernel is idle again."""
    msg_id, text = client.execute(code), ""
    while True:
        msg = client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return text.strip()


def burst(updates=30, cost=0.02):
    """(number of renders, their values) after `updates` back-to-back slider updates."""
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        comm_id = reply(client, f"COST = {cost!r}\n" + SETUP)
        for value in range(1, updates + 1):
            state = {"method": "update", "state": {"value": float(value)}, "buffer_paths": []}
            client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": state}))
        time.sleep(0.5 + updates * cost)
        # awaiting lets the loop run a render still pending when this cell arrives
        return reply(client, "import asyncio\nawait asyncio.sleep(0.3)\nprint(len(rendered), rendered)")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main():
    for updates, cost in ((30, 0.0), (30, 0.02), (60, 0.05)):
        print(f"redraw {cost * 1000:.0f} ms, {updates} updates back to back -> renders, values: "
              f"{burst(updates, cost)}", flush=True)


if __name__ == "__main__":
    main()
