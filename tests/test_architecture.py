"""The domain never imports Textual or Rich; the CLI and TUI are thin layers over it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import invrecon

UI_PACKAGES = ("invrecon.tui", "invrecon.cli")


def domain_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(invrecon.__path__, "invrecon."):
        if not info.name.startswith(UI_PACKAGES) and info.name != "invrecon.__main__":
            names.append(info.name)
    return names


def test_there_are_domain_modules():
    mods = domain_modules()
    assert {"invrecon.ledger", "invrecon.schema", "invrecon.money", "invrecon.filters"} <= set(mods)


def test_domain_modules_do_not_import_textual_or_rich():
    mods = domain_modules()
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"domain imported UI packages: {proc.stdout} {proc.stderr}"
