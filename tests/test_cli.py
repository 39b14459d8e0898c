"""The console scripts built with `xnn.cli.command`: every flag, short flag and positional they had as argparse parsers is still
there, every command line the README shows parses, `--help` is the docments, and the defaults are the library's own."""
import re, shlex, subprocess
from pathlib import Path
import pytest
from conftest import script
from xnn.app import xnn_app
from xnn.cli import defaults
from xnn.data.synthetic import SynthConfig, xnn_synth
from xnn.data.wrangle import wrangle, xnn_wrangle
from xnn.demo import DemoConfig, xnn_demo
from xnn.fiftyone import xnn_fiftyone
from xnn.report import explain_split, xnn_explain
from xnn.run import xnn_train
from xnn.serve import create_app, xnn_serve

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = dict(xnn_synth=xnn_synth, xnn_wrangle=xnn_wrangle, xnn_train=xnn_train, xnn_explain=xnn_explain, xnn_demo=xnn_demo,
                xnn_serve=xnn_serve, xnn_app=xnn_app, xnn_fiftyone=xnn_fiftyone)

# the option strings and positionals of the argparse parsers these commands replaced (xnn before the command layer)
FLAGS = dict(
    xnn_synth=['out', '--patients', '--size', '--seed', '--difficulty', '--shortcut', '--shortcut-strength', '--force', '-q', '--quiet'],
    xnn_wrangle=['src', 'dst', '--ratios', '--n-predict', '--seed', '--link', '--force', '--drop-duplicates', '--labels', '--boxes',
                 '--keep-phi', '--near-duplicates', '-q', '--quiet'],
    xnn_train=['overrides', '-cn', '--config-name', '-cd', '--config-dir', '-m', '--multirun', '--force', '--cfg', '-q', '--quiet'],
    xnn_explain=['--ckpt', '--data', '--out', '--split', '--methods', '--limit', '--target', '--baseline', '--batch-size', '--steps',
                 '--ig-steps', '--ig-tol', '--accelerator', '--devices', '--sanity-images', '--road-films', '--shuffled-ckpt', '--force',
                 '-q', '--quiet'],
    xnn_demo=['overrides', '--out', '--patients', '--size', '--seed', '--preset', '--methods', '--limit', '--no-progress', '-q', '--quiet'],
    xnn_serve=['--ckpt', '--host', '--port', '--workers', '--threads', '--max-upload-mb', '--max-batch', '--api-key', '--log-level',
               '-q', '--quiet'],
    xnn_app=['--api', '--host', '--port', '-q', '--quiet'],
    xnn_fiftyone=['--data', '--ckpt', '--explanations', '--name', '--port', '--address', '--no-launch', '--no-brain', '-q', '--quiet'],
)

def flags(parser)->list:
    "Option strings and positional names of `parser`, without -h/--help"
    return [s for a in parser._actions for s in (a.option_strings or [a.dest]) if s not in ('-h', '--help')]

@pytest.mark.parametrize('name', list(COMMANDS))
def test_every_old_flag_is_kept(name):
    assert sorted(flags(COMMANDS[name].parser())) == sorted(FLAGS[name])

def readme_commands()->list:
    "The `xnn_*` command lines of the README's code blocks (comments dropped; lines with '…' elisions skipped)"
    lines, inside = [], False
    for ln in (ROOT / 'README.md').read_text().splitlines():
        if ln.lstrip().startswith('```'): inside = not inside
        elif inside: lines.append(ln.split('  #')[0].strip())
    return [ln for ln in lines if re.match(rf"({'|'.join(COMMANDS)})\b", ln) and '…' not in ln]

def test_readme_shows_each_command():
    assert {ln.split()[0] for ln in readme_commands()} >= {'xnn_synth', 'xnn_wrangle', 'xnn_train', 'xnn_explain', 'xnn_fiftyone',
                                                           'xnn_serve', 'xnn_app'}

@pytest.mark.parametrize('line', readme_commands())
def test_readme_command_lines_parse(line):
    name, *argv = shlex.split(line)
    a = COMMANDS[name].parser().parse_intermixed_args(argv)    # a renamed or dropped flag exits 2 here
    if name == 'xnn_train': assert all('=' in o for o in a.overrides), a.overrides

def test_makefile_demo_line_parses():
    line = next(ln for ln in (ROOT / 'Makefile').read_text().splitlines() if '/xnn_demo ' in ln)
    argv = [w.replace('$(DEMO)', 'demo') for w in shlex.split(line.split('/xnn_demo ', 1)[1])]
    assert xnn_demo.parser().parse_intermixed_args(argv).out == 'demo'

