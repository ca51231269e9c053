"""The built-in scan rules of waymark, read from builtin_scan.toml, as Python regex sources.

Shared by the plain Python scanner and the ripgrep pattern file, so that all three scanners
search the same patterns. The column rule (CSV-only) is left out: neither baseline knows CSV.
"""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOML = ROOT / "crates/waymark-core/src/config/builtin_scan.toml"
META = set("\\.+*?()|[]{}^$#&-~")


def escape(text):
    """Escapes a keyword the way both Rust's and Python's regex syntax accept."""
    return "".join("\\" + c if c in META else c for c in text)


def rules():
    """[(name, severity, pattern)] in declaration order."""
    doc = tomllib.loads(TOML.read_text())
    out = []
    for r in doc["scan"]["rule"]:
        if r.get("column") or not r.get("enabled", True):
            continue
        if "regex" in r:
            pattern = r["regex"]
        else:
            flags = "(?i)" if r.get("ignore_case") else ""
            pattern = flags + "(?:" + "|".join(escape(k) for k in r["keywords"]) + ")"
        out.append((r["name"], r["severity"], pattern))
    return out


if __name__ == "__main__":
    for _, _, p in rules():
        print(p)
