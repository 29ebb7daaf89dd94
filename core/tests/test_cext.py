# cpython-only: checks the Cython build, which MicroPython does not have.
"""core's compiled modules: the ones setup.py lists under heatkeeper.core equal core's .pxd
files, and the build honours HEATKEEPER_REQUIRE_CEXT / HEATKEEPER_DISABLE_CEXT. Only core is
looked at and imported (the ARM leg has core alone); tools/tests/plant/test_cext.py checks the rest."""

import ast
import importlib
import os
import subprocess
import sys
import unittest

from heatkeeper.core import _cext

CORE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(os.path.dirname(CORE), "setup.py")
PACKAGE = "heatkeeper.core"


def listed_modules():
    """The modules of setup.py's CYTHON_MODULES under heatkeeper.core."""
    tree = ast.parse(open(SETUP).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CYTHON_MODULES":
            return sorted(m for m in ast.literal_eval(node.value) if m.startswith(PACKAGE + "."))
    raise AssertionError("CYTHON_MODULES not found in setup.py")


def pxd_modules():
    found = []
    for root, dirs, files in os.walk(CORE):
        dirs[:] = [d for d in dirs if d not in ("node_modules", "build") and not d.startswith((".", "_"))]
        for name in files:
            if name.endswith(".pxd"):
                rel = os.path.relpath(os.path.join(root, name[:-4]), CORE)
                found.append(PACKAGE + "." + rel.replace(os.sep, "."))
    return sorted(found)


class TestCompiledModules(unittest.TestCase):
    def test_list_equals_pxd_files(self):
        self.assertEqual(listed_modules(), pxd_modules())

    def test_every_pxd_has_its_py_source(self):
        for module in pxd_modules():
            self.assertTrue(os.path.isfile(os.path.join(CORE, *module.split(".")[2:]) + ".py"), module)

    def test_sources_never_import_cython(self):
        for module in listed_modules():
            text = open(os.path.join(CORE, *module.split(".")[2:]) + ".py").read()
            self.assertTrue("import cython" not in text, module)

    def test_loaded_kind_matches_environment(self):
        for module in listed_modules():
            mod = importlib.import_module(module)
            if _cext.cext_disabled():
                self.assertTrue(not _cext.compiled(mod), "%s is compiled under HEATKEEPER_DISABLE_CEXT=1" % module)
            elif _cext.cext_required():
                self.assertTrue(_cext.compiled(mod), "%s is not compiled under HEATKEEPER_REQUIRE_CEXT=1" % module)

    def test_core_switches_only_its_own_modules(self):
        # core names no room above it: a package outside core adds itself (register_pure_package)
        code = "from heatkeeper.core import _cext; print(repr(_cext.pure_prefixes()))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        self.assertEqual(ast.literal_eval(out.strip()), (PACKAGE + ".",))
        with self.assertRaises(ValueError):
            _cext.register_pure_package("heatkeeper.core")

if __name__ == "__main__":
    unittest.main()
