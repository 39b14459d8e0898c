"""What every benchmark shares: where its result goes and what the result records.

Each benchmark ends with `save_result(name, figures, rows)`, which writes `benchmarks/results/<name>.json`:

    {"name": ..., "script": "benchmarks/bench_<name>.py", "argv": [...], "date": ISO-8601 (UTC),
     "machine": {"cpu", "cores", "torch_threads", "gpu", "ram_gib", "platform"},
     "versions": {"python", "torch", "torchvision", "captum", "xnn", ...},
     "figures": {...every number the benchmark measured...},
     "rows": [{"benchmark": ..., "baseline": ..., "xnn": ..., "ratio": ...}, ...]}

`rows` are the README's benchmark-table lines, written by the benchmark from its own figures: `nbs/index.ipynb`
reads every `benchmarks/results/*.json` and renders them (`results_table`), so a README figure is always a
measured one. A re-run replaces the file (git keeps the history); `--no-save` leaves it alone.
"""
import datetime, json, os, platform, sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / 'results'
PACKAGES = ('torch', 'torchvision', 'captum', 'grad-cam', 'lightning', 'fastapi', 'uvicorn', 'fiftyone', 'numpy', 'pillow', 'xnn')

def _cpu()->str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def machine()->dict:
    "The hardware a figure was measured on"
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try: ram = round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)
    except (ValueError, OSError, AttributeError): ram = None
    return dict(cpu=_cpu(), cores=os.cpu_count(), torch_threads=torch.get_num_threads(), gpu=gpu, ram_gib=ram,
                platform=platform.platform())

def versions()->dict:
    out = dict(python=platform.python_version())
    for p in PACKAGES:
        try: out[p] = version(p)
        except PackageNotFoundError: pass
    return out

def save_result(name:str, figures:dict, rows:list, out=None, save:bool=True)->Path:
    "Write `<out or benchmarks/results>/<name>.json` (see the module's doc) and return its path (None if not `save`)"
    for r in rows:
        missing = {'benchmark', 'baseline', 'xnn', 'ratio'} - set(r)
        if missing: raise ValueError(f'result row of {name!r} lacks {sorted(missing)}: {r}')
    if not save: return None
    out = Path(out or RESULTS); out.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    try: script = script.relative_to(RESULTS.parents[1])
    except ValueError: pass
    doc = dict(name=name, script=str(script), argv=sys.argv[1:],
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
               machine=machine(), versions=versions(), figures=figures, rows=rows)
    p = out / f'{name}.json'
    p.write_text(json.dumps(doc, indent=1, default=float) + '\n')
    print(f'result: {p}')
    return p

def add_save_args(ap):
    "`--out DIR` and `--no-save` on a benchmark's parser"
    ap.add_argument('--out', default=None, help=f'folder of the result file (default: {RESULTS})')
    ap.add_argument('--no-save', action='store_true', help='print only; leave benchmarks/results alone')
    return ap
