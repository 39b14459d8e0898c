"""xnn in JupyterLab 4, driven by Debian's Chromium through Playwright: one `jupyter lab` on 127.0.0.1 for the module (no token,
its own settings, workspaces, runtime and config folders), one notebook and one workspace per test, run with Run → Run All Cells.
The attribution browser, the FiftyOne App inline, and xnn's progress bar as a widget. Each step waits for exactly the condition
it asserts. Screenshots go to test-artifacts/jupyterlab_*.png (copies in nbs/images)."""
import json, os, re, subprocess, sys, uuid
from dataclasses import dataclass
from pathlib import Path
import nbformat, pandas as pd, psutil, pytest
from conftest import ART, app_shows, film_path, free_port, png_complete, stop, wait_file, wait_http, wait_view

@dataclass
class Lab:
    url: str
    root: Path      # the server's root_dir: notebooks are written here
    proc: subprocess.Popen
    log: Path

def _lab_env(d:Path)->dict:
    "Environment of the lab and its kernels: every Jupyter folder under `d`, news and update checks off, no FiftyOne tracking"
    dirs = dict(JUPYTERLAB_SETTINGS_DIR='settings', JUPYTERLAB_WORKSPACES_DIR='workspaces', JUPYTER_RUNTIME_DIR='runtime',
                JUPYTER_CONFIG_DIR='config', JUPYTER_DATA_DIR='data', IPYTHONDIR='ipython')
    for v in dirs.values(): (d / v).mkdir()
    notes = d / 'settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings'
    notes.parent.mkdir(parents=True); notes.write_text(json.dumps(dict(fetchNews='false', checkForUpdates=False)))
    # FiftyOne caches the context it detects in os.environ['FIFTYONE_CONTEXT']: once this test process has used FiftyOne ('none'),
    # kernels inheriting it would not show the App inline — start the lab with the environment a shell would give it
    env = {k: v for k, v in os.environ.items() if k != 'FIFTYONE_CONTEXT'}
    return dict(env, **{k: str(d / v) for k, v in dirs.items()}, PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}',
                FIFTYONE_DO_NOT_TRACK='true', FIFTYONE_DATABASE_VALIDATION='false',   # no notice about the bundled MongoDB 6.0's age
                HF_HUB_OFFLINE='1', MPLBACKEND='Agg')

def _is_shared_db(p:psutil.Process)->bool:
    "FiftyOne's database service: one mongod per user, shared with every FiftyOne process, stopped by its own monitor after its last client"
    try: cmd = ' '.join(p.cmdline())
    except psutil.Error: return False
    return 'mongod' in cmd or '--51-service db' in cmd

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp('jupyterlab')
    (root := d / 'root').mkdir()
    port, log = free_port(), d / 'lab.log'
    with open(log, 'w') as out:     # a file, not a pipe: a full pipe would block the server and its kernels
        proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
                                 '--IdentityProvider.token=', '--ServerApp.password=', f'--ServerApp.root_dir={root}',
                                 '--LabApp.extension_manager=readonly'],
                                cwd=root, env=_lab_env(d), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try: wait_http(f'http://127.0.0.1:{port}/api/status', proc, 120)
        except AssertionError: raise AssertionError(f'jupyter lab did not start:\n{log.read_text()[-3000:]}') from None
        yield Lab(f'http://127.0.0.1:{port}', root, proc, log)
    finally:
        kids = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        stop(proc)                  # SIGTERM: the server shuts its kernels down; FiftyOne's App server exits with its kernel
        _, alive = psutil.wait_procs([k for k in kids if not _is_shared_db(k)], timeout=30)
        for k in alive: k.kill()
        assert not alive, f'left running after jupyter lab stopped: {[k.pid for k in alive]}'

@pytest.fixture(autouse=True)
def _lab_output_on_failure(request, lab, page):
    "On failure, print what the server and kernels wrote meanwhile, and JupyterLab's log console (where a widget callback's traceback goes)"
    start = lab.log.stat().st_size
    yield
    if getattr(request.node, 'rep_call', None) is None or not request.node.rep_call.failed: return
    with open(lab.log, errors='replace') as f: f.seek(start); print('--- jupyter lab and kernel output ---\n' + f.read()[-3000:])
    try:
        page.locator('.jp-LogConsoleStatusItem').click(timeout=5_000)
        print('--- JupyterLab log console ---\n' + page.locator('.jp-LogConsolePanel').inner_text(timeout=5_000)[-3000:])
    except Exception as e: print(f'(no log console: {e})')

@pytest.fixture(scope='module')
def run_in_lab(lab, explained_run)->Path:
    "The shared explained run as `data` and `expl` beside the notebooks (short paths in the cells, as a user writes them)"
    for k in ('data', 'expl'): (lab.root / k).symlink_to(explained_run / k, target_is_directory=True)
    return explained_run

