"""docker/ cannot be built on the project's machines (no registry access for base images): check instead that the
Dockerfile and compose file agree with the repository — targets, copied files, the extra each image installs, console
scripts, ports, health route, mounts."""
import configparser, re
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]

def dockerfile()->str: return (ROOT / 'docker/Dockerfile').read_text()

def test_copied_files_exist_and_targets_are_defined():
    text = dockerfile()
    for line in re.findall(r'^COPY (.+)$', text, re.M):
        *srcs, _dst = line.split()
        for s in srcs: assert (ROOT / s).exists(), f'COPY {s}: not in the repository'
    assert {'base', 'api', 'ui', 'fiftyone'} <= set(re.findall(r'^FROM \S+ AS (\w+)', text, re.M))

def stages()->dict:
    "Dockerfile target name → its instructions"
    parts = re.split(r'^FROM \S+ AS (\w+)\s*$', dockerfile(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))

def test_each_image_installs_only_its_extra():
    ini = configparser.ConfigParser(); ini.read(ROOT / 'settings.ini')
    extras = set(ini['DEFAULT']['extras'].split())
    want = {'base': None, 'api': 'serve', 'ui': 'ui', 'fiftyone': 'fiftyone'}
    for name, body in stages().items():
        installs = re.findall(r"pip install [^\n&]*?'?\.(?:\[(\w+)\])?'?(?:\s|$)", body)   # installs of the repository itself
        got = [o or None for o in installs]
        assert got == ([] if want[name] is None else [want[name]]), f'docker/Dockerfile: target {name} installs {got}, expected {want[name]!r}'
        assert want[name] is None or want[name] in extras, f'docker/Dockerfile: extra {want[name]!r} is not in settings.ini extras'
        assert name == 'base' or 'USER xnn' in body, f'docker/Dockerfile: target {name} runs as root'

def test_commands_are_our_console_scripts():
    ini = configparser.ConfigParser(); ini.read(ROOT / 'settings.ini')
    scripts = {l.split('=')[0].strip() for l in ini['DEFAULT']['console_scripts'].split('\n') if l.strip()}
    used = set(re.findall(r'exec (xnn_\w+)', dockerfile()))
    assert used == {'xnn_serve', 'xnn_app', 'xnn_fiftyone'} and used <= scripts
    from xnn.app import xnn_app
    from xnn.fiftyone import xnn_fiftyone
    from xnn.serve import xnn_serve
    env = dict(XNN_CKPT='/models/m.ckpt', XNN_WORKERS='2', XNN_THREADS='2', XNN_API='http://api:8080', XNN_DATA='/data',
               XNN_FIFTYONE_ARGS='--ckpt /models/demo.ckpt --explanations /explanations')
    lines = dict(re.findall(r'exec (xnn_\w+) (.*?)"\]', dockerfile()))
    def parse(cmd):   # the Dockerfile's command line of `cmd`, its "$XNN_*" variables set as in `env`
        return cmd.parser().parse_args(re.sub(r'\\?"?\$(\w+)\\?"?', lambda m: env[m.group(1)], lines[cmd.__name__]).split())
    a = parse(xnn_serve)
    assert (a.ckpt, a.host, a.port, a.workers, a.threads) == ('/models/m.ckpt', '0.0.0.0', 8080, 2, 2)
    a = parse(xnn_app)
    assert (a.api, a.host, a.port) == ('http://api:8080', '0.0.0.0', 8501)
    a = parse(xnn_fiftyone)
    assert (a.data, a.address, a.port, a.explanations) == ('/data', '0.0.0.0', 5151, '/explanations')

def test_compose_wires_ui_to_api():
    c = yaml.safe_load((ROOT / 'docker/compose.yaml').read_text())
    api, ui = c['services']['api'], c['services']['ui']
    assert api['build']['target'] == 'api' and ui['build']['target'] == 'ui'
    assert (ROOT / 'docker' / api['build']['context'] / api['build']['dockerfile']).resolve() == ROOT / 'docker/Dockerfile'
    assert ui['environment']['XNN_API'] == 'http://api:8080' and 'EXPOSE 8080' in dockerfile()
    assert all(p.startswith('127.0.0.1:') for s in (api, ui) for p in s['ports'])      # loopback unless you say otherwise
    assert ui['depends_on']['api']['condition'] == 'service_healthy' and "8080/health'" in dockerfile()
    assert api['environment']['XNN_CKPT'].startswith('/models/') and any(v.endswith(':/models:ro') for v in api['volumes'])

def test_compose_serves_fiftyone_on_the_data_folder():
    c = yaml.safe_load((ROOT / 'docker/compose.yaml').read_text())
    fo = c['services']['fiftyone']
    assert fo['build']['target'] == 'fiftyone' and fo['ports'] == ['127.0.0.1:5151:5151'] and 'EXPOSE 5151' in stages()['fiftyone']
    assert fo['environment']['XNN_DATA'] == '/data' and 'ENV XNN_DATA=/data' in stages()['fiftyone']
    mounts = {m: v for v in fo['volumes'] for m in ('/data', '/models', '/explanations') if f':{m}:' in v}
    assert mounts['/data'].endswith(':/data:${XNN_DATA_MODE:-ro}'), f"docker/compose.yaml: the data folder is not read-only by default: {mounts['/data']}"
    assert mounts['/models'].endswith(':ro') and mounts['/explanations'].endswith(':ro')
    assert any(v.endswith(':/home/xnn/.fiftyone') for v in fo['volumes']) and 'fiftyone-db' in c['volumes']
    args = re.fullmatch(r'\$\{XNN_FIFTYONE_ARGS-(.*)\}', fo['environment']['XNN_FIFTYONE_ARGS']).group(1).split()
    assert args[args.index('--ckpt') + 1].startswith('/models/') and args[args.index('--explanations') + 1] == '/explanations'

