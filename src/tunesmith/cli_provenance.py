"""``tunesmith verify``, ``reproduce``, ``credits`` and ``config``: provenance on the command line.

Registered on the main app by :func:`register`; the work is done by :mod:`tunesmith.provenance`.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tunesmith.errors import TunesmithError, UsageError

stdout = Console()
stderr = Console(stderr=True)
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

config_app = typer.Typer(
    help="Show and change tunesmith settings (the signing certificate and key).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``verify``, ``reproduce``, ``credits`` and ``config`` to the ``tunesmith`` command."""
    app.command("verify")(verify_cmd)
    app.command("reproduce")(reproduce_cmd)
    app.command("credits")(credits_cmd)
    app.add_typer(config_app, name="config")


def verify_cmd(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Files to check (or their .recipe.json).")],
    json_out: _Json = False,
) -> None:
    """Say whether a file was made or processed by tunesmith, how, from what, and whether it was altered.

    Exit status: 0 when every file is a tunesmith file whose label, signatures and hashes all
    check out; 1 when any file was altered, has an invalid signature, lost its label, cannot be
    checked, or was not made by tunesmith.
    """
    from tunesmith.provenance.verify import verify_file

    reports = []
    failures = 0
    for path in files:
        try:
            report = verify_file(path)
        except TunesmithError as exc:
            failures += 1
            stderr.print(f"tunesmith: error: {exc}", markup=False, highlight=False, soft_wrap=True)
            reports.append({"file": str(path), "status": "error", "error": str(exc)})
            continue
        failures += report.exit_code
        reports.append(report.to_dict())
        if not json_out:
            colour = "green" if report.status == "verified" else "red"
            stdout.print(f"[bold {colour}]{report.status}[/] {path}", highlight=False)
            stdout.print(report.summary, markup=False, highlight=False)
            if len(files) > 1:
                stdout.print()
    if json_out:
        print(json.dumps(reports[0] if len(reports) == 1 else {"files": reports}, indent=2))
    if failures:
        raise typer.Exit(1)


def reproduce_cmd(
    recipe: Annotated[Path, typer.Argument(metavar="RECIPE.json", help="A .recipe.json (or the file it describes).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="A new folder for the re-made files.")],
    json_out: _Json = False,
) -> None:
    """Re-run the command a recipe records and check the new files are bit-identical (content hashes).

    Exit status 1 when any file differs (the report says what differs).
    """
    from tunesmith.provenance.reproduce import reproduce

    report = reproduce(recipe, output)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        stdout.print(f"re-ran: {' '.join(report.command)}  (in {report.cwd}, {report.seconds:.1f} s)", highlight=False)
        table = Table(title_justify="left", show_header=True)
        for col in ("file", "compared", "result"):
            table.add_column(col)
        for f in report.files:
            result = "[green]identical[/]" if f.identical else f"[red]differs[/]: {f.difference}"
            if not f.counts:
                result += " (a report: not part of the verdict)"
            table.add_row(f.file, f.compared, result)
        stdout.print(table)
        verdict = "every file is bit-identical" if report.identical else "NOT identical"
        stdout.print(f"[bold]{verdict}[/] (content SHA-256: audio, MIDI and score bytes, the label left out)")
        for note in report.notes:
            stdout.print(f"  note: {note}", highlight=False)
    if not report.identical:
        raise typer.Exit(1)


def credits_cmd(json_out: _Json = False) -> None:
    """The data every shipped model learned from (licences, citations), the SoundFont and the libraries."""
    from tunesmith.provenance.credits import credits

    doc = credits()
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    stdout.print(f"[bold]tunesmith {doc['tunesmith_version']} — credits[/]\n")
    stdout.print("[bold]Models and what they learned from[/] (from their cards)")
    for card in doc["models"]:
        stdout.print(f"  [bold]{card['artifact']}[/] — {card['title']}", highlight=False)
        stdout.print(f"    data: {', '.join(card['datasets']) or 'see the card'} ({card['card']})", highlight=False)
    stdout.print("\n[bold]Data sets[/]")
    for d in doc["datasets"]:
        stdout.print(f"  [bold]{d['name']}[/] — licence: {d['licence']}", highlight=False)
        stdout.print(f"    cite: {d['citation']}", highlight=False)
    stdout.print("\n[bold]SoundFont[/]")
    for sf in doc["soundfonts"]:
        if sf.get("path"):
            stdout.print(f"  {sf['path']} — {sf.get('credit') or ''} — licence: {sf['licence']}", highlight=False)
        else:
            stdout.print(f"  {sf['note']}", highlight=False)
    stdout.print("\n[bold]Programs[/]")
    for t in doc["tools"]:
        stdout.print(f"  {t['what']} — {t['licence']}{'' if t['path'] else ' (not installed)'}", highlight=False)
    table = Table(title="Libraries", title_justify="left")
    for col in ("library", "version", "licence"):
        table.add_column(col)
    for lib in doc["libraries"]:
        table.add_row(lib["name"], lib["version"], lib["licence"])
    stdout.print()
    stdout.print(table)


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="signing.cert or signing.key")],
    value: Annotated[str, typer.Argument(help="The value (a file path for signing.*).")],
) -> None:
    """Change a setting; a signing certificate and key are checked together before they are kept."""
    from tunesmith.provenance.config import get_setting, load_config, set_setting

    before = load_config()
    stored = set_setting(key, value)
    if key.startswith("signing."):
        try:
            _check_signing_pair()
        except TunesmithError:
            set_setting(key, before.get(key))  # keep the old, working value
            raise
        if key == "signing.key":
            _warn_if_shared(Path(stored))
        other = "signing.key" if key == "signing.cert" else "signing.cert"
        if get_setting(other) is None:
            stdout.print(
                f"{key} = {stored}; now set {other} too (until both are set, writing files stops with an error)",
                highlight=False,
            )
            return
    stdout.print(f"{key} = {stored}", highlight=False)


