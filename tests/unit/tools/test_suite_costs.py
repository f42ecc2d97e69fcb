"""tools/suite_costs.py reads the JUnit report pytest itself writes: a tiny suite run for real, then its costs."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import suite_costs  # noqa: E402  pylint: disable=wrong-import-position

SUITE = """
import pytest

@pytest.fixture(scope="module")
def shared():
    return "what a module-scoped sandbox would be, set up for the file's first test"

def test_first(shared):
    pass

def test_second(shared):
    pass

class TestGrouped:
    def test_in_a_class(self):
        pass
"""


def test_sums_each_suite_and_file_from_pytest_junit_report(tmp_path):
    for suite, text in (("integration", SUITE), ("reliability", "def test_fast():\n    pass\n")):
        folder = tmp_path / "tests" / suite
        folder.mkdir(parents=True)
        (folder / ("test_%s.py" % suite)).write_text(text)
    report = tmp_path / "suites.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           "--junitxml", str(report), "tests/integration", "tests/reliability"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_suite, by_file, wall = suite_costs.costs(str(report))
    assert {name: row[0] for name, row in by_suite.items()} == {"integration": 3, "reliability": 1}
    # the class's test is counted with its file, not as a file of its own
    expected = {"tests/integration/test_integration.py": 3, "tests/reliability/test_reliability.py": 1}
    assert {name: row[0] for name, row in by_file.items()} == expected
    # each suite's time is the sum of its test cases' times, as pytest reported them
    cases = [(c.get("classname"), float(c.get("time"))) for c in ET.parse(str(report)).iter("testcase")]
    for suite in ("integration", "reliability"):
        expected = sum(t for name, t in cases if name.startswith("tests.%s." % suite))
        assert abs(by_suite[suite][1] - expected) < 1e-9
    assert wall >= by_suite["integration"][1] + by_suite["reliability"][1] - 1e-3
    table = suite_costs.render(by_suite, by_file, wall, top=1)
    lines = table.splitlines()
    assert lines[2].startswith("| integration | 3 |") and lines[4].startswith("| all | 4 |")
    assert lines[-1].startswith("| tests/integration/test_integration.py | 3 |")  # the costliest file alone


def test_a_report_without_tests_is_an_error(tmp_path, capsys):
    report = tmp_path / "empty.xml"
    report.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="0" time="0.01"/></testsuites>')
    assert suite_costs.main(["suite_costs.py", str(report)]) == 1
    assert "holds no test case" in capsys.readouterr().err
