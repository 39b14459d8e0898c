"""README screenshots from a finished `make demo`: the Streamlit UI (xnn_serve + xnn_app) and the attribution browser
(Voila) on the demo's trained model and explanations, rendered by Debian's Chromium through Playwright.

    python tools/screenshots.py [DEMO_DIR] [IMAGES_DIR]      (defaults: demo nbs/images)

Needs `make install-browser`. Everything listens on 127.0.0.1 and is stopped at the end.
"""
import os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run']

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start(*cmd, cwd=None):
    return subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, PATH=f'{BIN}:{os.environ["PATH"]}'))

def wait(url:str, seconds:float=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try: return urllib.request.urlopen(url, timeout=5)
        except OSError: time.sleep(1)
    raise SystemExit(f'{url} did not answer within {seconds} s')

def stop(p):
    try: os.killpg(p.pid, signal.SIGTERM); p.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired): os.killpg(p.pid, signal.SIGKILL)

def pick_film(demo:Path)->Path:
    "A correctly classified viral-pneumonia test film (its lesions are spread over both lungs: a readable picture)"
    from xnn.artifacts import ExplanationRun
    m = ExplanationRun.open(demo / 'report/explanations').metrics.drop_duplicates('path')
    ok = m[(m.label == 'virus') & (m.predicted == 'virus')].sort_values('probability', ascending=False)
    return demo / 'data' / (ok.path.iloc[0] if len(ok) else m.path.iloc[0])

def app_shot(browser, demo:Path, out:Path):
    api_port, ui_port = free_port(), free_port()
    api = start(BIN / 'xnn_serve', '--ckpt', demo / 'models/demo.ckpt', '--port', api_port)
    ui = start(BIN / 'xnn_app', '--api', f'http://127.0.0.1:{api_port}', '--port', ui_port)
    try:
        wait(f'http://127.0.0.1:{api_port}/health'); wait(f'http://127.0.0.1:{ui_port}/')
        film = pick_film(demo)
        page = browser.new_page(viewport={'width': 1400, 'height': 1250})
        page.goto(f'http://127.0.0.1:{ui_port}/', timeout=120_000)
        page.locator('input[type=file]').set_input_files(str(film), timeout=60_000)
        page.get_by_text(re.compile(re.escape(film.name[-9:]) + '$')).wait_for(timeout=30_000)
        page.get_by_role('button', name='Predict and explain').click()
        page.wait_for_function("() => document.querySelectorAll('[data-testid=stImage] img').length >= 2", timeout=300_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / 'app.png'))
    finally: stop(ui); stop(api)

def dashboard_shot(browser, demo:Path, out:Path):
    port = free_port()
    voila = start(sys.executable, '-m', 'voila', 'dashboard.ipynb', '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1', cwd=demo)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(('127.0.0.1', port)) == 0: break
            time.sleep(0.5)
        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        page.goto(f'http://127.0.0.1:{port}/', timeout=240_000)
        page.wait_for_function("() => [...document.querySelectorAll('.widget-image')].filter(i => i.naturalWidth > 0).length >= 3", timeout=180_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / 'dashboard.png'), full_page=True)
    finally: stop(voila)

def main(demo='demo', images='nbs/images'):
    demo, out = Path(demo).resolve(), Path(images).resolve()
    from xnn.artifacts import ExplanationRun
    if not ExplanationRun(demo / 'report/explanations').exists: raise SystemExit(f'{demo} has no explanations: run `make demo` first')
    chromium = shutil.which('chromium') or '/usr/bin/chromium'
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        app_shot(browser, demo, out); dashboard_shot(browser, demo, out)
        browser.close()
    print(f'wrote {out / "app.png"} and {out / "dashboard.png"}')

if __name__ == '__main__': main(*sys.argv[1:])
