"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs Quarto).

Cells marked `#| hide` are dropped, `#|` directive lines are removed, and cells marked `#| echo: false`
show only their output. Figures go to README_files/. CI runs this and fails if README.md changes.

The benchmark tables are rendered from `benchmarks/results/*.json` (the schema of `benchmarks/common.py`) by
`benchmark_markdown`, which a cell of `nbs/index.ipynb` calls: after a benchmark re-runs, re-execute that notebook
(`make nbs NB=nbs/index.ipynb`; `make bench` does it) so its stored output, and then README.md, show the new figures.
"""
import json, re, sys
from pathlib import Path
import nbformat
import pandas as pd
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks/results'
ORDER = ('loading', 'feature_cache', 'explain', 'serve', 'methods', 'pipeline')   # the README's order; other names follow, sorted

def read_results(folder=RESULTS)->list:
    "Every benchmark result in `folder`, in the README's order (a benchmark that has not written its file yet is simply absent)"
    docs = []
    for p in sorted(Path(folder).glob('*.json')):
        try: d = json.loads(p.read_text())
        except json.JSONDecodeError as e: raise ValueError(f'benchmark result {p} is not valid JSON: {e}') from None
        if not {'name', 'date', 'machine', 'rows'} <= set(d): raise ValueError(f'benchmark result {p} lacks name, date, machine or rows (see benchmarks/common.py)')
        docs.append(d)
    return sorted(docs, key=lambda d: (ORDER.index(d['name']) if d['name'] in ORDER else len(ORDER), d['name']))

def measured_on(d:dict)->str:
    "Date and machine of one result, in a few words"
    m = d['machine']
    return f"{d['date'][:10]}, {m.get('cpu', '?')} ({m.get('cores', '?')} cores{', ' + m['gpu'] if m.get('gpu') else ', no GPU'})"

def results_table(docs:list)->pd.DataFrame:
    "Every result's README rows, with the date and machine each was measured on"
    rows = [dict(r, measured=measured_on(d)) for d in docs for r in d['rows']]
    return pd.DataFrame(rows, columns=['benchmark', 'baseline', 'xnn', 'ratio', 'measured']).set_index('benchmark')

def _duration(s:float)->str: return f'{s:.0f} s' if s < 90 else f'{s / 60:.1f} min' if s < 5400 else f'{s / 3600:.1f} h'

def method_cost_table(d:dict)->pd.DataFrame:
    "`methods.json`'s per-method figures as the README shows them"
    f = d['figures']
    rows = [{'kind': m['kind'], 'options': ', '.join(f'{k}={v}' for k, v in m['options'].items()) or '—',
             'model evaluations per film': f"{m['evaluations_per_film']:g}", 'films/s': f"{m['films_per_s']:.3g}",
             'time in forward passes': f"{m['forward_passes_of_time']:.3g}", f"{f['split_films']}-film split": _duration(m['projected_split_s'])}
            for m in f['methods']]
    return pd.DataFrame(rows, index=[f"`{m['method']}`" for m in f['methods']])

def stages_table(d:dict)->pd.DataFrame:
    "`figures['stages']` of a result (a list of records, or a mapping of stage → figures or → one figure) as a table; lists (a figure per size) joined by ' / '"
    st = d['figures']['stages']
    if isinstance(st, list): t = pd.DataFrame(st).set_index(pd.DataFrame(st).columns[0])
    elif all(isinstance(v, dict) for v in st.values()): t = pd.DataFrame.from_dict(st, orient='index')
    else: t = pd.DataFrame({'value': st})
    fmt = lambda e: (f'{e:.0f}' if abs(e) >= 1000 else f'{e:.3g}') if isinstance(e, float) else str(e)
    t = t.map(lambda v: ' / '.join(fmt(e) for e in v) if isinstance(v, list) else fmt(v) if isinstance(v, float) else v)   # one figure per size, 3 significant digits
    return t.astype(object).where(t.notna(), '—')

def _md(df:pd.DataFrame, index_name:str)->str:
    from xnn.report import markdown_table
    return markdown_table(df, index_name)

def benchmark_markdown(folder=RESULTS)->str:
    "The README's benchmark tables, from the result files in `folder`"
    docs = read_results(folder)
    if not docs: return f'No benchmark results yet: `make bench` writes them to {Path(folder).name}/.'
    out = [_md(results_table(docs), 'benchmark')]
    by = {d['name']: d for d in docs}
    if 'methods' in by:
        f = by['methods']['figures']
        out += [f"**What each method costs** (`bench_methods.py`, {f['model']} at {f['size']} px, {f['device']}, {measured_on(by['methods'])}; "
                f"a plain forward pass: {f['forward']['films_per_s']:.3g} films/s, {f['split_films']} films in {_duration(f['forward']['projected_split_s'])}):",
                _md(method_cost_table(by['methods']), 'method')]
    for d in docs:
        if isinstance(d.get('figures', {}).get('stages'), (list, dict)):
            out += [f"**Stages of `{Path(d.get('script', d['name'])).name}`** ({measured_on(d)}):", _md(stages_table(d), 'stage')]
    return '\n\n'.join(out)

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