def run_notebook(page, lab:Lab, name:str, *cells:str):
    "Write `name`.ipynb, open it in a workspace of its own (nothing restored from other tests) and Run → Run All Cells"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    nbformat.write(nb, lab.root / f'{name}.ipynb')
    page.goto(f'{lab.url}/lab/workspaces/{name}/tree/{name}.ipynb', timeout=120_000)
    page.locator('.jp-NotebookPanel .jp-CodeCell').nth(len(cells) - 1).wait_for(timeout=120_000)
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current').click()      # fold the file browser: room for the outputs
    page.locator('#jp-left-stack').wait_for(state='hidden')
    page.locator('.jp-StatusBar-TextItem', has_text=re.compile(r'\| Idle$')).wait_for(timeout=120_000)   # the kernel is up
    page.locator('.lm-MenuBar-itemLabel', has_text=re.compile('^Run$')).click()
    page.locator('.lm-Menu-itemLabel', has_text=re.compile('^Run All Cells$')).click()

def test_attribution_browser(lab, run_in_lab, page):
    "The dashboard renders its images; a filter, the overlay toggle and 'next' each change exactly what they should; export writes the PNG"
    films = pd.read_csv(run_in_lab / 'expl/metrics.csv').drop_duplicates('path')
    counts = films.label.value_counts()
    label = next(k for k, c in counts.items() if k != films.label.iloc[0] and c >= 2)   # another class, with a film to go 'next' to
    run_notebook(page, lab, 'dashboard', "from xnn.dashboard import AttributionBrowser\nAttributionBrowser('expl', 'data', export_dir='exports')")
    first = wait_view(page, 4, timeout=180_000)                                          # the film and three methods, all loaded
    assert f'true {films.label.iloc[0]} ·' in first['badges']

    page.locator('.widget-dropdown', has=page.locator('label', has_text=re.compile('^true$'))).locator('select').select_option(label=label)
    filtered = wait_view(page, 4, first, ('images', 'badges'), timeout=60_000)
    assert f'true {label} ·' in filtered['badges'] and film_path(filtered) in set(films.path[films.label == label])

    page.get_by_role('button', name='positive', exact=True).click()                       # the overlay mode: new images, same film
    positive = wait_view(page, 4, filtered, ('images',), timeout=60_000)
    assert film_path(positive) == film_path(filtered)

    page.get_by_role('button', name='next ▶').click()
    nxt = wait_view(page, 4, positive, ('images', 'badges'), timeout=60_000)
    assert film_path(nxt) != film_path(positive) and f'true {label} ·' in nxt['badges']        # the next film that passes the filter
    ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'jupyterlab_dashboard.png'))

    from xnn.artifacts import film_stem
    page.get_by_role('button', name='export PNG').click()
    assert wait_file(lab.root / 'exports' / f'{film_stem(film_path(nxt))}.view.png', png_complete, 60)

def test_fiftyone_inline(lab, run_in_lab, page):
    "xnn.fiftyone.launch in a notebook cell shows the App in the output area, on the dataset, with every film counted"
    from xnn.data.wrangle import read_annotations
    name, port, n = f'xnn-jlab-{os.getpid()}-{uuid.uuid4().hex[:6]}', free_port(), len(read_annotations(run_in_lab / 'data'))
    page.add_init_script('window.IS_PLAYWRIGHT = true')     # the App's own switch for automated browsers: no product pop-up, no analytics
    try:
        run_notebook(page, lab, 'fiftyone', 'import xnn.fiftyone as xf\n'
                     f"ds = xf.build_dataset('data', {name!r}, persistent=False)\n"
                     f"session = xf.launch(ds, port={port})\nprint(len(ds), 'films in', ds.name)")
        page.locator('.jp-OutputArea-output', has_text=f'{n} films in {name}').wait_for(timeout=180_000)
        frame = page.locator(f'.jp-OutputArea iframe[src^="http://127.0.0.1:{port}/"]').element_handle(timeout=60_000).content_frame()
        app_shows(frame, name, n)
        ART.mkdir(exist_ok=True); page.screenshot(path=str(ART / 'jupyterlab_fiftyone.png'))
    finally:
        import fiftyone as fo
        if fo.dataset_exists(name): fo.delete_dataset(name)

def test_progress_is_a_widget(lab, page):
    "xnn's progress bar renders as an ipywidgets bar while the cell runs, and no text bar is printed"
    run_notebook(page, lab, 'progress', 'import time\nfrom xnn.core import progress\n'
                 "for _ in progress(range(40), 'waiting', unit='step', delay=0): time.sleep(0.2)\nprint('loop done')")
    bar = page.wait_for_function("""() => {
        const prompt = document.querySelector('.jp-CodeCell .jp-InputPrompt'), out = document.querySelector('.jp-CodeCell .jp-OutputArea');
        const bar = out && out.querySelector('.widget-hprogress .progress-bar, .jupyter-widget-hprogress .progress-bar');
        const box = bar && bar.closest('.widget-hbox, .jupyter-widget-hbox');
        return bar && prompt.innerText.includes('[*]') && box.innerText.includes('waiting') ? box.innerText : null; }""",
                                 timeout=120_000).json_value()
    assert 'waiting' in bar
    done = page.wait_for_function("""() => {
        const out = document.querySelector('.jp-CodeCell .jp-OutputArea');
        return out && out.innerText.includes('loop done') ? [...out.querySelectorAll('.jp-RenderedText')].map(e => e.innerText).join('\\n') : null; }""",
                                  timeout=120_000).json_value()
    assert done.strip() == 'loop done', f'text besides the result (a text progress bar or a warning): {done!r}'
