"""One submission's grading job: the typed record that goes from the coordinator to a worker (and, filled in, back)."""
import dataclasses
import json
from dataclasses import dataclass


@dataclass
class Job:
    """What a worker needs to grade one notebook; paths are the worker's own (`placed` moves them)."""

    sid: str
    lesson: str
    key: str  # cache key: the submission's bytes, the lesson version and the options
    notebook: str  # the rebuilt notebook to grade
    scratch: str  # the runner's private nbgrader course for this job
    template_db: str  # the lesson's gradebook template
    course: str  # the read-only copy of nncourse cut at this lesson
    mplconfig: str  # matplotlib's prebuilt font cache
    sandbox: bool
    limits: dict
    bindings: dict  # names the lesson's setup cell imports: name -> [module, attribute]
    cell_timeout: int
    notebook_budget: int
    output_limit: int
    result_file: str = ""  # where a local runner writes its result
    timestamp: str | None = None  # nbgrader exchange submissions only
    xla_cache: str = ""  # the lesson's read-only XLA compile cache ("" for a lesson without Keras)
    kerneldir: str = ""  # set by the runner: the short /tmp folder of the kernel's sockets and notebook

    def placed(self, **paths):
        """A copy with some paths changed (a Dask worker unpacks the lesson and the notebook elsewhere)."""
        return dataclasses.replace(self, **paths)

    def to_json(self):
        """The job as JSON text (a job file, or a Dask task's argument)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text):
        """The job from to_json's text; unknown or missing fields raise TypeError."""
        return cls(**json.loads(text))
