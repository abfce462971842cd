"""Build of the compiled engine (pcap_analyzer/_engine.pyx); everything else is in pyproject.toml.

Without a C++ compiler the build of the extension is skipped and pcapan runs
its readable pipeline instead (the same results, slower).
"""
from setuptools import Extension, setup
from Cython.Build import cythonize

setup(
    ext_modules=cythonize(
        [Extension("pcap_analyzer._engine", ["pcap_analyzer/_engine.pyx"], language="c++",
                   extra_compile_args=["-O3"], optional=True)],
        compiler_directives={"language_level": 3},
    ),
)
