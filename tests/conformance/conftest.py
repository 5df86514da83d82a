"""Reports the share of catalogue actions that send their doc page's example verbatim."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from .test_doc_examples import EXAMPLES, RESULTS

    if not RESULTS:
        return
    verbatim = sum(1 for outcome in RESULTS.values() if not outcome)
    terminalreporter.write_sep("-", "doc examples")
    terminalreporter.write_line(
        f"{verbatim} of {len(RESULTS)} cases (actions and their alternatives) driven with their doc "
        f"page's example sent it verbatim ({verbatim / len(RESULTS):.1%}); {len(EXAMPLES)} cases in all"
    )
