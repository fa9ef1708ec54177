"""Attacks on finding submissions and reporting on them: odd names and trees, forged identity or time,
injection into the reports, relative paths. None may stop the batch or go unaccounted."""
import csv
import hashlib
import os
import socket
import zipfile
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from autograder import cli, gradebook, report, submissions

LESSON = "01_neuron"
MOODLE = "Ann Lee_11111_assignsubmission_file_"
OLD = 1_000_000_000  # 2001-09-09
DEADLINE = datetime(2005, 1, 1, tzinfo=timezone.utc)


def put(root, relpath, text="{}", mtime=None):
    """Write a file (making its folders); return its path."""
    path = root.joinpath(*relpath.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def tree(root):
    """Every non-folder entry under root (links not followed), as display relpaths."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            found.add(submissions.printable(os.path.relpath(os.path.join(folder, name), root)))
    return found


def accounted(found):
    """Display relpaths the collection graded or listed as not used."""
    return ({s.relpath for s in found.submissions.values()} | {p for p, _ in found.unmatched}
            | {p for p, _ in found.duplicates})


def reasons(found):
    """relpath -> reason of every file not used."""
    return dict(found.unmatched + found.duplicates)


def assert_all_accounted(root, found, consumed=()):
    """Every file is graded, listed, or an exchange timestamp.txt that was read."""
    listed = accounted(found)
    missing = {p for p in tree(root) - listed - set(consumed) if not any(p.startswith(d + "/") for d in listed)}
    assert not missing


def make_zip(path, entries):
    """A zip of name -> bytes."""
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2001, 1, 1, 0, 0, 0))
            bundle.writestr(info, data)
    return path


def zip_with_raw_name(path, raw_name, utf8_flag):
    """A zip with one ok entry and one whose name is raw bytes (patched in after writing)."""
    placeholder = "P" * len(raw_name) + ".ipynb"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("ok.ipynb", "{}")
        info = zipfile.ZipInfo(placeholder, date_time=(2001, 1, 1, 0, 0, 0))
        info.flag_bits |= 0x800 if utf8_flag else 0
        bundle.writestr(info, "{}")
    data = path.read_bytes().replace(placeholder.encode(), raw_name + b".ipynb")
    path.write_bytes(data)
    return path


# 1. No file name or tree shape stops the batch; every file is accounted for.

def test_folder_named_timestamp_txt(tmp_path):
    put(tmp_path, f"ada/{LESSON}/timestamp.txt/inner.ipynb")
    put(tmp_path, f"ada/{LESSON}/{LESSON}.ipynb")
    put(tmp_path, "timestamp.txt/01_neuron.ipynb")
    found = submissions.collect(tmp_path, LESSON)
    assert "ada" in found.submissions
    assert "timestamp.txt is not a regular file: ignored" in found.submissions["ada"].flags
    assert_all_accounted(tmp_path, found)


def test_undecodable_file_names(tmp_path):
    os.makedirs(os.path.join(os.fsencode(tmp_path), b"b\xffb"))
    for name in (b"\xff\xfe.ipynb", b"b\xffb/01_neuron.ipynb", b"notes\xff.txt"):
        with open(os.path.join(os.fsencode(tmp_path), name), "w") as handle:
            handle.write("{}")
    found = submissions.collect(tmp_path, LESSON)
    assert len(found.submissions) == 2
    assert all(sid.isascii() for sid in found.submissions)
    assert {s.relpath for s in found.submissions.values()} == {"\\xff\\xfe.ipynb", "b\\xffb/01_neuron.ipynb"}
    assert ("notes\\xff.txt", "not a notebook (.ipynb)") in found.unmatched
    report_and_csv(tmp_path, found)


@pytest.mark.parametrize("raw, flagged", [(b"\xff\xfe_bad", True), (b"caf\x82", False), ("ü".encode(), True)])
def test_zip_entry_names_that_are_not_utf8(tmp_path, raw, flagged):
    archive = zip_with_raw_name(tmp_path / "class.zip", raw, flagged)
    folder = submissions.extract_zip(archive, tmp_path / "out")
    found = submissions.collect(folder, LESSON)
    assert "ok" in found.submissions and len(found.submissions) == 2
    assert found.unmatched == []


def test_very_long_names(tmp_path):
    long = "a" * 240
    put(tmp_path, f"{long}.ipynb")
    put(tmp_path, f"{'b' * 200}/{'a' * 200}_{LESSON}.ipynb")
    found = submissions.collect(tmp_path, LESSON)
    assert len(found.submissions) == 2
    assert all(len(sid) <= submissions.MAX_ID_LENGTH for sid in found.submissions)
    archive = make_zip(tmp_path / "class.zip", {f"{'c' * 300}.ipynb": b"{}", "ok.ipynb": b"{}"})
    folder = submissions.extract_zip(archive, tmp_path / "out")
    assert folder.skipped and "could not be unpacked" in folder.skipped[0][1]
    assert list(submissions.collect(folder, LESSON).submissions) == ["ok"]


def test_links_and_special_files_are_listed_not_followed(tmp_path):
    outside = put(tmp_path / "outside", "secret.ipynb")
    root = tmp_path / "subs"
    put(root, "ada.ipynb")
    (root / "eve.ipynb").symlink_to(outside)
    (root / "mal").symlink_to(outside.parent, target_is_directory=True)
    (root / "loop").mkdir()
    (root / "loop" / "self").symlink_to(root / "loop", target_is_directory=True)
    os.mkfifo(root / "fifo.ipynb")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock.ipynb"))
    try:
        found = submissions.collect(root, LESSON)
    finally:
        server.close()
    assert list(found.submissions) == ["ada"]
    why = reasons(found)
    assert why["eve.ipynb"] == why["mal"] == why["loop/self"] == "symbolic link"
    assert why["fifo.ipynb"] == why["sock.ipynb"] == "not a regular file"


def test_unreadable_notebook_is_listed(tmp_path, monkeypatch):
    put(tmp_path, "ada.ipynb")
    put(tmp_path, "bob.ipynb")
    real_open = os.open

    def denying_open(path, *args):
        if str(path).endswith("bob.ipynb"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", denying_open)
    found = submissions.collect(tmp_path, LESSON)
    assert list(found.submissions) == ["ada"] and reasons(found) == {"bob.ipynb": "could not be read"}


def test_one_students_many_files_do_not_block_the_class(tmp_path):
    many = {f"{MOODLE}/{LESSON}.ipynb": b"{}"}
    many.update({f"{MOODLE}/junk/{n}.txt": b"x" for n in range(20_050)})
    many["Bo Ng_22222_assignsubmission_file_01_neuron.ipynb"] = b"{}"
    archive = make_zip(tmp_path / "class.zip", many)
    folder = submissions.extract_zip(archive, tmp_path / "out")
    found = submissions.collect(folder, LESSON)
    assert set(found.submissions) == {"11111", "22222"}
    capped = [p for p, why in folder.skipped if "files in one upload" in why]
    assert len(capped) == 20_051 - submissions.MAX_UPLOAD_FILES
    assert len(found.unmatched) == 20_050  # every junk file: unpacked and not a notebook, or capped


def test_byte_caps_per_upload_and_per_zip(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "MAX_UPLOAD_BYTES", 1000)
    monkeypatch.setattr(submissions, "MAX_ZIP_BYTES", 3000)
    entries = {f"{MOODLE}/big{n}.bin": b"x" * 600 for n in range(3)}
    entries.update({f"s{n}.ipynb": b"x" * 900 for n in range(5)})
    folder = submissions.extract_zip(make_zip(tmp_path / "class.zip", entries), tmp_path / "out")
    why = dict(folder.skipped)
    assert "in one upload" in why[f"{MOODLE}/big1.bin"]
    assert sum("zip bomb" in reason for reason in why.values()) == 3
    assert_all_accounted(folder, submissions.collect(folder, LESSON))


def test_zip_slip_links_duplicates_and_clashes_are_listed(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle, pytest.warns(UserWarning, match="Duplicate name"):
        for name in ("../../escape.ipynb", "/abs.ipynb", "a\\..\\..\\win.ipynb", "dup.ipynb", "dup.ipynb",
                     "clash", "clash/x.ipynb"):
            bundle.writestr(zipfile.ZipInfo(name), "{}")
        link = zipfile.ZipInfo("link.ipynb")
        link.external_attr = (0o120777 << 16)
        bundle.writestr(link, "/etc/passwd")
    folder = submissions.extract_zip(archive, tmp_path / "out")
    why = dict(folder.skipped)
    assert not (tmp_path / "escape.ipynb").exists() and not (tmp_path / "win.ipynb").exists()
    assert (why["../../escape.ipynb"] == why["/abs.ipynb"] == why["a\\..\\..\\win.ipynb"]
            == "path outside the upload folder (zip slip)")
    assert why["link.ipynb"] == "symbolic link" and not (folder / "link.ipynb").exists()
    assert "another entry" in why["dup.ipynb"] and "could not be unpacked" in why["clash/x.ipynb"]
    assert set(submissions.collect(folder, LESSON).submissions) == {"dup"}


def test_damaged_entry_and_impossible_date(tmp_path):
    archive = make_zip(tmp_path / "class.zip", {"ok.ipynb": b"{}", "bad.ipynb": b"CONTENT"})
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr(zipfile.ZipInfo("when.ipynb", date_time=(2001, 0, 0, 0, 0, 0)), "{}")
    archive.write_bytes(archive.read_bytes().replace(b"CONTENT", b"CORRUPT"))  # CRC no longer matches
    folder = submissions.extract_zip(archive, tmp_path / "out")
    assert [p for p, _ in folder.skipped] == ["bad.ipynb"]
    assert set(submissions.collect(folder, LESSON).submissions) == {"ok", "when"}


# 2. Identity and time come only from the documented layouts, anchored at the top.

def test_paths_inside_an_upload_belong_to_its_owner(tmp_path):
    put(tmp_path, f"{MOODLE}/22222/{LESSON}/{LESSON}.ipynb", mtime=OLD)
    put(tmp_path, f"{MOODLE}/submitted/bob/{LESSON}/{LESSON}.ipynb", mtime=OLD)
    put(tmp_path, f"{MOODLE}/x_33333_44444_{LESSON}.ipynb", mtime=OLD)
    put(tmp_path, f"wrapper/submitted/eve/{LESSON}/{LESSON}.ipynb")
    put(tmp_path, f"wrapper/mallory/{LESSON}.ipynb")
    found = submissions.collect(tmp_path, LESSON)
    assert list(found.submissions) == ["11111"] and found.submissions["11111"].scheme == "moodle"
    assert len(found.duplicates) == 2
    assert "no student id" in reasons(found)[f"wrapper/mallory/{LESSON}.ipynb"]


def test_odd_characters_inside_an_upload_and_system_files(tmp_path):
    put(tmp_path, f"{MOODLE}/a\nb [bold]/{LESSON}.ipynb")
    put(tmp_path, f"__MACOSX/{MOODLE}/._{LESSON}.ipynb")
    put(tmp_path, ".hidden.ipynb")
    found = submissions.collect(tmp_path, LESSON)
    assert found.submissions["11111"].relpath == f"{MOODLE}/a\\x0ab [bold]/{LESSON}.ipynb"
    assert reasons(found) == {"__MACOSX": "hidden or system folder (not searched)",
                              ".hidden.ipynb": "hidden or system file"}


def test_timestamp_inside_an_lms_upload_is_ignored(tmp_path):
    put(tmp_path, f"{MOODLE}/{LESSON}/{LESSON}.ipynb", mtime=OLD + 200_000_000)
    put(tmp_path, f"{MOODLE}/{LESSON}/timestamp.txt", "2000-01-01 00:00:00.000000 UTC")
    put(tmp_path, f"bob/{LESSON}.ipynb", mtime=OLD + 200_000_000)
    put(tmp_path, "bob/timestamp.txt", "2000-01-01 00:00:00.000000 UTC")
    found = submissions.collect(tmp_path, LESSON, deadline=DEADLINE)
    for sid in ("11111", "bob"):
        assert any(flag.startswith("late by") for flag in found.submissions[sid].flags)
    why = reasons(found)
    for stamp in (f"{MOODLE}/{LESSON}/timestamp.txt", "bob/timestamp.txt"):
        assert "exchange layout" in why[stamp]


@pytest.mark.parametrize("text", ["yesterday", "", "9999999-99-99", "\x00\xff" * 50, "2030-02-30 00:00:00"])
def test_unparseable_exchange_timestamp_is_flagged(tmp_path, text):
    put(tmp_path, f"submitted/ada/{LESSON}/{LESSON}.ipynb", mtime=OLD)
    put(tmp_path, f"submitted/ada/{LESSON}/timestamp.txt", text)
    put(tmp_path, f"submitted/bob/{LESSON}/timestamp.txt", "2030-01-01 00:00:00")
    found = submissions.collect(tmp_path, LESSON, deadline=DEADLINE)
    ada = found.submissions["ada"]
    assert ada.timestamp == datetime.fromtimestamp(OLD, tz=timezone.utc)
    assert any("timestamp.txt is not a date" in flag for flag in ada.flags)
    assert reasons(found) == {f"submitted/bob/{LESSON}/timestamp.txt":
                              "only read beside a notebook in nbgrader's exchange layout: ignored"}


def test_ids_stay_distinct_and_ascii():
    raws = ("bob!", "bob?", "müller", "王伟", "李娜", "_x", "-rf", "x" * 300, "a\nb", "")
    ids = {raw: submissions.safe_id(raw) for raw in raws}
    assert len(set(ids.values())) == len(ids)
    assert ids["müller"] == "muller-" + hashlib.sha256("müller".encode()).hexdigest()[:8]
    assert all(sid.isascii() and sid[0].isalnum() and len(sid) <= 64 for sid in ids.values())
    assert submissions.safe_id("s.1234-x_y") == "s.1234-x_y"
    assert submissions.safe_id("\udcff") == submissions.safe_id("\udcff")


def test_colliding_ids_are_refused_not_merged(tmp_path):
    put(tmp_path, "bob!.ipynb")
    put(tmp_path, f"{submissions.safe_id('bob!')}.ipynb")
    put(tmp_path, "carol.ipynb")
    found = submissions.collect(tmp_path, LESSON)
    assert list(found.submissions) == ["carol"]
    refused = [why for _, why in found.unmatched]
    assert len(refused) == 2 and all("collides with" in why for why in refused)


def test_custom_pattern_matches_the_whole_path(tmp_path):
    put(tmp_path, "deep/inside/ada-hw1.ipynb")
    found = submissions.collect(tmp_path, LESSON, pattern=r"(?P<sid>[a-z]+)-hw1\.ipynb$")
    assert list(found.submissions) == ["ada"]


# 3. Student text in reports: never markup, never a spreadsheet formula.

HOSTILE = ["[bold]x", "[/x]", "=HYPERLINK(\"http://e\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", ":smile:",
           "\x1b[31mred", "\udcff"]


def report_and_csv(tmp_path, found):
    """Run the report over a collection; return grades.csv rows."""
    rows = [{"student": sid, "file": s.relpath, "flags": s.flags, "score": 1.0, "max_score": 2.0}
            for sid, s in found.submissions.items()]
    opts = SimpleNamespace(lesson=LESSON, out=tmp_path / "result", db=tmp_path / "gb.db")
    report.write(rows, found, opts)
    with open(opts.out / "grades.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_cells_are_neutralised(tmp_path):
    rows = [{"student": text, "file": text, "flags": [text], "score": -1.0} for text in HOSTILE]
    gradebook.write_csv(tmp_path / "grades.csv", rows)
    with open(tmp_path / "grades.csv", encoding="utf-8") as handle:
        cells = [row for row in csv.reader(handle)][1:]
    for row in cells:
        for cell in (row[0], row[6], row[7]):
            assert not cell.startswith(gradebook.FORMULA_STARTS)
    assert cells[2][0] == "'=HYPERLINK(\"http://e\")" and cells[-1][0] == "\\xff" and cells[0][1] == "-1.0"


def test_terminal_report_shows_student_text_literally(tmp_path, capsys):
    found = submissions.Collection(unmatched=[(text, text) for text in HOSTILE],
                                   duplicates=[("[red]d", "[/red]")])
    rows = [{"student": text, "file": text, "flags": [text, "[link=x]y"]} for text in HOSTILE]
    opts = SimpleNamespace(lesson=LESSON, out=tmp_path / "result", db=tmp_path / "gb.db")
    report.write(rows, found, opts)
    out = capsys.readouterr().out
    for text in ("[bold]x", "[/x]", ":smile:", "[link=x]y", "[red]d", "[/red]", "\\x1b[31mred", "\\xff"):
        assert text in out
    assert "\x1b" not in out and "😄" not in out


# 4. Paths on the command line are relative to the current folder.

def test_cli_paths_are_made_absolute(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "grade", lambda args: seen.update(vars(args)))
    monkeypatch.delenv("COURSE_CALLER_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    cli.main(["grade", LESSON, "subs.zip", "--out", "out", "--db", "../gb.db"])
    assert all(seen[name].is_absolute() for name in ("submissions", "out", "db"))
    assert seen["submissions"].resolve() == (tmp_path / "subs.zip").resolve()
    assert seen["out"].resolve() == (tmp_path / "out").resolve()
    assert seen["db"].resolve() == (tmp_path.parent / "gb.db").resolve()
    monkeypatch.setenv("COURSE_CALLER_DIR", str(tmp_path / "typed-here"))  # course.py changed into the project root
    cli.main(["grade", LESSON, "subs.zip"])
    assert seen["submissions"] == tmp_path / "typed-here" / "subs.zip"
