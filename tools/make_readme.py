"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs Quarto).

Cells marked `#| hide` are dropped, `#|` directive lines are removed, and cells marked `#| echo: false`
show only their output. Figures go to README_files/. CI runs this and fails if README.md changes.
"""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parents[1]

def directives(src:str)->dict:
    return {m.group(1).strip(): m.group(2).strip() for m in re.finditer(r'^#\|\s*([\w\-]+:?)\s*(.*)$', src, re.M)}

def prepare(nb):
    cells = []
    for c in nb.cells:
        d = directives(c.source) if c.cell_type == 'code' else {}
        if 'hide' in d or 'default_exp' in d: continue
        if c.cell_type == 'code':
            c.source = re.sub(r'^#\|.*\n?', '', c.source, flags=re.M).strip()
            if d.get('echo:', '').lower() == 'false': c.metadata.setdefault('tags', []).append('remove_input')
        cells.append(c)
    nb.cells = cells
    return nb

def main(src=ROOT / 'nbs/index.ipynb', dst=ROOT / 'README.md'):
    nb = prepare(nbformat.read(src, as_version=4))
    exporter = MarkdownExporter()
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}), enabled=True)
    body, res = exporter.from_notebook_node(nb, resources={'output_files_dir': 'README_files'})
    files = res.get('outputs', {})
    out_dir = ROOT / 'README_files'
    if out_dir.exists():
        for p in out_dir.iterdir():
            if p.name not in {Path(f).name for f in files}: p.unlink()
    for name, data in files.items():
        (ROOT / name).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / name).write_bytes(data)
    body = re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    body = body.replace('](images/', '](nbs/images/')          # notebook-relative pictures, seen from the repo root
    header = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'
    dst.write_text(header + body)

if __name__ == '__main__':
    main(*map(Path, sys.argv[1:]))
