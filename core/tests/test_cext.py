# cpython-only: checks the Cython build, which MicroPython does not have.
"""The list of compiled modules in setup.py equals the .pxd files, and the build honours
HEATKEEPER_REQUIRE_CEXT / HEATKEEPER_DISABLE_CEXT."""

import ast
import importlib
import os
import unittest

from heatkeeper.core import _cext

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDERS = {"core": "heatkeeper.core", "firmware": "heatkeeper.firmware",
           "supervisor": "heatkeeper.supervisor", "tools": "heatkeeper.tools"}


def listed_modules():
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CYTHON_MODULES":
            return sorted(ast.literal_eval(node.value))
    raise AssertionError("CYTHON_MODULES not found in setup.py")


def pxd_modules():
    found = []
    for folder, package in FOLDERS.items():
        for root, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "build") and not d.startswith(".")]
            for name in files:
                if name.endswith(".pxd"):
                    rel = os.path.relpath(os.path.join(root, name[:-4]), os.path.join(ROOT, folder))
                    found.append(package + "." + rel.replace(os.sep, "."))
    return sorted(found)


class TestCompiledModules(unittest.TestCase):
    def test_list_equals_pxd_files(self):
        self.assertEqual(listed_modules(), pxd_modules())

    def test_every_pxd_has_its_py_source(self):
        for module in pxd_modules():
            parts = module.split(".")
            folder = [f for f, p in FOLDERS.items() if p == ".".join(parts[:2])][0]
            self.assertTrue(os.path.isfile(os.path.join(ROOT, folder, *parts[2:]) + ".py"), module)

    def test_sources_never_import_cython(self):
        for module in listed_modules():
            mod = importlib.import_module(module)
            src = (mod.__file__ or "").rsplit(".", 1)[0].split(".cpython")[0] + ".py"
            text = open(src).read()
            self.assertTrue("import cython" not in text, module)

    def test_loaded_kind_matches_environment(self):
        for module in listed_modules():
            mod = importlib.import_module(module)
            if _cext.cext_disabled():
                self.assertTrue(not _cext.compiled(mod), "%s is compiled under HEATKEEPER_DISABLE_CEXT=1" % module)
            elif _cext.cext_required():
                self.assertTrue(_cext.compiled(mod), "%s is not compiled under HEATKEEPER_REQUIRE_CEXT=1" % module)


if __name__ == "__main__":
    unittest.main()
