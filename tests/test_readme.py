"""The README's tables and the numbers around them are generated, not typed: re-running `nbs/index.ipynb` on the result files
that the demo and the trust tutorial wrote (`nbs/images/demo/`, `nbs/tutorials/results/`) gives exactly the Markdown that the
notebook stores and `tools/make_readme.py` puts into README.md."""
import shutil
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

def markdown_outputs(nb)->list:
    "The text/markdown outputs of the notebook's cells, in order"
    return [o['data']['text/markdown'] for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])
            if 'text/markdown' in o.get('data', {})]

def test_readme_tables_come_from_the_result_files(tmp_path):
    nbs = tmp_path / 'nbs'
    shutil.copytree(ROOT / 'nbs', nbs, ignore=shutil.ignore_patterns('_proc', '.ipynb_checkpoints'))
    stored = nbformat.read(ROOT / 'nbs/index.ipynb', as_version=4)
    fresh = nbformat.read(nbs / 'index.ipynb', as_version=4)
    NotebookClient(fresh, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(nbs)}}).execute()
    tables = markdown_outputs(stored)
    assert len(tables) >= 5, 'the README should show the demo and tutorial tables'
    assert markdown_outputs(fresh) == tables, 'run `make nbs NB=nbs/index.ipynb` after `tools/demo_figures.py` or the tutorial'
    readme = (ROOT / 'README.md').read_text()
    for t in tables: assert t.strip() in readme
