"""`gridbot` command line: run, import, db upgrade, backup, purge, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
from pathlib import Path

from bot.settings import Settings, load_settings
from storage import migrate
from storage.db import Database, backend, db_path


def _prepare_db(settings: Settings) -> None:
    """`gridbot run` migrates on start (documented choice): an operator after a
    power cut should not need a second command. A database that an interrupted
    `gridbot db copy` left behind is incomplete: never run on it."""
    from storage import dbcopy

    mark = dbcopy.copy_interrupted(settings.db_url)
    if mark is not None:
        raise SystemExit(f"refusing to run: {dbcopy.interrupted_message(settings.db_url, mark)}")
    before = migrate.current_revision(settings.db_url)
    migrate.upgrade(settings.db_url)
    after = migrate.current_revision(settings.db_url)
    if before != after:
        print(f"database migrated: {before or 'empty'} -> {after}", file=sys.stderr)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import setup, use_console
    from bot.demo import seed_demo_if_empty

    if settings.exposed_without_token() and not settings.allow_no_token:
        print(
            f"refusing to listen on {settings.host} without ONEBOT_ACCESS_TOKEN: any client "
            "there could act as the bot. Set a token, listen on 127.0.0.1, or set "
            "GRIDBOT_ALLOW_NO_TOKEN=true to accept the risk.", file=sys.stderr,
        )
        return 2
    _prepare_db(settings)
    if settings.demo:

        async def _seed() -> bool:
            db = Database(settings.db_url)
            try:
                return await seed_demo_if_empty(db)
            finally:
                await db.dispose()

        if asyncio.run(_seed()):
            print("empty database: demo street loaded (幸福社区)", file=sys.stderr)
    console = False if args.no_console else use_console(settings)
    setup(settings, console=console)
    if settings.exposed_without_token():
        logging.getLogger("gridbot.run").warning(
            "listening on %s without ONEBOT_ACCESS_TOKEN (GRIDBOT_ALLOW_NO_TOKEN=true): any "
            "client that reaches this port can act as the bot", settings.host,
        )
    import nonebot

    from bot.inbound import MAX_FRAME_BYTES

    # Oversized WebSocket frames are refused by the server, before any parsing or logging.
    # No per-request access log: the console polls every few seconds, and its one-time
    # link tokens are in the paths.
    nonebot.run(ws_max_size=MAX_FRAME_BYTES, access_log=False)
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from storage.importer import ImportError_, import_rows, read_table, validate

    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    migrate.upgrade(settings.db_url)
    try:
        table = read_table(path)
        kind, rows = validate(table)
    except ImportError_ as err:
        print(f"{path}: rejected, nothing imported", file=sys.stderr)
        for row, msg in err.errors:
            print(f"  row {row}: {msg}", file=sys.stderr)
        return 1
    except (UnicodeDecodeError, ValueError, OSError) as err:
        print(f"{path}: cannot read ({err.__class__.__name__}), nothing imported", file=sys.stderr)
        return 1

    def progress(done: int, total: int) -> None:
        if total >= 200:
            print(f"\r  {done}/{total} rows", end="" if done < total else "\n", file=sys.stderr)

    async def _run():
        db = Database(settings.db_url)
        try:
            async with db.write() as s:
                report = await import_rows(s, kind, rows, actor="cli:import",
                                           progress=progress)
            await db.refresh_statistics()
            return report
        finally:
            await db.dispose()

    report = asyncio.run(_run())
    created = ", ".join(f"{k} +{v}" for k, v in sorted(report.created.items())) or "no changes"
    print(f"{path}: {report.kind} roster, {report.rows} rows imported ({created})")
    return 0


def cmd_db_copy(settings: Settings, args: argparse.Namespace) -> int:
    """`gridbot db copy --to URL [--from URL]`: exit 2 refused (nothing written), 1 failed
    or not verified (the target stays marked and is refused until recreated)."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage import dbcopy

    source = args.from_url or settings.db_url
    print(f"copying {dbcopy.shown(source)} -> {dbcopy.shown(args.to_url)}", file=sys.stderr)
    try:
        report = dbcopy.copy_database(source, args.to_url)
    except dbcopy.CopyRefused as err:
        print(f"refused: {err}", file=sys.stderr)
        return 2
    except dbcopy.CopyFailed as err:
        print(f"failed: {err}", file=sys.stderr)
        return 1
    except SQLAlchemyError as err:  # before the copy began: cannot open a database
        print(f"failed: {err.__class__.__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: the target is marked as an interrupted copy; to start over, "
              f"{dbcopy.start_over(args.to_url)}.", file=sys.stderr)
        return 130
    for check in report.tables:
        print(check.line())
    if not report.ok:
        print(f"verification FAILED for {', '.join(report.mismatched)}: the target stays "
              f"marked as an interrupted copy; to start over, "
              f"{dbcopy.start_over(args.to_url)}.", file=sys.stderr)
        return 1
    rows = sum(c.source_rows for c in report.tables)
    print(f"copied and verified: {len(report.tables)} tables, {rows} rows")
    return 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "copy":
        return cmd_db_copy(settings, args)
    if args.db_command == "upgrade":
        migrate.upgrade(settings.db_url)
        print(f"database at revision {migrate.current_revision(settings.db_url)}")
        return 0
    if args.db_command == "current":
        print(migrate.current_revision(settings.db_url) or "empty")
        return 0
    return 2


