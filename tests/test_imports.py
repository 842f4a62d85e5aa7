"""Imports point only down the chapter order.

A chapter is a notebook; nbdev exports it in the order of the notebooks' sorted file names (`05_gpt` < `05b_...` <
`06_train` < `06a_...`), and its `#| default_exp` names the module it owns. A module may import only modules of
earlier notebooks, and a notebook's own cells only modules of earlier notebooks or its own. `pytest -s` prints every
edge by chapter; run it as a script (`python tests/test_imports.py [ROOT]`) to check another checkout.
"""
import ast, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = 'aic_gpt'


def notebooks(root):
    "The notebooks in nbdev's export order (sorted file names)."
    return sorted(p for p in (Path(root) / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))


def code_cells(nb):
    return [''.join(c['source']) for c in json.loads(nb.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code']


def owners(root):
    "{module: (rank, notebook name)} from each notebook's `#| default_exp`."
    own = {}
    for i, nb in enumerate(notebooks(root)):
        for src in code_cells(nb):
            for m in re.findall(r'^#\|\s*default_exp\s+([\w.]+)', src, re.M): own[m.split('.')[-1]] = (i, nb.name)
    return own


def imported(src, here_is_package):
    "The aic_gpt modules a piece of Python imports (relative imports count only inside the package)."
    lines = [l for l in src.splitlines() if not l.lstrip().startswith(('%', '!'))]   # IPython magics and shell lines
    try: tree = ast.parse('\n'.join(lines))
    except SyntaxError: return set()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith(PKG + '.')}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level and not here_is_package: continue
            if node.level == 1 or mod == PKG or mod.startswith(PKG + '.'):
                rest = mod[len(PKG):].lstrip('.') if not node.level else mod
                if rest: out.add(rest.split('.')[0])
                else: out |= {a.name for a in node.names}            # from aic_gpt import train / from . import train
    return out


def edges(root):
    "(importer, its rank, imported module, its rank) for every module and every notebook."
    own, root = owners(root), Path(root)
    out = []
    for f in sorted((root / PKG).glob('*.py')):
        if f.stem not in own: continue
        r, nb = own[f.stem]
        for t in sorted(imported(f.read_text(encoding='utf-8'), True)):
            if t in own and t != f.stem: out.append((f'{PKG}/{f.name} ({nb})', r, t, own[t]))
    for r, nb in enumerate(notebooks(root)):
        for t in sorted(set().union(*[imported(s, False) for s in code_cells(nb)])):
            if t in own: out.append((f'nbs/{nb.name}', r, t, own[t]))
    return out


def report(root=ROOT):
    "Print the edges by chapter; return the ones that point up the order."
    up = []
    for who, r, t, (rt, nb) in edges(root):
        bad = rt > r
        print(f"{'UP ' if bad else '   '}{who} -> {PKG}.{t} ({nb})")
        if bad: up.append(f"{who} imports {PKG}.{t}, which {nb} exports later")
    return up


def test_imports_point_down():
    up = report()
    assert not up, "imports that point up the chapter order:\n" + '\n'.join(up)


def test_the_checker_catches_an_up_import(tmp_path):
    "The checker has teeth: a module that imports a later chapter's module is reported."
    (tmp_path / 'nbs').mkdir(); (tmp_path / PKG).mkdir()
    for name, mod, src in (('01_a.ipynb', 'a', 'from .b import x'), ('02_b.ipynb', 'b', 'x = 1')):
        cells = [{'cell_type': 'code', 'source': f'#| default_exp {mod}'}, {'cell_type': 'code', 'source': f'#| export\n{src}'}]
        (tmp_path / 'nbs' / name).write_text(json.dumps({'cells': cells}))
        (tmp_path / PKG / f'{mod}.py').write_text(src)
    assert report(tmp_path) == [f"{PKG}/a.py (01_a.ipynb) imports {PKG}.b, which 02_b.ipynb exports later"]


if __name__ == '__main__':
    up = report(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    print('\n'.join(['', f'{len(up)} import(s) up the chapter order:', *up] if up else ['', 'all imports point down']))
    sys.exit(1 if up else 0)
