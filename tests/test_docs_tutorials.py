"""Every ```python block of the tutorials (docs/tutorials/) runs; see tests/test_docs.py."""
import pytest

from test_docs import pages, run_page


@pytest.mark.parametrize("page", pages(tutorials=True))
def test_tutorial_code_blocks_run(page, tmp_path):
    run_page(page, tmp_path)