def backup(db_url: str, target: Path) -> None:
    """SQLite online backup: consistent even while the bot writes (WAL included)."""
    source = db_path(db_url)
    if source is None or not source.is_file():
        raise FileNotFoundError(f"no database file at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    # Create the file 0600 before SQLite opens it: a backup holds personal data.
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    target = Path(args.path)
    try:
        backup(settings.db_url, target)
    except FileNotFoundError as err:
        print(str(err), file=sys.stderr)
        return 1
    print(f"backup written to {target}")
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    """The deletion path, at once: what the nightly job would do."""
    from bot.clock import clock_from_setting, utc
    from storage.retention import purge

    migrate.upgrade(settings.db_url)

    async def _purge() -> str:
        db = Database(settings.db_url)
        try:
            report = await purge(
                db, data=settings.data_path(), now=utc(clock_from_setting(settings.clock_start)),
                personal_days=settings.retention_days,
                export_days=settings.export_retention_days, actor="cli:purge",
            )
            return report.line()
        finally:
            await db.dispose()

    print(f"purged: {asyncio.run(_purge())}")
    return 0


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """`gridbot audit verify`: walk the audit log's hash chain; non-zero when it breaks."""
    from storage.auditchain import verify

    path = db_path(settings.db_url)
    if backend(settings.db_url) == "sqlite" and (path is None or not path.exists()):
        print("no database file", file=sys.stderr)
        return 2
    migrate.upgrade(settings.db_url)
    result = verify(settings.db_url)
    if result.broken is not None:
        print(f"audit log BROKEN at {result.broken.line()}; "
              f"{result.broken.position - 1} rows before it verify", file=sys.stderr)
        return 1
    print(f"audit log intact: {result.rows} rows, head {result.head[:16]}…")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gridbot", description="网格通 grid epidemic-prevention bot")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the bot")
    run.add_argument("--no-console", action="store_true", help="do not start the console adapter")
    imp = sub.add_parser("import", help="import a unit or staff roster (CSV/XLSX)")
    imp.add_argument("file")
    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply migrations")
    dbsub.add_parser("current", help="show the schema revision")
    cp = dbsub.add_parser(
        "copy", help="copy the database into a new, empty one (SQLite <-> PostgreSQL), verified")
    cp.add_argument("--to", dest="to_url", required=True, metavar="URL",
                    help="the target, e.g. postgresql+asyncpg://user@host:5432/db")
    cp.add_argument("--from", dest="from_url", metavar="URL",
                    help="the source (default: the configured GRIDBOT_DB_URL)")
    sub.add_parser("purge", help="delete personal data past its retention period now")
    bk = sub.add_parser("backup", help="online backup of the database")
    bk.add_argument("path")
    audit = sub.add_parser("audit", help="audit log checks")
    audit.add_subparsers(dest="audit_command", required=True).add_parser(
        "verify", help="walk the hash chain; exit 1 at the first row that does not hold")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    handlers = {
        "run": cmd_run, "import": cmd_import, "db": cmd_db, "backup": cmd_backup,
        "purge": cmd_purge, "audit": cmd_audit,
    }
    return handlers[args.command](settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
