"""What the sandbox suites cost: read pytest's JUnit XML report (``--junitxml``) and print the time each suite and the
costliest test files took, summed over their tests (setup, call and teardown: pytest's ``junit_duration_report``
default), beside the run's wall time.

Usage: python tools/suite_costs.py build/suites.xml [TOP]

The sums are test time, not wall time: with two workers the suites' wall time is about half their sum. A test file's
module-scoped fixtures (its sandbox, a site.yml its tests share) count against its first test.
"""

import sys
import xml.etree.ElementTree as ET


def costs(path):
    """({suite: [tests, seconds]}, {file: [tests, seconds]}, the run's wall seconds or None) of a JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    by_suite, by_file = {}, {}
    wall = None
    for suite in suites:
        if suite.get("time"):
            wall = (wall or 0.0) + float(suite.get("time"))
        for case in suite.iter("testcase"):
            seconds = float(case.get("time") or 0.0)
            # classname: tests.integration.test_fleet, tests.unit.plugins.filter.test_lb_filters, or either with
            # .TestClass after the module
            parts = (case.get("classname") or "?").split(".")
            modules = [i for i, part in enumerate(parts) if part.startswith("test_")]
            name = "/".join(parts[:modules[-1] + 1]) + ".py" if modules else ".".join(parts)
            group = parts[1] if len(parts) >= 2 and parts[0] == "tests" else parts[0]
            for table, key in ((by_suite, group), (by_file, name)):
                row = table.setdefault(key, [0, 0.0])
                row[0] += 1
                row[1] += seconds
    return by_suite, by_file, wall


def render(by_suite, by_file, wall, top=15):
    total = sum(seconds for dummy, seconds in by_suite.values()) or 1.0
    lines = ["| suite | tests | test time (min) | share |", "|---|---|---|---|"]
    for name, (tests, seconds) in sorted(by_suite.items(), key=lambda item: -item[1][1]):
        lines.append("| %s | %d | %.1f | %.0f%% |" % (name, tests, seconds / 60, 100 * seconds / total))
    count = sum(tests for tests, dummy in by_suite.values())
    lines.append("| all | %d | %.1f | wall %s |" % (count, total / 60, "%.1f min" % (wall / 60) if wall else "?"))
    lines += ["", "| costliest files | tests | test time (s) | share |", "|---|---|---|---|"]
    for name, (tests, seconds) in sorted(by_file.items(), key=lambda item: -item[1][1])[:top]:
        lines.append("| %s | %d | %.0f | %.0f%% |" % (name, tests, seconds, 100 * seconds / total))
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: suite_costs.py REPORT.xml [TOP]\n")
        return 2
    by_suite, by_file, wall = costs(argv[1])
    if not by_suite:
        sys.stderr.write("suite_costs.py: %s holds no test case\n" % argv[1])
        return 1
    print(render(by_suite, by_file, wall, int(argv[2]) if len(argv) > 2 else 15))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