@pytest.mark.parametrize('name', ['xnn_serve', 'xnn_app'])
def test_makefile_serving_lines_parse(name):
    line = next(ln for ln in (ROOT / 'Makefile').read_text().splitlines() if f'/{name} ' in ln)
    argv = [w.replace('$(CKPT)', 'm.ckpt') for w in shlex.split(line.split(f'/{name} ', 1)[1])]
    COMMANDS[name].parser().parse_intermixed_args(argv)

def test_defaults_are_the_librarys():
    d = vars(xnn_wrangle.parser().parse_args(['s', 'd']))
    w = defaults(wrangle)
    assert (tuple(d['ratios']), d['n_predict'], d['seed'], d['link']) == (w.ratios, w.n_predict, w.seed, w.link)
    d, e = vars(xnn_explain.parser().parse_args(['--ckpt', 'c', '--data', 'd', '--out', 'o'])), defaults(explain_split)
    assert {k: d[k] for k in ('split', 'target', 'baseline', 'batch_size', 'steps', 'ig_steps', 'ig_tol', 'devices', 'road_films')} == \
           {k: e[k] for k in ('split', 'target', 'baseline', 'batch_size', 'steps', 'ig_steps', 'ig_tol', 'devices', 'road_films')}
    assert d['methods'].split(',') == list(e.methods)
    d = vars(xnn_synth.parser().parse_args(['o']))
    assert (d['patients'], d['size'], d['seed'], d['difficulty']) == (SynthConfig.patients, SynthConfig.size, SynthConfig.seed, SynthConfig.difficulty)
    d = vars(xnn_demo.parser().parse_args([]))
    assert (d['out'], d['patients'], d['preset'], d['progress'], d['methods']) == \
           (DemoConfig.out, DemoConfig.patients, DemoConfig.preset, True, ','.join(DemoConfig.methods))
    d, c = vars(xnn_serve.parser().parse_args(['--ckpt', 'm'])), defaults(create_app)
    assert (d['max_upload_mb'], d['max_batch'], d['api_key']) == (c.max_upload_mb, c.max_batch, None)
    assert vars(xnn_app.parser().parse_args([]))['api'] is None     # $XNN_API is read when the app starts
    d = vars(xnn_fiftyone.parser().parse_args(['--data', 'd']))
    assert (d['port'], d['address'], d['launch'], d['brain']) == (5151, '127.0.0.1', True, True)

def test_help_is_the_docments():
    helps = {n: ' '.join(c.parser().format_help().split()) for n, c in COMMANDS.items()}
    assert 'number of patients, 1-3 films each (default: 150)' in helps['xnn_synth']
    assert '--ratios TRAIN VAL TEST split shares (default: 0.8 0.1 0.1)' in helps['xnn_wrangle']
    assert '-cn CONFIG_NAME, --config-name CONFIG_NAME preset (default: demo)' in helps['xnn_train']
    assert '--ckpt CKPT model checkpoint (models/<run>.ckpt)' in helps['xnn_explain']
    assert '--no-progress progress bars; --no-progress: none' in helps['xnn_demo']
    assert '--api-key API_KEY answer /predict and /explain only with this key' in helps['xnn_serve']
    assert '--api API URL of xnn_serve (default: $XNN_API, else http://127.0.0.1:8080)' in helps['xnn_app']
    assert '--no-brain FiftyOne Brain' in helps['xnn_fiftyone']
    for n, h in helps.items(): assert h.startswith(f'usage: {n} ') and '-q, --quiet' in h, n

def test_console_script_reads_sys_argv():
    "The entry point calls the command with no arguments: it reads sys.argv, and --help exits 0 with the docments"
    r = subprocess.run([script('xnn_synth'), '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and 'usage: xnn_synth' in r.stdout and 'median film height in pixels' in r.stdout, r.stderr
    r = subprocess.run([script('xnn_synth'), 'out', '--patients', 'many'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "argument --patients: invalid int value: 'many'" in r.stderr

def test_user_error_is_one_line(tmp_path, capsys):
    (tmp_path / 'mine.txt').write_text('not a data set')
    with pytest.raises(SystemExit) as e: xnn_synth([str(tmp_path), '--patients', '2', '--size', '64', '--force'])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('xnn_synth: error: ') and 'not written by xnn_synth' in err and err.count('\n') == 1
