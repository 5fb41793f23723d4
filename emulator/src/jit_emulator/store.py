"""The resource store: ARM resources, principals, request log and emulator state in SQLite.

One connection per thread, WAL journal, one transaction per HTTP request. Resource ids are
case-insensitive in ARM, so every lookup goes through the lower-cased id (`key`), while the
body keeps the casing the client used.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    subscription TEXT NOT NULL,
    rg TEXT NOT NULL,
    parent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_type ON resources (type, subscription, rg, seq);
CREATE INDEX IF NOT EXISTS resources_parent ON resources (parent, type, seq);
CREATE INDEX IF NOT EXISTS resources_seq ON resources (seq);
CREATE TABLE IF NOT EXISTS refs (
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    kind TEXT NOT NULL,
    via TEXT NOT NULL,
    PRIMARY KEY (src, dst, kind, via)
);
CREATE INDEX IF NOT EXISTS refs_dst ON refs (dst, kind);
CREATE TABLE IF NOT EXISTS principals (
    client_id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    status INTEGER NOT NULL,
    principal TEXT,
    principal_name TEXT
);
CREATE TABLE IF NOT EXISTS grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    policy TEXT NOT NULL,
    vm TEXT NOT NULL,
    port INTEGER NOT NULL,
    request_key TEXT NOT NULL,
    state TEXT NOT NULL,
    apply_at REAL NOT NULL,
    end_time TEXT NOT NULL,
    spec TEXT NOT NULL,
    rules TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grants_state ON grants (state, end_time);
CREATE INDEX IF NOT EXISTS grants_vm ON grants (policy, vm, port, state);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


_RESET_STATEMENTS = (
    "DELETE FROM resources",
    "DELETE FROM refs",
    "DELETE FROM principals",
    "DELETE FROM request_log",
    "DELETE FROM grants",
    "DELETE FROM kv",
)


def resource_key(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()


def split_scope(resource_id: str) -> tuple[str, str]:
    """(subscription, resource group) of an id, both lower-cased, '' when absent."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    sub = parts[1].lower() if len(parts) > 1 and lowered[0] == "subscriptions" else ""
    rg = parts[3].lower() if len(parts) > 3 and lowered[2] == "resourcegroups" else ""
    return sub, rg


