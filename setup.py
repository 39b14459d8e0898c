"Packaging for xnn, driven by settings.ini (the nbdev 2 way)."
from configparser import ConfigParser
import setuptools


config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

expected = ('version description keywords author author_email lib_name user branch license status '
            'min_python audience language').split()
missing = [o for o in expected if o not in cfg]
assert not missing, f'settings.ini is missing: {missing}'

licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT'}  # SPDX expressions
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()

lic = licenses.get(cfg['license'].lower(), cfg['license'])
min_python = cfg['min_python']
requirements = cfg.get('requirements', '').split()
# Optional parts: settings.ini `extras = serve ui ...` and one `<extra>_requirements` line each; `all` is their union.
extras = {o: cfg[f'{o}_requirements'].split() for o in cfg.get('extras', '').split()}
extras['all'] = list(dict.fromkeys(r for reqs in extras.values() for r in reqs))
extras['dev'] = cfg.get('dev_requirements', '').split()
console_scripts = [o.strip() for o in cfg.get('console_scripts', '').splitlines() if o.strip()]

setuptools.setup(
    name=cfg['lib_name'],
    license=lic,
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()]
                + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['xnn', 'xnn.*']),
    include_package_data=True,
    package_data={'xnn': ['conf/*.yaml', 'conf/**/*.yaml']},
    install_requires=requirements,
    extras_require=extras,
    dependency_links=cfg.get('dep_links', '').split(),
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d']},
    version=cfg['version'], description=cfg['description'], keywords=cfg['keywords'],
    author=cfg['author'], author_email=cfg['author_email'])
