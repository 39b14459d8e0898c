"""Copy the figures and trust tables of a finished `xnn_demo` run into nbs/images/demo/ (the README shows the figures; the
copies of methods_trust.csv, methods_table.csv, sanity.json, metrics.json and the step timings feed its generated tables and numbers) and print the numbers the README
quotes, as Markdown. Usage: python tools/demo_figures.py [DEMO_DIR] [IMAGES_DIR]"""
import json, shutil, sys
from pathlib import Path
import pandas as pd
from xnn.report import markdown_table

FIGURES = ('training_curves.png', 'evaluation.png', 'examples.png')        # under report/figures/
TABLES = ('methods_trust.csv', 'methods_table.csv', 'sanity.json', 'metrics.json')   # under report/ (metrics.json: the run's test metrics)

def main(demo='demo', images='nbs/images/demo'):
    demo, images = Path(demo), Path(images)
    rep = demo / 'report'
    missing = [f for f in ('metrics.json', *TABLES) if not (rep / f).exists()]
    if missing: raise SystemExit(f'{rep}/{missing[0]} not found: run `make demo` first')
    images.mkdir(parents=True, exist_ok=True)
    for f in FIGURES: shutil.copy2(rep / 'figures' / f, images / f)
    for f in TABLES: shutil.copy2(rep / f, images / f)
    shutil.copy2(demo / '.xnn-demo.json', images / 'demo_run.json')            # the step timings the README quotes
    s, st = json.loads((rep / 'metrics.json').read_text()), json.loads((demo / '.xnn-demo.json').read_text())
    t = s['test']
    ci = lambda k: f'{t[k]:.3f} [{t[k + "_ci"][0]:.3f}, {t[k + "_ci"][1]:.3f}]'
    print(f'best epoch {s["best_epoch"]} of {s["last_epoch"]}; test macro-F1 {ci("macro_f1")}, accuracy {ci("accuracy")}, '
          f'AUROC {ci("auroc")}, ECE {t["ece"]:.3f}; {s["explained_films"]} films explained')
    print('run time by step (s):', st.get('last_run', {}))
    print('sanity verdicts:', ', '.join(f'{m} {v}' for m, v in s['trust']['verdicts'].items()))
    print(markdown_table(pd.read_csv(rep / 'methods_trust.csv', dtype=str, keep_default_na=False, index_col=0)))
    print(f'copied {", ".join(FIGURES + TABLES)} and demo_run.json to {images}')

if __name__ == '__main__': main(*sys.argv[1:])
