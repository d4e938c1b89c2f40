"""Runs the Python binding's tests (tests/python/test_*.py) and prints what
scripts/test.sh totals: "ok NAME", "FAIL NAME", "skip NAME: skipped: why",
then "N passed, N failed, N skipped".

    PYTHONPATH=build/python /usr/bin/python3 tests/python/run.py build
"""
import os
import sys
import unittest


class Result(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        print(f"ok   {test.id()}", flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        print(f"FAIL {test.id()}\n{self._exc_info_to_string(err, test)}", flush=True)

    def addError(self, test, err):
        super().addError(test, err)
        print(f"FAIL {test.id()}\n{self._exc_info_to_string(err, test)}", flush=True)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        print(f"skip {test.id()}: skipped: {reason}", flush=True)


def main():
    os.environ["VMACCEL_TEST_BUILD"] = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                                                       else "build")
    for k in ("VMACCEL_REMOTE", "VMACCEL_PLUGINS", "VMACCEL_PLUGIN_DIR"):
        os.environ.pop(k, None)  # each test's config file decides
    os.environ["VMACCEL_CONFIG"] = ""  # not even an installed default file
    here = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py")
    runner = unittest.TextTestRunner(resultclass=Result, verbosity=0,
                                     stream=open(os.devnull, "w"))
    r = runner.run(suite)
    failed = len(r.failures) + len(r.errors)
    skipped = len(r.skipped)
    print(f"{r.testsRun - failed - skipped} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
