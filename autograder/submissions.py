"""Find submissions in a folder, an LMS zip download or nbgrader's exchange, and map them to student ids."""
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

MAX_ZIP_BYTES = 2 * 1024**3
MAX_ZIP_ENTRIES = 20000
SKIPPED_PARTS = ("__MACOSX", ".ipynb_checkpoints", ".DS_Store")

# Named group `sid` is the student id; `late` (optional) marks an LMS late flag. Tried in order.
DEFAULT_PATTERNS = (
    ("exchange", r"(?:^|/)(?P<sid>[^/]+)/{lesson}/[^/]+\.ipynb$"),
    ("moodle", r"(?:^|/)[^/]*?_(?P<sid>\d+)_assignsubmission_file_[^/]*(?:/.*)?\.ipynb$"),
    ("canvas", r"(?:^|/)[a-z0-9-]+_(?:(?P<late>late)_)?(?P<sid>\d+)_\d+_[^/]*\.ipynb$"),
    ("folder", r"(?:^|/)(?P<sid>[^/]+)/[^/]*{lesson}[^/]*\.ipynb$"),
    ("plain", r"(?:^|/)(?P<sid>[^/]+)\.ipynb$"),
)


class SubmissionError(Exception):
    """Bad input the instructor has to fix (one line)."""


@dataclass
class Submission:
    """One student's chosen notebook, plus what was noticed while finding it."""

    sid: str
    path: Path
    relpath: str
    timestamp: datetime | None = None
    flags: list = field(default_factory=list)
    scheme: str = ""


@dataclass
class Collection:
    """Everything found: graded submissions and the files that were not used, with reasons."""

    submissions: dict = field(default_factory=dict)
    unmatched: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)


def safe_id(raw):
    """A student id nbgrader accepts: letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw).strip("._") or "unknown"


def extract_zip(archive, destination):
    """Unpack an LMS zip safely (no paths outside destination, size and entry caps); return destination."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = bundle.infolist()
            if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_ZIP_BYTES:
                raise SubmissionError(f"{archive}: zip is too large to unpack safely")
            for entry in entries:
                parts = PurePosixPath(entry.filename.replace("\\", "/")).parts
                if entry.is_dir() or not parts or any(p in ("..", "") for p in parts) or parts[0].startswith("/"):
                    continue
                target = Path(destination, *parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(bundle.read(entry))
                stamp = datetime(*entry.date_time).timestamp()
                os.utime(target, (stamp, stamp))
    except zipfile.BadZipFile as error:
        raise SubmissionError(f"{archive}: not a readable zip file ({error})") from None
    return Path(destination)


def read_timestamp(path):
    """nbgrader's timestamp.txt beside a notebook (exchange collections), or the file's mtime."""
    stamp = path.parent / "timestamp.txt"
    if stamp.exists():
        text = stamp.read_text().strip()
        for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f %Z")):
            try:
                value = parse(text)
                return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            except ValueError:
                continue
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


def compile_patterns(lesson, custom=None):
    """(name, regex) pairs to try: the instructor's pattern alone, or the defaults."""
    if custom:
        try:
            pattern = re.compile(custom, re.IGNORECASE)
        except re.error as error:
            raise SubmissionError(f"--pattern is not a valid regular expression: {error}") from None
        if "sid" not in pattern.groupindex:
            raise SubmissionError("--pattern needs a named group (?P<sid>...) for the student id")
        return [("custom", pattern)]
    return [(name, re.compile(text.format(lesson=re.escape(lesson)), re.IGNORECASE))
            for name, text in DEFAULT_PATTERNS]


def match(relpath, patterns, lesson):
    """(student id, pattern name, late flag) for a relative path, or None."""
    for name, pattern in patterns:
        found = pattern.search(relpath)
        if not found:
            continue
        sid = found.group("sid")
        if name in ("folder", "plain") and sid.lower() in (lesson.lower(), "submitted", "submissions"):
            continue
        late = bool(found.groupdict().get("late"))
        return safe_id(sid), name, late
    return None


def collect(folder, lesson, pattern=None, deadline=None):
    """Map every file under folder to a student; report unmatched, duplicate and late files."""
    folder = Path(folder)
    patterns = compile_patterns(lesson, pattern)
    found = Collection()
    candidates = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relpath = path.relative_to(folder).as_posix()
        if any(part in SKIPPED_PARTS or part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.name == "timestamp.txt":
            continue
        if not path.name.lower().endswith(".ipynb"):
            found.unmatched.append((relpath, "not a notebook (.ipynb)"))
            continue
        hit = match(relpath, patterns, lesson)
        if hit is None:
            found.unmatched.append((relpath, "no student id in the name (see --pattern)"))
            continue
        sid, scheme, late = hit
        entry = Submission(sid, path, relpath, read_timestamp(path), scheme=scheme)
        if late:
            entry.flags.append("late (LMS)")
        candidates.setdefault(sid, []).append(entry)
    for sid, entries in candidates.items():
        entries.sort(key=lambda e: (e.timestamp, e.relpath))
        chosen = entries[-1]
        for older in entries[:-1]:
            found.duplicates.append((older.relpath, f"{sid}: older duplicate, graded {chosen.relpath} instead"))
        if len(entries) > 1:
            chosen.flags.append(f"{len(entries)} files submitted, graded the newest")
        if deadline and chosen.timestamp and chosen.timestamp > deadline:
            hours = (chosen.timestamp - deadline).total_seconds() / 3600
            chosen.flags.append(f"late by {hours:.1f} h")
        found.submissions[sid] = chosen
    return found


def parse_deadline(text):
    """An ISO date/time (UTC unless it says otherwise), or a SubmissionError."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SubmissionError(f"--deadline {text!r} is not an ISO date such as 2025-03-01T23:59") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
