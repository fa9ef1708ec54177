"""Find submissions in a folder, an LMS zip download or nbgrader's exchange, and map them to student ids."""
import contextlib
import hashlib
import os
import re
import shutil
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

MAX_ZIP_BYTES = 2 * 1024**3  # everything unpacked from one zip (zip bombs)
MAX_ZIP_FILES = 200_000
MAX_UPLOAD_BYTES = 256 * 1024**2  # one student's upload (top-level file or folder of the zip)
MAX_UPLOAD_FILES = 500
MAX_ID_LENGTH = 64
MAX_STAMP_BYTES = 200
SKIPPED_PARTS = ("__MACOSX", ".ipynb_checkpoints", ".DS_Store")
STAMP = "timestamp.txt"
NOT_IDS = ("submitted", "submissions")  # folder names that are never a student

# Named group `sid` is the student id; `late` (optional) marks an LMS late flag. Tried in order, each
# anchored at the top of SUBMISSIONS: whatever lies inside a student's upload belongs to that student.
DEFAULT_PATTERNS = (
    ("moodle", r"\A[^/]*?_(?P<sid>\d+)_assignsubmission_file_[^/]*(?:/.*)?\.ipynb\Z"),
    ("canvas", r"\A[a-z0-9-]+_(?:(?P<late>late)_)?(?P<sid>\d+)_\d+_[^/]*\.ipynb\Z"),
    ("exchange", r"\A(?:submitted/)?(?P<sid>[^/]+)/{lesson}/[^/]+\.ipynb\Z"),
    ("folder", r"\A(?P<sid>[^/]+)/[^/]*{lesson}[^/]*\.ipynb\Z"),
    ("plain", r"\A(?P<sid>[^/]+)\.ipynb\Z"),
)
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
    raw_id: str = ""


@dataclass
class Collection:
    """Everything found: graded submissions and the files that were not used, with reasons."""

    submissions: dict = field(default_factory=dict)
    unmatched: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)


class Hit(NamedTuple):
    """A path's student: final id, layout name, LMS late flag, id as written in the path."""

    sid: str
    scheme: str
    late: bool
    raw: str


class Unpacked(type(Path())):
    """The folder a zip was unpacked into; `skipped` lists (entry, reason) of what was not unpacked."""

    skipped: list


def printable(text):
    """Text safe to show anywhere: undecodable bytes and control/invisible characters as \\x.. escapes."""
    return "".join(char if char.isprintable() else escape_char(char) for char in str(text))


def escape_char(char):
    """One non-printable character as an escape; a byte that was not UTF-8 shows as that byte."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_id(raw):
    """A student id nbgrader and the filesystem accept, unique per raw id: unchanged when already valid."""
    if len(raw) <= MAX_ID_LENGTH and VALID_ID.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{transliterate(raw)[:MAX_ID_LENGTH - 9] or 'id'}-{digest}"


def transliterate(raw):
    """ASCII letters and digits of an id (accents dropped), every other run of characters as one '_'."""
    kept = "".join(c if c.isascii() and c.isalnum() else "" if unicodedata.combining(c) else "_"
                   for c in unicodedata.normalize("NFKD", raw))
    return re.sub(r"_+", "_", kept).strip("_")


@contextlib.contextmanager
def names_as_cp437():
    """Read every zip entry name as cp437, i.e. byte for byte: a flagged name that is not UTF-8 would
    make zipfile refuse the whole archive. Not thread-safe: zipfile offers no other way."""
    saved, zipfile._MASK_UTF_FILENAME = zipfile._MASK_UTF_FILENAME, 0
    try:
        yield
    finally:
        zipfile._MASK_UTF_FILENAME = saved


def entry_name(entry):
    """The entry's name from its bytes: UTF-8, else legacy cp437, else UTF-8 with undecodable bytes kept."""
    raw = entry.filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        flagged_utf8 = entry.flag_bits & (1 << 11)
        return raw.decode("utf-8", "surrogateescape") if flagged_utf8 else entry.filename


