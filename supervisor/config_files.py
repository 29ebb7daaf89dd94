"""Files a setting of the supervisor's config names (a secret, a token, a token list): their
text, or the reason they cannot be read, for the config's list of problems.

    text, reason = read_text(path)   # (text, "") or (None, "No such file or directory")
    header, rows, problem = read_csv(path)   # a CSV file with a header line: rows as dicts

Never raises for a bad file or name: a missing or unreadable file gives the system's reason, a
file that is not UTF-8 "not UTF-8 text", a name holding a NUL or a lone surrogate (no file can
have one) "not a file name".
"""

from __future__ import annotations

import csv
import io


def read_text(path: str, newline: str | None = None) -> tuple[str | None, str]:
    """(the file's whole text, "") or (None, why it cannot be read). `newline` as `open`'s
    ("" keeps line endings as they are, for the csv module)."""
    try:
        with open(path, encoding="utf-8", newline=newline) as fh:
            return fh.read(), ""
    except OSError as exc:
        return None, str(exc.strerror or exc)
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except ValueError:  # a NUL or a lone surrogate in the name: no such file can exist
        return None, "not a file name"


def read_csv(path: str) -> tuple[list[str], list[dict[str, str]], str]:
    """(header, the rows as dicts by header, "") or ([], [], why not): "cannot read (reason)"
    as `read_text` gives it, or "line N: not CSV (the csv module's reason)", e.g. a field over
    its 128 KiB limit. A leading byte order mark is dropped."""
    text, reason = read_text(path, newline="")
    if text is None:
        return [], [], "cannot read (%s)" % reason
    # a spreadsheet's "CSV UTF-8" starts with a byte order mark, which would become part of the first name
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = list(reader.fieldnames or [])
        rows = [dict(r) for r in reader]
    except csv.Error as exc:
        return [], [], "line %d: not CSV (%s)" % (reader.reader.line_num, exc)
    return header, rows, ""