class Tx:
    """Operations inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- resources -----------------------------------------------------------------------------
    def get(self, resource_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT body FROM resources WHERE key = ?", (resource_key(resource_id),)).fetchone()
        return json.loads(row[0]) if row else None

    def exists(self, resource_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM resources WHERE key = ?", (resource_key(resource_id),)).fetchone()
        return row is not None

    def put(self, resource_id: str, rtype: str, parent: str, body: dict[str, Any]) -> bool:
        """Insert or replace; True when the resource was created."""
        key = resource_key(resource_id)
        sub, rg = split_scope(resource_id)
        text = json.dumps(body, separators=(",", ":"))
        cur = self.conn.execute("UPDATE resources SET body = ?, id = ? WHERE key = ?", (text, resource_id, key))
        if cur.rowcount:
            return False
        seq = self.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM resources").fetchone()[0]
        self.conn.execute(
            "INSERT INTO resources (key, id, type, subscription, rg, parent, seq, body) VALUES (?,?,?,?,?,?,?,?)",
            (key, resource_id, rtype.lower(), sub, rg, resource_key(parent), seq, text),
        )
        return True

    def delete(self, resource_id: str) -> bool:
        key = resource_key(resource_id)
        self.conn.execute("DELETE FROM refs WHERE src = ?", (key,))
        return self.conn.execute("DELETE FROM resources WHERE key = ?", (key,)).rowcount > 0

    def list_type(self, rtype: str, subscription: str, rg: str | None = None) -> list[dict[str, Any]]:
        if rg is None:
            rows = self.conn.execute(
                "SELECT body FROM resources WHERE type = ? AND subscription = ? ORDER BY seq",
                (rtype.lower(), subscription.lower()),
            )
        else:
            rows = self.conn.execute(
                "SELECT body FROM resources WHERE type = ? AND subscription = ? AND rg = ? ORDER BY seq",
                (rtype.lower(), subscription.lower(), rg.lower()),
            )
        return [json.loads(r[0]) for r in rows]

    def list_type_text(self, rtype: str, subscription: str, rg: str | None = None) -> list[str]:
        """The JSON text of the bodies list_type returns (for lists that decode one page only)."""
        rows = self.conn.execute(
            "SELECT body FROM resources WHERE type = ? AND subscription = ? AND (? IS NULL OR rg = ?) ORDER BY seq",
            (rtype.lower(), subscription.lower(), *(2 * (None if rg is None else rg.lower(),))),
        )
        return [r[0] for r in rows]

    def list_all_type(self, rtype: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT body FROM resources WHERE type = ? ORDER BY seq", (rtype.lower(),))
        return [json.loads(r[0]) for r in rows]

    def list_children(self, parent_id: str, rtype: str | None = None) -> list[dict[str, Any]]:
        if rtype is None:
            rows = self.conn.execute(
                "SELECT body FROM resources WHERE parent = ? ORDER BY seq", (resource_key(parent_id),)
            )
        else:
            rows = self.conn.execute(
                "SELECT body FROM resources WHERE parent = ? AND type = ? ORDER BY seq",
                (resource_key(parent_id), rtype.lower()),
            )
        return [json.loads(r[0]) for r in rows]

    def count_in_rg(self, subscription: str, rg: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM resources WHERE subscription = ? AND rg = ? AND type != ?",
            (subscription.lower(), rg.lower(), "microsoft.resources/resourcegroups"),
        ).fetchone()
        return int(row[0])

    def delete_rg_contents(self, subscription: str, rg: str) -> None:
        keys = [
            r[0]
            for r in self.conn.execute(
                "SELECT key FROM resources WHERE subscription = ? AND rg = ? AND type != ?",
                (subscription.lower(), rg.lower(), "microsoft.resources/resourcegroups"),
            )
        ]
        for key in keys:
            self.conn.execute("DELETE FROM refs WHERE src = ?", (key,))
            self.conn.execute("DELETE FROM resources WHERE key = ?", (key,))

    # -- references (for ARM's computed back-references such as nsg.properties.networkInterfaces) --
    def set_refs(self, src_id: str, refs: list[tuple[str, str, str]]) -> None:
        """Replace the outgoing references of src: (dst id, kind, via id)."""
        src = resource_key(src_id)
        self.conn.execute("DELETE FROM refs WHERE src = ?", (src,))
        self.conn.executemany(
            "INSERT OR IGNORE INTO refs (src, dst, kind, via) VALUES (?,?,?,?)",
            [(src, resource_key(dst), kind, via) for dst, kind, via in refs],
        )

    def refs_to(self, dst_id: str, kind: str) -> list[str]:
        """The `via` ids (original casing) of references of this kind pointing at dst."""
        rows = self.conn.execute(
            "SELECT via FROM refs WHERE dst = ? AND kind = ? ORDER BY via", (resource_key(dst_id), kind)
        )
        return [r[0] for r in rows]

    # -- principals ------------------------------------------------------------------------------
    def put_principal(self, client_id: str, object_id: str, secret: str, display_name: str, kind: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO principals (client_id, object_id, secret, display_name, kind) VALUES (?,?,?,?,?)",
            (client_id, object_id, secret, display_name, kind),
        )

    def principal_by_client(self, client_id: str) -> dict[str, str] | None:
        row = self.conn.execute(
            "SELECT client_id, object_id, secret, display_name, kind FROM principals WHERE lower(client_id) = ?",
            (client_id.lower(),),
        ).fetchone()
        return _principal(row)

    def principal_by_object(self, object_id: str) -> dict[str, str] | None:
        row = self.conn.execute(
            "SELECT client_id, object_id, secret, display_name, kind FROM principals WHERE lower(object_id) = ?",
            (object_id.lower(),),
        ).fetchone()
        return _principal(row)

    def principals(self) -> list[dict[str, str]]:
        rows = self.conn.execute("SELECT client_id, object_id, secret, display_name, kind FROM principals")
        return [p for p in (_principal(r) for r in rows) if p]

    # -- key/value state -----------------------------------------------------------------------------
    def kv_get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def kv_set(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- request log ---------------------------------------------------------------------------------
    def log_request(
        self,
        time: str,
        method: str,
        path: str,
        query: str,
        status: int,
        principal: str | None,
        principal_name: str | None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO request_log (time, method, path, query, status, principal, principal_name)"
            " VALUES (?,?,?,?,?,?,?)",
            (time, method, path, query, status, principal, principal_name),
        )

    def request_log(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT seq, time, method, path, query, status, principal, principal_name FROM request_log ORDER BY seq"
        )
        names = ("seq", "time", "method", "path", "query", "status", "principal", "principal_name")
        return [dict(zip(names, r, strict=True)) for r in rows]

    def clear_request_log(self) -> None:
        self.conn.execute("DELETE FROM request_log")

    # -- JIT grants (bookkeeping of the rules each request created) ---------------------------------
    def add_grant(
        self,
        policy: str,
        vm: str,
        port: int,
        request_key: str,
        state: str,
        apply_at: float,
        end_time: str,
        spec: dict[str, Any],
        rules: list[dict[str, str]],
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO grants (policy, vm, port, request_key, state, apply_at, end_time, spec, rules)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                resource_key(policy),
                resource_key(vm),
                port,
                request_key,
                state,
                apply_at,
                end_time,
                json.dumps(spec),
                json.dumps(rules),
            ),
        )
        return int(cur.lastrowid or 0)

    def grants(
        self,
        *,
        states: Iterable[str],
        policy: str | None = None,
        vm: str | None = None,
        ports: Iterable[int] | None = None,
        apply_at_most: float | None = None,
        end_after: str | None = None,
        end_at_most: str | None = None,
    ) -> list[dict[str, Any]]:
        """Grants in one of `states`, narrowed by every filter that is not None (ids compare case-insensitively;
        times are the grants' ISO `end_time` text, which sorts chronologically)."""
        port_list = None if ports is None else json.dumps(list(ports))
        rows = self.conn.execute(
            "SELECT seq, policy, vm, port, request_key, state, apply_at, end_time, spec, rules FROM grants"
            " WHERE state IN (SELECT value FROM json_each(?))"
            " AND (? IS NULL OR policy = ?) AND (? IS NULL OR vm = ?)"
            " AND (? IS NULL OR port IN (SELECT value FROM json_each(?)))"
            " AND (? IS NULL OR apply_at <= ?) AND (? IS NULL OR end_time > ?) AND (? IS NULL OR end_time <= ?)"
            " ORDER BY seq",
            (
                json.dumps(list(states)),
                *(2 * (None if policy is None else resource_key(policy),)),
                *(2 * (None if vm is None else resource_key(vm),)),
                *(2 * (port_list,)),
                *(2 * (apply_at_most,)),
                *(2 * (end_after,)),
                *(2 * (end_at_most,)),
            ),
        )
        out = []
        for seq, policy, vm, port, request_key, state, apply_at, end_time, spec, rules in rows:
            out.append(
                {
                    "seq": seq,
                    "policy": policy,
                    "vm": vm,
                    "port": port,
                    "request_key": request_key,
                    "state": state,
                    "apply_at": apply_at,
                    "end_time": end_time,
                    "spec": json.loads(spec),
                    "rules": json.loads(rules),
                }
            )
        return out

    def update_grant(self, seq: int, state: str, rules: list[dict[str, str]] | None = None) -> None:
        if rules is None:
            self.conn.execute("UPDATE grants SET state = ? WHERE seq = ?", (state, seq))
        else:
            self.conn.execute("UPDATE grants SET state = ?, rules = ? WHERE seq = ?", (state, json.dumps(rules), seq))

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(resources per type, grants per state), for the control API's state summary."""
        types = self.conn.execute("SELECT type, COUNT(*) FROM resources GROUP BY type ORDER BY type").fetchall()
        states = self.conn.execute("SELECT state, COUNT(*) FROM grants GROUP BY state ORDER BY state").fetchall()
        return dict(types), dict(states)

    def any_grant_due(self, now_iso: str, now_stamp: float) -> bool:
        """Whether a grant must end (end_time <= now_iso) or a pending one be applied (apply_at <= now_stamp)."""
        row = self.conn.execute(
            "SELECT 1 FROM grants WHERE (state = 'active' AND end_time <= ?)"
            " OR (state = 'pending' AND (apply_at <= ? OR end_time <= ?)) LIMIT 1",
            (now_iso, now_stamp, now_iso),
        ).fetchone()
        return row is not None


def _principal(row: tuple[str, ...] | None) -> dict[str, str] | None:
    if row is None:
        return None
    return dict(zip(("client_id", "object_id", "secret", "display_name", "kind"), row, strict=True))


class Store:
    """SQLite-backed state shared by every request thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        # Writers are serialised here as well as by SQLite, so a busy writer never sees SQLITE_BUSY.
        self._write_lock = threading.RLock()
        conn = self._conn()
        conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction; inside a transaction already open in this thread, that one is used."""
        conn = self._conn()
        if conn.in_transaction:
            yield Tx(conn)
            return
        conn.execute("BEGIN")
        self._local.mode = "read"
        try:
            yield Tx(conn)
        finally:
            self._local.mode = None
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction, committed at the end or rolled back on an exception.

        Nested in a write transaction of the same thread it joins it, so a caller can make several
        operations one transaction (loading a world is all or nothing, and one commit instead of
        thousands). Nested in a read transaction it is a programming error.
        """
        conn = self._conn()
        with self._write_lock:
            if conn.in_transaction:
                if getattr(self._local, "mode", None) != "write":
                    raise RuntimeError("a write transaction cannot be nested in a read transaction")
                yield Tx(conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            self._local.mode = "write"
            try:
                yield Tx(conn)
            except BaseException:
                self._local.mode = None
                conn.execute("ROLLBACK")
                raise
            self._local.mode = None
            conn.execute("COMMIT")

    def reset(self) -> None:
        """Drop every resource, principal, grant, log entry and setting (keys and the CA survive)."""
        with self.write() as tx:
            keep = {k: tx.kv_get(k) for k in ("ca", "signing_key", "identity")}
            for statement in _RESET_STATEMENTS:
                tx.conn.execute(statement)
            for k, v in keep.items():
                if v is not None:
                    tx.kv_set(k, v)
