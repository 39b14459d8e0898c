"""Execute notebooks in place so the docs and README show real outputs, then drop machine-specific noise.

Usage: python tools/execute_nbs.py [nbs/NAME.ipynb ...]   (default: every notebook in nbs/)
Outputs that mention temporary folders, progress bars, stderr streams and widget-state blobs are removed, so that a
re-run on another machine changes only what really changed. Run `nbdev_clean` afterwards.

The kernel runs with `XNN_SAVE_RESULTS=1` in its environment: notebooks that produce results for the README (the trust
tutorial writes nbs/tutorials/results/) save them only when it is set, so `nbdev_test` and CI never write into the repository.
"""
import os, re, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOISE = re.compile(r'/tmp/|/var/folders/|\\AppData\\|\d+/\d+ \[\d\d:\d\d|' + re.escape(str(ROOT)))  # temp paths, progress bars

def _text(o):
    if o.get('output_type') == 'stream': return o.get('text', '')
    return ''.join(str(v) for k, v in o.get('data', {}).items() if k.startswith('text/'))

def keep(o)->bool:
    if o.get('output_type') == 'stream' and o.get('name') == 'stderr': return False
    if o.get('output_type') == 'error': return False
    return not NOISE.search(_text(o))

def execute(path:Path):
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}", MPLBACKEND='module://matplotlib_inline.backend_inline',
               XNN_SAVE_RESULTS='1')
    os.environ.update(env)
    NotebookClient(nb, timeout=1800, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    for c in nb.cells:
        if c.cell_type == 'code': c.outputs = [o for o in c.outputs if keep(o)]
    nb.metadata.pop('widgets', None)
    nbformat.write(nb, path)
    print(f'executed {path.relative_to(ROOT)}')

if __name__ == '__main__':
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / 'nbs').rglob('[0-9]*.ipynb')) + [ROOT / 'nbs/index.ipynb']
    for p in paths: execute(p)
