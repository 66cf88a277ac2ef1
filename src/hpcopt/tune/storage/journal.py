"""An append-only journal of JSON lines under an ``O_EXCL`` lock file: several processes
on one machine or several sharing the file (NFS)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from hpcopt.errors import InputError
from hpcopt.tune.results import Result
from hpcopt.tune.storage.base import Refused, Storage, Trial, _check_parent, _first_fitting, owner_is_gone, this_owner

class JournalStorage(Storage):
    """An append-only journal file (``journal:///relative.log``, ``journal:////abs.log``).

    Each operation is one JSON line, appended with a single ``write`` while holding a lock
    file created with ``O_CREAT | O_EXCL`` (atomic on local file systems and on NFS v3 and
    later; ``flock`` is not reliable on NFS). Readers need no lock: they replay the
    complete lines they have not seen yet. A line torn by a writer killed mid-write is
    ended by the next writer and skipped by every reader (``skipped_lines`` counts them).
    A lock whose holder on this host is gone, or older than ``stale_lock_s``, is broken:
    each lock file holds a unique token, a breaker renames the file away and checks that it
    took the very file it judged stale (else puts it back), and a writer removes the lock
    only while it still holds its own token. Trial numbers are never reused, so a late
    result cannot land on another trial.
    """

    def __init__(self, url: str | Path, *, stale_lock_s: float = 30.0, fsync: bool = True) -> None:
        url = str(url)
        path = url[len("journal:///"):] if url.startswith("journal:///") else url[len("journal://"):]
        if not path:
            raise InputError("a journal URL needs a file", source=url, hint="journal:///studies.log")
        _check_parent(path, "journal")
        self.url, self.path = url, path
        self._lock_path = path + ".lock"
        self.stale_lock_s = stale_lock_s
        self.fsync = fsync
        self._offset = 0
        self._studies: dict[str, dict[str, Any]] = {}
        self._trials: dict[str, dict[int, dict[str, Any]]] = {}
        self._next: dict[str, int] = {}
        self._token = b""
        self.skipped_lines = 0
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        os.close(fd)
        self._catch_up()

    # -- reading
    def _apply(self, rec: dict[str, Any]) -> None:
        op = rec.get("op")
        if op == "study":
            self._studies.setdefault(rec["name"], rec)
            self._trials.setdefault(rec["name"], {})
        elif op == "start":
            tr = self._trials.setdefault(rec["study"], {})
            tr[rec["number"]] = {"number": rec["number"], "config": rec["config"], "key": rec["key"],
                                 "state": "running", "source": "measured", "result": None,
                                 "started": rec["t"], "finished": None, "owner": rec.get("owner"),
                                 "heartbeat": rec["t"]}
            self._next[rec["study"]] = max(self._next.get(rec["study"], 0), rec["number"] + 1)
        elif op == "finish":
            t = self._trials.get(rec["study"], {}).get(rec["number"])
            if t is not None and t["state"] == "running" and rec.get("key", t["key"]) == t["key"]:
                t.update(state="done", source=rec["source"], result=rec["result"], finished=rec["t"])
        elif op == "beat":
            for t in self._trials.get(rec["study"], {}).values():
                if t["owner"] == rec["owner"] and t["state"] == "running":
                    t["heartbeat"] = rec["t"]
        elif op == "retry":
            tr = self._trials.get(rec["study"], {})
            for n in rec["numbers"]:
                if n in tr and tr[n]["state"] == "done":
                    tr[n]["state"] = "retried"
        elif op in ("interrupt", "delete"):  # "delete": journals of schema 2
            tr = self._trials.get(rec["study"], {})
            for n in rec["numbers"]:
                if n in tr and tr[n]["state"] == "running":
                    tr[n].update(state="interrupted", finished=rec["t"])
        else:
            self.skipped_lines += 1

    def _catch_up(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError as exc:
            raise InputError(f"cannot read the journal: {exc.strerror}", source=self.path) from None
        end = data.rfind(b"\n")
        if end < 0:
            return
        for line in data[:end].split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError
                self._apply(rec)
            except (ValueError, KeyError, TypeError):
                self.skipped_lines += 1
        self._offset += end + 1

    # -- writing
    def _lock(self) -> None:
        delay, t0 = 0.001, time.monotonic()
        self._token = f"{this_owner()} {time.time():.6f} {uuid.uuid4().hex}".encode()
        while True:
            try:
                fd = os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._maybe_break_lock()
                if time.monotonic() - t0 > 10 * self.stale_lock_s:
                    raise InputError("the journal stays locked", source=self._lock_path,
                                     hint="remove the .lock file if no hpcopt process uses the journal")
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            os.write(fd, self._token)
            os.close(fd)
            return

    def _read_lock(self, path: str) -> tuple[bytes, float] | None:
        try:
            with open(path, "rb") as fh:
                text = fh.read()
            return text, os.stat(path).st_mtime
        except OSError:
            return None

    def _take_away(self, expected: bytes) -> bool:
        """Rename the lock file away and remove it if it holds ``expected``; if another
        writer's lock took its place meanwhile, put that one back. True if removed."""
        aside = f"{self._lock_path}.{os.getpid()}.{uuid.uuid4().hex}"
        try:
            os.rename(self._lock_path, aside)  # atomic: only one process gets this file
        except OSError:
            return False
        got = self._read_lock(aside)
        if got is not None and got[0] == expected:
            os.unlink(aside)
            return True
        try:  # not the file we meant: give it back unless a new lock exists already
            os.link(aside, self._lock_path)
        except OSError:
            pass
        try:
            os.unlink(aside)
        except OSError:  # pragma: no cover
            pass
        return False

    def _maybe_break_lock(self) -> None:
        got = self._read_lock(self._lock_path)
        if got is None:
            return
        text, mtime = got
        owner = text.decode(errors="replace").split(" ")[0] if text else ""
        if (owner and owner_is_gone(owner)) or time.time() - mtime > self.stale_lock_s:
            self._take_away(text)

    def _unlock(self) -> None:
        got = self._read_lock(self._lock_path)
        if got is not None and got[0] == self._token:
            self._take_away(self._token)
        # else: broken as stale by someone else (and perhaps taken by another writer): not ours

    def _append(self, make_record) -> Any:
        """Under the lock: catch up, build the record from the current state, append it."""
        self._lock()
        try:
            self._catch_up()
            rec, ret = make_record()
            if rec is None:
                return ret
            line = json.dumps(rec, default=str, separators=(",", ":")).encode() + b"\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                size = os.fstat(fd).st_size
                if size > 0:
                    with open(self.path, "rb") as fh:
                        fh.seek(size - 1)
                        if fh.read(1) != b"\n":
                            line = b"\n" + line  # end a line torn by a killed writer
                os.write(fd, line)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._catch_up()
            return ret
        finally:
            self._unlock()

    # -- the interface
    def create_or_load_study(self, name, info, fingerprint):
        def make():
            if name in self._studies:
                return None, (self._studies[name]["info"], False)
            rec = {"op": "study", "name": name, "created": time.time(), "fingerprint": fingerprint,
                   "info": json.loads(json.dumps(info, default=str))}
            return rec, (dict(info), True)
        self._catch_up()
        if name in self._studies:
            old = self._studies[name]["info"]
            self._check_same(name, old, info)
            return old, False
        out, created = self._append(make)
        if not created:
            self._check_same(name, out, info)
        return out, created

    def study_names(self):
        self._catch_up()
        return sorted(self._studies, key=lambda n: self._studies[n]["created"])

    def _study_row(self, name):
        self._catch_up()
        s = self._studies.get(name)
        return None if s is None else s["info"]

    def study_fingerprint(self, name):
        self._catch_up()
        s = self._studies.get(name)
        return None if s is None else s.get("fingerprint")

    def start_trial(self, study, config, key, owner=None, unique=False, limit=None):
        def make():
            live = [t for t in self._trials.get(study, {}).values() if t["state"] in ("running", "done")]
            if unique and any(t["key"] == key for t in live):
                return None, Refused.TAKEN
            if limit is not None and len({t["key"] for t in live}) >= limit:
                return None, Refused.BUDGET
            n = self._next.get(study, 0)
            return ({"op": "start", "study": study, "number": n, "key": key,
                     "config": json.loads(json.dumps(dict(config), default=str)), "t": time.time(),
                     "owner": owner}, n)
        return self._append(make)

    def finish_trial(self, study, number, result, source="measured", key=None):
        def make():
            t = self._trials.get(study, {}).get(number)
            if t is None or t["state"] != "running" or (key is not None and t["key"] != key):
                return None, False
            return {"op": "finish", "study": study, "number": number, "key": t["key"], "source": source,
                    "result": json.loads(json.dumps(result.to_dict(), default=str)), "t": time.time()}, True
        return self._append(make)

    def heartbeat(self, study, owner):
        def make():
            n = sum(1 for t in self._trials.get(study, {}).values() if t["owner"] == owner and t["state"] == "running")
            return ({"op": "beat", "study": study, "owner": owner, "t": time.time()} if n else None), n
        return self._append(make)

    def _mark_interrupted(self, study, numbers):
        def make():
            tr = self._trials.get(study, {})
            nums = [n for n in numbers if n in tr and tr[n]["state"] == "running"]
            return ({"op": "interrupt", "study": study, "numbers": nums, "t": time.time()} if nums else None), len(nums)
        return self._append(make)

    def _mark_retried(self, study, numbers):
        def make():
            tr = self._trials.get(study, {})
            nums = [n for n in numbers if n in tr and tr[n]["state"] == "done"]
            return ({"op": "retry", "study": study, "numbers": nums, "t": time.time()} if nums else None), len(nums)
        return self._append(make)

    def history(self, study):
        return self.trials(study, _states=("running", "done", "interrupted", "retried"))

    def trials(self, study, _states=("running", "done")):
        self._catch_up()
        out = []
        for n in sorted(self._trials.get(study, {})):
            t = self._trials[study][n]
            if t["state"] not in _states:
                continue
            out.append(Trial(n, dict(t["config"]), t["key"], t["state"], t["source"],
                             Result.from_dict(t["result"]) if t["result"] else None, t["started"], t["finished"],
                             t["owner"], t.get("heartbeat")))
        return out

    def cached_result(self, fingerprint, key, n_values=None):
        if not fingerprint:
            return None
        self._catch_up()
        found = []
        for name, s in self._studies.items():
            if s.get("fingerprint") != fingerprint:
                continue
            found += [t["result"] for t in self._trials.get(name, {}).values()
                      if t["key"] == key and t["state"] == "done" and t["source"] == "measured" and t["result"]]
        return _first_fitting(found, n_values)

    def version(self):
        try:
            return os.stat(self.path).st_size
        except OSError:  # pragma: no cover
            return None
