"""nbgrader's Execute with the grading guard around every test cell, output caps and kernel-death handling."""
import ast
import json
import secrets
import time

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade
from traitlets import Float, Integer, Unicode

LIMIT_ERRORS = {"CellTimeoutError": "a cell hit the time limit (endless loop?)", "MemoryError": "ran out of memory (limit)",
                "BlockingIOError": "hit the process limit (fork bomb?)"}


def error_output(ename, evalue):
    """An error output that makes nbgrader give the cell zero."""
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """Execute cells; reset and verify the kernel around test cells; never trust a test that was tampered with."""

    findings_path = Unicode("").tag(config=True)
    notebook_budget = Float(0.0, help="seconds for the whole notebook (0: no limit)").tag(config=True)
    output_limit = Integer(2_000_000, help="bytes of output kept per notebook").tag(config=True)

    def __init__(self, *args, **kwargs):
        from autograder.sandbox import SandboxKernelManager

        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        """Run the notebook, then write the findings file for the runner."""
        self.findings, self.stopped, self.output_bytes = [], None, 0
        self.started = time.monotonic()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.findings_path:
                with open(self.findings_path, "w") as handle:
                    json.dump({"findings": self.findings, "stopped": self.stopped}, handle)

    def note(self, text):
        """Record a finding once."""
        if text and text not in self.findings:
            self.findings.append(text)

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most output_limit bytes of output per notebook (errors always pass)."""
        content = msg.get("content", {})
        self.output_bytes += len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        if self.output_bytes > self.output_limit and msg["msg_type"] != "error":
            self.note(f"output flood (more than {self.output_limit // 1000} kB): extra output dropped")
            return None
        return super().output(outs, msg, display_id, cell_index)

    def preprocess_cell(self, cell, resources, index):
        """Run one cell, unless the kernel died or the notebook ran out of time."""
        if cell.cell_type != "code":
            return cell, resources
        if self.notebook_budget and not self.stopped and time.monotonic() - self.started > self.notebook_budget:
            self.stopped = f"notebook time limit ({self.notebook_budget:.0f} s) reached"
            self.note(self.stopped)
        if self.stopped:
            cell.outputs = [error_output("GraderStopped", self.stopped)]
            return cell, resources
        try:
            if is_grade(cell):
                return self.run_test(cell, resources, index)
            super().preprocess_cell(cell, resources, index)
            for output in cell.outputs:
                if output.output_type == "error" and output.ename in LIMIT_ERRORS:
                    self.note(LIMIT_ERRORS[output.ename])
            return cell, resources
        except DeadKernelError:
            self.stopped = "the kernel died (killed, crashed or out of memory); later cells were not run"
            self.note(self.stopped)
            cell.outputs.append(error_output("DeadKernelError", self.stopped))
            return cell, resources

    def guard_call(self, call, nonce, index):
        """Evaluate one guard function as a user expression (no input/AST transformers); its report or None."""
        expression = f"__import__('_grader_guard').{call}({nonce!r})"
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"report": expression})
        reply = self.wait_for_reply(msg_id) or {}
        value = reply.get("content", {}).get("user_expressions", {}).get("report", {})
        try:
            report = json.loads(ast.literal_eval(value["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError, TypeError):
            self.log.warning("grading guard gave no report: %s", str(value)[:300])
            return None
        return report if report.get("nonce") == nonce else None

    def run_test(self, cell, resources, index):
        """Reset the kernel, run the test cell with a completion mark, then verify nothing was tampered with."""
        nonce = secrets.token_hex(16)
        before = self.guard_call("before", nonce, index)
        original = cell.source
        cell.source = original.rstrip() + f"\n__import__('_grader_guard').mark({nonce!r})\n"
        try:
            super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = original
        after = self.guard_call("after", nonce, index)
        problems = []
        if before is None or after is None:
            problems.append("the grading guard did not answer (kernel internals tampered with)")
        else:
            for text in before.get("findings", []) + after.get("findings", []):
                self.note(text)
            failed = any(o.output_type == "error" for o in cell.outputs)
            if not after.get("completed") and not failed:
                problems.append("the test cell did not run to its end")
            problems += after.get("dirty", []) + [f"environment tainted: {t}" for t in after.get("taint", [])]
        forged = [o for o in cell.outputs if o.output_type == "execute_result"]
        if forged:
            problems.append("a test cell produced a result value (forged partial credit)")
            cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"]
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", index)
        for problem in problems:
            self.note(f"{grade_id}: {problem}")
        if problems and not any(o.output_type == "error" for o in cell.outputs):
            cell.outputs.append(error_output("GraderIntegrityError", "; ".join(problems)))
        return cell, resources
