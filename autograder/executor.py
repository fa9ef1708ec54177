"""nbgrader's Execute with the test cells moved out of the student's kernel and every output capped.

Student cells run in the student's sandboxed kernel as usual. Test cells never do: their source (hidden tests
included) goes to the tester (autograder.tester), a separate sandboxed process, and this class relays the
tester's calls of student functions to the kernel as user expressions, callbacks back through the kernel's stdin
channel, and writes the tester's verdict as the cell's outputs. The student's code cannot reach the verdict.
"""
import ast
import contextlib
import json
import os
import select
import time

import zmq.asyncio
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution
from traitlets import Instance, Unicode

from autograder import sandbox, wire, zygote
from autograder.job import Job

CALLBACK_PROMPT = "\x00nncourse-callback:"
MAX_TEXT = 20_000  # characters of one error message or of a test's own printed output


def error_output(ename, evalue):
    """An error output that makes nbgrader give the cell zero."""
    evalue = str(evalue)[:MAX_TEXT]
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class TesterGone(Exception):
    """The tester process stopped answering (a timeout or a crash)."""


class TesterProcess:
    """A fresh tester (forked by this worker's zygote) and its JSON-line pipes, read with deadlines."""

    def __init__(self, argv, env, modules):
        try:
            self.writer, self.reader, self.kill = zygote.fork_tester(argv, env, modules)
        except zygote.ZygoteGone as error:
            raise TesterGone(str(error)) from None
        self.buffer = b""

    def send(self, message):
        """Write one message line."""
        try:
            self.writer.write(wire.dumps(message).encode() + b"\n")
            self.writer.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise TesterGone("the tester stopped") from None

    def receive(self, deadline):
        """Read one message line before the deadline."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                raise TesterGone("the test did not finish in time")
            chunk = os.read(self.reader, 1 << 20)
            if not chunk:
                raise TesterGone("the tester stopped")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return wire.loads(line.decode())

    def close(self):
        """Kill the tester and close its pipes."""
        self.kill()
        with contextlib.suppress(OSError):
            self.writer.close()
        with contextlib.suppress(OSError):
            os.close(self.reader)


def preloaded(job):
    """Modules every tester of the lesson imports anyway, imported once by the zygote: Keras for a Keras lesson."""
    return ["nncourse.feedback", "nncourse.reference"] + (["keras", "keras_wire"] if job.xla_cache else [])


class TestedExecute(Execute):
    """Execute student cells in the sandboxed kernel and test cells in the tester; cap time and output."""

    job = Instance(Job, help="the job being graded (autograder.runner puts it in the configuration)").tag(config=True)
    findings_path = Unicode("").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = sandbox.SandboxKernelManager
        super().__init__(*args, **kwargs)
        self.timeout = self.job.cell_timeout
        self.notebook_budget, self.output_limit = self.job.notebook_budget, self.job.output_limit
        self.interrupt_on_timeout = False  # a kernel that ignores interrupts must not hang the grader
        self.raise_on_iopub_timeout = False
        self.iopub_timeout = 15

    def preprocess(self, nb, resources=None, km=None):
        """Run the notebook with a fresh tester, then write the findings file for the runner."""
        self.findings, self.stopped, self.output_bytes, self.tester = [], None, 0, None
        self.started = time.monotonic()
        with contextlib.suppress(TesterGone):  # a tester that cannot start now is tried again at the first test
            self.start_tester()  # boots while the kernel starts and the student's cells run
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.tester:
                self.tester.close()
            if self.findings_path:
                with open(self.findings_path, "w") as handle:
                    json.dump({"findings": self.findings, "stopped": self.stopped}, handle)

    def note(self, text):
        """Record a finding once."""
        if text and text not in self.findings:
            self.findings.append(text)

    def stop(self, reason):
        """Stop the kernel: later cells are not run and score nothing."""
        self.stopped = reason
        self.note(reason)
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the kernel may already be gone
            pass

    def process_message(self, msg, cell, cell_index):
        """Count every output message against the notebook's cap; drop what exceeds it."""
        if msg["msg_type"] not in ("status", "execute_input"):
            self.output_bytes += len(json.dumps(msg.get("content", {}), default=str))
            if self.output_bytes > self.output_limit:
                self.note(f"output flood (more than {self.output_limit // 1000} kB): extra output dropped")
                return None
        return super().process_message(msg, cell, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        """Shorten error messages and tracebacks of student cells."""
        if msg["msg_type"] == "error":
            content = msg["content"]
            content["evalue"] = str(content.get("evalue", ""))[:MAX_TEXT]
            content["traceback"] = [str(line)[:MAX_TEXT] for line in content.get("traceback", [])[-30:]]
        return super().output(outs, msg, display_id, cell_index)

    def preprocess_cell(self, cell, resources, index):
        """Run one cell: a test in the tester, anything else in the kernel; a dead or stuck kernel stops the rest."""
        if cell.cell_type != "code":
            return cell, resources
        if self.notebook_budget and not self.stopped and time.monotonic() - self.started > self.notebook_budget:
            self.stop(f"notebook time limit ({self.notebook_budget:.0f} s) reached; later cells were not run")
        if self.stopped:
            cell.outputs = [error_output("GraderStopped", self.stopped)]
            return cell, resources
        if is_grade(cell) and not is_solution(cell):
            return self.run_test(cell, resources)
        try:
            super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:
            self.stop(f"a cell ran longer than {self.timeout} s (endless loop?); later cells were not run")
            cell.outputs.append(error_output("CellTimeoutError", self.stopped))
        except DeadKernelError:
            self.stop("the kernel died (killed, crashed or out of memory); later cells were not run")
            cell.outputs.append(error_output("DeadKernelError", self.stopped))
        for output in cell.outputs:
            if output.output_type == "error":  # nbgrader may add the execute reply's error, unshortened
                output.evalue = str(output.get("evalue", ""))[:MAX_TEXT]
                output.traceback = [str(line)[:MAX_TEXT] for line in output.get("traceback", [])[-30:]]
                if output.ename in ("MemoryError", "BlockingIOError"):
                    self.note("ran out of memory (limit)" if output.ename == "MemoryError" else "hit the process limit")
        return cell, resources

    def start_tester(self):
        """A new tester process, sent the lesson's setup imports (its answer is awaited before the first test)."""
        self.tester = TesterProcess(*sandbox.tester_argv(self.job), preloaded(self.job))
        self.tester.send({"op": "setup", "bindings": self.job.bindings})
        self.tester_ready = False

    def run_test(self, cell, resources):
        """Run a test cell in the tester, relaying its calls to the kernel; its verdict becomes the outputs."""
        cell.outputs = []
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "a test")
        try:
            if self.tester is None:
                self.start_tester()
            if not self.tester_ready:
                self.tester.receive(time.monotonic() + max(120, self.timeout or 0))
                self.tester_ready = True
            deadline = time.monotonic() + (self.timeout or 60)
            self.tester.send({"op": "test", "source": cell.source})
            while True:
                message = self.tester.receive(deadline)
                if "verdict" in message:
                    break
                self.tester.send({"reply": self.relay(message, deadline)})
        except (TesterGone, wire.NotPlainData) as error:
            if self.tester:
                self.tester.close()
            self.tester = None
            cell.outputs = [error_output("GraderTimeout", f"{grade_id}: {error}")]
            self.note(f"{grade_id}: {error}")
            if isinstance(error, TesterGone) and "in time" in str(error):
                self.stop(f"{grade_id} ran longer than {self.timeout} s; later cells were not run")
            return cell, resources
        verdict = message["verdict"] if type(message["verdict"]) is dict else {}
        printed = str(verdict.get("stdout", ""))[:MAX_TEXT]
        if printed:
            cell.outputs.append(new_output("stream", name="stdout", text=printed))
        if verdict.get("status") != "ok":
            cell.outputs.append(error_output(str(verdict.get("ename", "Error"))[:100], verdict.get("evalue", "")))
        return cell, resources

    def relay(self, message, deadline):
        """Answer a tester request through the student's kernel; a kernel that misbehaves answers 'broken'."""
        return run_sync(self.ask_kernel)(message, deadline)

    async def ask_kernel(self, message, deadline):
        """Send one request as a user expression, serving callbacks from the kernel's stdin channel."""
        expression = f"__import__('_nncourse_call').serve({wire.dumps(message)!r})"
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"r": expression},
                                 allow_stdin=True, stop_on_error=False)
        stdin, shell = self.kc.stdin_channel, self.kc.shell_channel
        poller = zmq.asyncio.Poller()  # sleeps until the kernel answers: no polling loop competing for the CPU
        poller.register(stdin.socket, zmq.POLLIN)
        poller.register(shell.socket, zmq.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop("a test's call of your code did not return in time; later cells were not run")
                return {"broken": "your function did not return in time"}
            ready = dict(await poller.poll(timeout=min(left, 0.5) * 1000))
            if stdin.socket in ready:
                request = await stdin.get_msg(timeout=1)
                if request["parent_header"].get("msg_id") == msg_id:
                    self.kc.input(self.callback(request, deadline))
            elif shell.socket in ready:
                reply = await shell.get_msg(timeout=1)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return answer_of(reply)
            elif not await self.kc.is_alive():  # checked twice a second while the kernel is silent
                self.stop("the kernel died (killed, crashed or out of memory); later cells were not run")
                return {"broken": "the kernel died"}

    def callback(self, request, deadline):
        """Pass a callback from the student's code to the tester and return the tester's answer as text."""
        prompt = str(request["content"].get("prompt", ""))
        if not prompt.startswith(CALLBACK_PROMPT):
            return ""
        try:
            asked = wire.loads(prompt[len(CALLBACK_PROMPT):])
            number = wire.expect(asked.get("callback"), int)
            self.tester.send({"callback": number, "args": asked.get("args"), "kwargs": asked.get("kwargs")})
            return wire.dumps(self.tester.receive(deadline))
        except wire.NotPlainData:
            return wire.dumps({"raised": "malformed callback"})


def answer_of(reply):
    """The JSON answer inside an execute_reply's user expression, or a 'broken' answer."""
    value = reply.get("content", {}).get("user_expressions", {}).get("r", {})
    try:
        text = value["data"]["text/plain"]
        answer = wire.loads(ast.literal_eval(text))
    except (KeyError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError, wire.NotPlainData):
        return {"broken": "your kernel did not answer the test's call (was the kernel changed?)"}
    return answer