def entry_parts(name):
    """Path parts of an entry name inside the destination, or None when it points outside."""
    name = name.replace("\\", "/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts or not parts:
        return None
    return parts


def upload_of(parts):
    """The student upload an entry belongs to: its top-level file or folder (exchange: submitted/ID)."""
    return tuple(parts[:2]) if len(parts) > 2 and parts[0].lower() == "submitted" else tuple(parts[:1])


@dataclass
class Budget:
    """What a zip may still unpack: in total and per student upload."""

    files: int = 0
    size: int = 0
    uploads: dict = field(default_factory=dict)

    def refuse(self, parts, size):
        """Why an entry of this size may not be unpacked (None: it may, and is counted)."""
        files, used = self.uploads.get(upload_of(parts), (0, 0))
        if files >= MAX_UPLOAD_FILES:
            return f"more than {MAX_UPLOAD_FILES} files in one upload: skipped"
        if used + size > MAX_UPLOAD_BYTES:
            return f"more than {MAX_UPLOAD_BYTES // 1024**2} MB in one upload: skipped"
        if self.files >= MAX_ZIP_FILES or self.size + size > MAX_ZIP_BYTES:
            return "zip size cap reached (zip bomb protection): skipped"
        self.uploads[upload_of(parts)] = (files + 1, used + size)
        self.files, self.size = self.files + 1, self.size + size
        return None


def entry_problem(entry):
    """Why a zip entry is not a plain file to unpack (None when it is)."""
    mode = entry.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "not a regular file"
    if entry.flag_bits & 0x1:
        return "encrypted zip entry"
    return None


def unpack(bundle, entry, target):
    """Write one entry to a new file (never over an existing one); return a reason when it fails."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if isinstance(error, FileExistsError) and error.filename == str(target) and target.is_file():
            return "same name as another entry of the zip"
        return f"could not be unpacked ({error.strerror or error})"
    try:
        with os.fdopen(handle, "wb") as out, bundle.open(entry) as data:
            shutil.copyfileobj(data, out)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError) as error:
        target.unlink(missing_ok=True)
        return f"damaged zip entry ({printable(error)})"
    set_time(target, entry.date_time)
    return None


def set_time(target, date_time):
    """Give an unpacked file its zip entry time (the LMS's upload time); an impossible date is left out."""
    try:
        stamp = datetime(*date_time).timestamp()
        os.utime(target, (stamp, stamp))
    except (ValueError, OverflowError, OSError):
        pass


def extract_zip(archive, destination):
    """Unpack an LMS zip safely (nothing outside destination, per-upload and total caps); return destination
    with `skipped`, the entries not unpacked and why."""
    destination = Unpacked(destination)
    destination.skipped = []
    destination.mkdir(parents=True, exist_ok=True)
    budget = Budget()
    try:
        with names_as_cp437(), zipfile.ZipFile(archive) as bundle:
            for entry in bundle.infolist():
                if entry.is_dir():
                    continue
                name = entry_name(entry)
                parts = entry_parts(name)
                problem = ("path outside the upload folder (zip slip)" if parts is None else
                           entry_problem(entry) or budget.refuse(parts, entry.file_size)
                           or unpack(bundle, entry, destination.joinpath(*parts)))
                if problem:
                    destination.skipped.append((printable(name), problem))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise SubmissionError(f"{archive}: not a readable zip file ({printable(error)})") from None
    return destination


def hidden(name):
    """True for system and hidden files and folders (checkpoints, macOS resource forks, dot files)."""
    return name in SKIPPED_PARTS or name.startswith(".")


def walk(root):
    """(relative parts, path, problem) of every file under root; links are never followed, odd files
    come with a problem and no path."""
    pending = [()]
    while pending:
        parts = pending.pop()
        try:
            with os.scandir(os.path.join(root, *parts)) as listing:
                entries = list(listing)
        except OSError as error:
            if not parts:
                raise SubmissionError(f"{root}: cannot read the folder ({error.strerror})") from None
            yield parts, None, f"folder could not be read ({error.strerror})"
            continue
        for entry in entries:
            yield from visit(entry, parts + (entry.name,), pending)


def visit(entry, parts, pending):
    """What walk reports for one directory entry; folders to search are added to pending."""
    try:
        if entry.is_symlink():
            yield parts, None, "symbolic link"
        elif entry.is_dir(follow_symlinks=False):
            if hidden(entry.name):
                yield parts, None, "hidden or system folder (not searched)"
            else:
                pending.append(parts)
        elif not entry.is_file(follow_symlinks=False):
            yield parts, None, "not a regular file"
        elif hidden(entry.name):
            yield parts, None, "hidden or system file"
        else:
            yield parts, Path(entry.path), None
    except OSError as error:
        yield parts, None, f"could not be read ({error.strerror})"


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
    return [(name, re.compile(text.format(lesson=re.escape(lesson)), re.IGNORECASE | re.DOTALL))
            for name, text in DEFAULT_PATTERNS]


def match(relpath, patterns, lesson):
    """The Hit (student id, pattern name, late flag, raw id) for a relative path, or None."""
    for name, pattern in patterns:
        found = pattern.search(relpath)
        if not found or not found.group("sid"):
            continue
        sid = found.group("sid")
        if name in ("exchange", "folder", "plain") and sid.lower() in (lesson.lower(), *NOT_IDS):
            continue
        return Hit(safe_id(sid), name, bool(found.groupdict().get("late")), sid)
    return None


def read_stamp(path):
    """The time in nbgrader's timestamp.txt beside an exchange notebook: (datetime or None, flag or None)."""
    stamp = path.parent / STAMP
    try:
        if not stat.S_ISREG(os.lstat(stamp).st_mode):
            return None, f"{STAMP} is not a regular file: ignored"
        handle = os.open(stamp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(handle, "rb") as source:
            text = source.read(MAX_STAMP_BYTES).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return None, None
    except OSError:
        return None, f"{STAMP} could not be read: ignored"
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f %Z")):
        try:
            value = parse(text)
            return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)), None
        except (ValueError, OverflowError):
            continue
    return None, f"{STAMP} is not a date ({printable(text[:40])}): ignored"


def file_time(path):
    """The file's modification time (for an LMS zip: the LMS's upload time), or None when it has none."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except (OSError, OverflowError, ValueError):
        return None


def candidate(path, parts, hit):
    """A Submission for a matched notebook, with its time: exchange timestamp.txt, else the file time."""
    entry = Submission(hit.sid, path, printable("/".join(parts)), scheme=hit.scheme, raw_id=hit.raw)
    if hit.scheme == "exchange":
        entry.timestamp, problem = read_stamp(path)
        if problem:
            entry.flags.append(problem)
    entry.timestamp = entry.timestamp or file_time(path)
    if hit.late:
        entry.flags.append("late (LMS)")
    return entry


def readable(path):
    """True when the grader can open the file (without following a link swapped in since the walk)."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK))
        return True
    except OSError:
        return False


def classify(parts, path, patterns, lesson):
    """A Submission for one file, the reason it is not used, or None for a timestamp.txt (decided later)."""
    relpath = "/".join(parts)
    if parts[-1] == STAMP:
        return None
    if not parts[-1].lower().endswith(".ipynb"):
        return "not a notebook (.ipynb)"
    if not readable(path):
        return "could not be read"
    hit = match(relpath, patterns, lesson)
    if hit is None:
        return "no student id in the path (layouts are read from the top of SUBMISSIONS; see --pattern)"
    return candidate(path, parts, hit)


def collect(folder, lesson, pattern=None, deadline=None):
    """Map every file under folder to a student; report unmatched, duplicate, late and refused files."""
    found = Collection(unmatched=list(getattr(folder, "skipped", [])))
    patterns = compile_patterns(lesson, pattern)
    candidates, stamps = {}, {}
    for parts, path, problem in walk(Path(folder)):
        outcome = problem or classify(parts, path, patterns, lesson)
        if isinstance(outcome, Submission):
            candidates.setdefault(outcome.sid, []).append(outcome)
        elif outcome is None:
            stamps[path.parent] = printable("/".join(parts))
        else:
            found.unmatched.append((printable("/".join(parts)), outcome))
    account_stamps(stamps, candidates, found)
    for sid, entries in candidates.items():
        if refuse_collision(entries, found):
            continue
        found.submissions[sid] = choose(entries, found, deadline)
    found.unmatched.sort()
    found.duplicates.sort()
    return found


def account_stamps(stamps, candidates, found):
    """List every timestamp.txt not beside an exchange-layout notebook as not used (LMS times come from the LMS)."""
    used = {entry.path.parent for entries in candidates.values() for entry in entries if entry.scheme == "exchange"}
    for folder in stamps.keys() - used:
        found.unmatched.append((stamps[folder], "only read beside a notebook in nbgrader's exchange layout: ignored"))


def refuse_collision(entries, found):
    """True (and all listed as not used) when different raw ids ended up as the same student id."""
    raws = sorted({entry.raw_id for entry in entries})
    if len(raws) < 2:
        return False
    for entry in entries:
        others = ", ".join(repr(printable(raw)) for raw in raws if raw != entry.raw_id)
        found.unmatched.append((entry.relpath, f"student id {entry.sid} collides with {others}: refused"))
    return True


def choose(entries, found, deadline):
    """The newest of one student's files; the older ones are listed as duplicates; lateness flagged."""
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    entries.sort(key=lambda e: (e.timestamp or oldest, e.relpath))
    chosen = entries[-1]
    for older in entries[:-1]:
        found.duplicates.append((older.relpath, f"{chosen.sid}: older duplicate, graded {chosen.relpath} instead"))
    if len(entries) > 1:
        chosen.flags.append(f"{len(entries)} files submitted, graded the newest")
    if deadline and chosen.timestamp and chosen.timestamp > deadline:
        hours = (chosen.timestamp - deadline).total_seconds() / 3600
        chosen.flags.append(f"late by {hours:.1f} h")
    return chosen


def parse_deadline(text):
    """An ISO date/time (UTC unless it says otherwise), or a SubmissionError."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SubmissionError(f"--deadline {text!r} is not an ISO date such as 2025-03-01T23:59") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