@config_app.command("unset")
def config_unset(key: Annotated[str, typer.Argument(help="The setting to remove.")]) -> None:
    """Remove a setting (without signing.cert/key, the local key signs again)."""
    from tunesmith.provenance.config import set_setting

    set_setting(key, None)
    stdout.print(f"{key} removed", highlight=False)


@config_app.command("get")
def config_get(key: Annotated[str, typer.Argument(help="The setting to print.")]) -> None:
    """Print one setting's value (nothing when it is not set)."""
    from tunesmith.provenance.config import get_setting

    value = get_setting(key)
    if value is not None:
        print(value)


@config_app.command("show")
def config_show(json_out: _Json = False) -> None:
    """Show the config folder, every setting, and who signs what tunesmith writes."""
    from tunesmith.provenance.config import SETTINGS, config_dir, load_config
    from tunesmith.provenance.signing import describe_chain, signing_identity

    config = load_config()
    identity = signing_identity()
    mode = stat.S_IMODE(identity.key_path.stat().st_mode)
    doc: dict[str, Any] = {
        "config_dir": str(config_dir()),
        "settings": {k: config.get(k) for k in SETTINGS},
        "signer": {
            "kind": identity.kind,
            "trust": identity.trust,
            "alg": identity.alg,
            "certificate": str(identity.cert_path),
            "key": str(identity.key_path),
            "key_mode": f"{mode:04o}",
            **describe_chain(identity.chain_pem),
        },
    }
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    stdout.print(f"config folder: {doc['config_dir']}", highlight=False)
    for k, v in doc["settings"].items():
        stdout.print(f"  {k} = {v if v is not None else '(not set)'}", highlight=False)
    s = doc["signer"]
    stdout.print(
        f"signer: {s['subject']} ({s['trust']}), {s['alg']}, valid until {s['not_after']}\n"
        f"  certificate {s['certificate']}\n  key {s['key']} (mode {s['key_mode']})",
        highlight=False,
    )


def _check_signing_pair() -> None:
    """When both are set: the key matches the certificate and C2PA accepts the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tunesmith.provenance.config import load_config
    from tunesmith.provenance.credentials import _signer
    from tunesmith.provenance.signing import signing_identity

    config = load_config()
    if not (config.get("signing.cert") and config.get("signing.key")):
        return
    identity = signing_identity()
    try:
        cert = x509.load_pem_x509_certificate(identity.chain_pem)
    except ValueError:
        raise UsageError("not a PEM certificate", identity.cert_path) from None
    private = serialization.load_pem_private_key(identity.key_pem, password=None)
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, raw) != private.public_key().public_bytes(
        serialization.Encoding.DER, raw
    ):
        raise UsageError("this key does not belong to the certificate in signing.cert", identity.key_path)
    _signer(identity)  # C2PA's own check of the certificate profile


def _warn_if_shared(key: Path) -> None:
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        stderr.print(
            f"tunesmith: warning: {key} is readable by other users (mode {mode:04o}); run: chmod 600 {key}",
            markup=False,
            highlight=False,
        )
