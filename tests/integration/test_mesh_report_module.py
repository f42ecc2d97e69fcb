"""mesh_report as a playbook calls it: bad input fails naming the option, and writes nothing."""

import os

import pytest

from playbook import option_ids, refusal, run_cases, run_playbook


def report_task(**options):
    return {"name": "report", "istio_demo.mesh.mesh_report": options}


BAD_INPUT = [
    (dict(routes="x"), ["option 'routes' is of type str", "unable to convert to dict"]),
    (dict(control_plane=["x"]), ["'control_plane' is of type list", "unable to convert to dict"]),
    (dict(formats=["pdf"]), ["value of formats must be one or more of: md, html, svg, png", "pdf"]),
    (dict(routes=[{"requests": 1}]), ["routes[0] is invalid", "expected path"]),
    (dict(addons=[{"ready": True}]), ["addons[0] is invalid", "expected name"]),
    (dict(formats=["svg"], dot_path="/no/such/dot"),
     ["formats=svg needs Graphviz's dot", "dot_path=/no/such/dot is not an executable"]),
]


@pytest.fixture(scope="module")
def bad_input_outcomes(tmp_path_factory):
    """Every BAD_INPUT case in one play (run_cases), each with an output directory of its own: (outcomes, run,
    whether each case's directory exists afterwards)."""
    base = tmp_path_factory.mktemp("bad-input")
    outs = [base / ("reports-%d" % index) for index in range(len(BAD_INPUT))]
    outcomes, run = run_cases(base, [report_task(output_dir=str(out), **options)
                                     for out, (options, dummy) in zip(outs, BAD_INPUT)])
    return outcomes, run, [out.exists() for out in outs]


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=option_ids(BAD_INPUT))
def test_bad_input_fails_naming_the_option_and_writes_nothing(bad_input_outcomes, index):
    outcomes, run, written = bad_input_outcomes
    message = refusal(outcomes, run, index)
    for text in BAD_INPUT[index][1]:
        assert text in message, message
    assert not written[index]


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file a person keeps\n")
    run = run_playbook(tmp_path, [report_task(output_dir=str(target), formats=["md"])])
    assert run.rc != 0
    assert "output_dir=%s is invalid: expected a directory, and it is a file" % target in run.result("report")["msg"]
    assert target.read_text() == "a file a person keeps\n"


def test_check_mode_writes_nothing_and_says_it_would(tmp_path):
    out = tmp_path / "reports"
    run = run_playbook(tmp_path, [report_task(output_dir=str(out), formats=["md", "html"])], ["--check"])
    assert run.rc == 0, run.stdout
    assert run.result("report")["changed"] is True
    assert not os.path.exists(str(out))
