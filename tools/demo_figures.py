"""Copy the figures of a finished `xnn_demo` run into nbs/images/demo/ (the README shows them) and print the numbers
the README quotes, as Markdown. Usage: python tools/demo_figures.py [DEMO_DIR] [IMAGES_DIR]"""
import json, shutil, sys
from pathlib import Path
import pandas as pd

def main(demo='demo', images='nbs/images/demo'):
    demo, images = Path(demo), Path(images)
    rep = demo / 'report'
    if not (rep / 'metrics.json').exists(): raise SystemExit(f'{rep}/metrics.json not found: run `make demo` first')
    images.mkdir(parents=True, exist_ok=True)
    for f in ('training_curves.png', 'evaluation.png', 'examples.png'): shutil.copy2(rep / 'figures' / f, images / f)
    s, st = json.loads((rep / 'metrics.json').read_text()), json.loads((demo / '.xnn-demo.json').read_text())
    t = s['test']
    ci = lambda k: f'{t[k]:.3f} [{t[k + "_ci"][0]:.3f}, {t[k + "_ci"][1]:.3f}]'
    print(f'best epoch {s["best_epoch"]} of {s["last_epoch"]}; test macro-F1 {ci("macro_f1")}, accuracy {ci("accuracy")}, '
          f'AUROC {ci("auroc")}, ECE {t["ece"]:.3f}; {s["explained_films"]} films explained')
    print('run time by step (s):', st.get('last_run', {}))
    df = pd.read_csv(rep / 'methods_trust.csv')
    fmt = lambda v: '' if pd.isna(v) else (f'{v:.3f}' if isinstance(v, float) else str(v))
    print('| ' + ' | '.join(df.columns) + ' |\n|' + '---|' * len(df.columns))
    for r in df.itertuples(index=False): print('| ' + ' | '.join(fmt(v) for v in r) + ' |')

if __name__ == '__main__': main(*sys.argv[1:])
