"""Write README.md from `nbs/index.ipynb` (the landing page is the README's source).

`nbdev-readme` does the same through Quarto; this script needs no Quarto, so the README can be rebuilt and
checked offline. Hidden cells (`#| hide`) are left out, code cells become fenced blocks with their text
output, and links to chapter notebooks point into `nbs/`.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = "<!-- WARNING: generated from nbs/index.ipynb by `make readme` (tools/readme.py); edit the notebook, not this file. -->\n\n"


def _src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _hidden(src): return any(re.match(r"#\|\s*(hide|include:\s*false)\s*$", l) for l in src.splitlines())


def _text_outputs(cell):
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream": out.append("".join(o["text"]))
        elif "text/plain" in o.get("data", {}) and not any(k.startswith("image/") for k in o["data"]):
            out.append("".join(o["data"]["text/plain"]))
    return "".join(out).rstrip("\n")


def nb_to_markdown(nb_path: Path) -> str:
    "The README text for the notebook at `nb_path`."
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        src = _src(cell).strip("\n")
        if not src or _hidden(src): continue
        if cell["cell_type"] == "markdown":
            src = re.sub(r"\]\(([\w-]+\.ipynb)\)", r"](nbs/\1)", src)     # every chapter (05a_gguf too), the landing page
            parts.append(src)
        elif cell["cell_type"] == "code":
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip("\n")
            if not code: continue
            parts.append(f"```python\n{code}\n```")
            out = _text_outputs(cell)
            if out: parts.append(f"```\n{out}\n```")
    return HEADER + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    dest = ROOT / "README.md"
    text = nb_to_markdown(ROOT / "nbs" / "index.ipynb")
    if "--check" in sys.argv:
        sys.exit(0 if dest.exists() and dest.read_text(encoding="utf-8") == text else "README.md is out of step with nbs/index.ipynb: run `make readme`")
    dest.write_text(text, encoding="utf-8")
    print(f"wrote {dest}")
