"""nlme.Population: NONMEM event tables parsed, padded and validated (errors name the row and column)."""
import numpy as np
import pytest

from pysciml import nlme
from pysciml.nlme.reference import THEOPP_CSV as THEOPP


def table(**cols):
    """A small event table as a dict of string columns."""
    n = len(next(iter(cols.values())))
    return {k: [str(x) for x in (v if isinstance(v, list) else [v] * n)] for k, v in cols.items()}


def base(**over):
    cols = dict(ID=[1, 1, 1, 2, 2], TIME=[0, 1, 2, 0, 3], AMT=[100, ".", ".", 50, "."], DV=[".", 5, 4, ".", 2],
                EVID=[1, 0, 0, 1, 0], CMT=[1, 2, 2, 1, 2], WT=[70, 70, 70, 60, 60])
    cols.update(over)
    return table(**cols)


def test_theopp_reads_as_twelve_padded_subjects():
    pop = nlme.Population.from_csv(THEOPP, covariates=["WT", "SEX"], dose_scale="WT")
    s = pop.subjects
    assert len(pop) == 12 and pop.total_obs == 132
    assert s.dv.shape == (12, 11) and s.dose_amt.shape == (12, 1)
    # subject 1: 4.02 mg/kg × 79.6 kg; first observation 0.74 at t = 0; the dose goes to compartment 1 (depot)
    np.testing.assert_allclose(s.dose_amt[0, 0], 4.02 * 79.6)
    assert float(s.dv[0, 0]) == 0.74 and float(s.obs_time[0, -1]) == 24.37 and int(s.dose_cmt[0, 0]) == 0
    np.testing.assert_array_equal(np.asarray(pop.subjects.covariates["SEX"])[:3], [0, 0, 0])


def test_padding_masks_missing_and_short_subjects():
    pop = nlme.Population.from_dataframe(base(MDV=[1, 0, 1, 1, 0]), covariates=["WT"])
    s = pop.subjects
    assert s.dv.shape == (2, 1)       # subject 1 keeps one observation (MDV=1 drops the other)
    np.testing.assert_array_equal(pop.n_obs, [1, 1])
    pop = nlme.Population.from_dataframe(base(), covariates=["WT"])
    np.testing.assert_array_equal(np.asarray(pop.subjects.obs_mask), [[1, 1], [1, 0]])


def test_addl_expands_into_doses():
    pop = nlme.Population.from_dataframe(base(ADDL=[2, ".", ".", 0, "."], II=[12, ".", ".", 0, "."]))
    s = pop.subjects
    np.testing.assert_allclose(np.asarray(s.dose_time[0]), [0, 12, 24])
    np.testing.assert_allclose(np.asarray(s.dose_amt[0]), [100, 100, 100])
    np.testing.assert_allclose(np.asarray(s.dose_amt[1]), [50, 0, 0])     # padded doses are empty


@pytest.mark.parametrize("over, match", [
    (dict(TIME=[0, 2, 1, 0, 3]), r"row 3, column TIME: times must not decrease"),
    (dict(CMT=[".", 2, 2, 1, 2]), r"row 1, column CMT: a dose needs a compartment"),
    (dict(RATE=[-1, 0, 0, 0, 0]), r"row 1, column RATE"),
    (dict(DV=[".", "abc", 4, ".", 2]), r"row 2, column DV: expected a number or \. ; got 'abc'".replace(" ;", ";")),
    (dict(EVID=[1, 0, 3, 1, 0]), r"row 3, column EVID"),
    (dict(SS=[1, 0, 0, 0, 0]), r"row 1, column II"),
    (dict(ID=[1, 1, 2, 1, 2]), r"row 4, column ID: subject '1' appears again"),
    (dict(WT=[".", 70, 70, 60, 60]), r"row 1, column WT: the covariate is missing"),
    (dict(AMT=[-5, ".", ".", 50, "."]), r"row 1, column AMT"),
])
def test_bad_tables_name_row_and_column(over, match):
    with pytest.raises(ValueError, match=match):
        nlme.Population.from_dataframe(base(**over), covariates=["WT"])


def test_unknown_covariate_and_missing_columns():
    with pytest.raises(ValueError, match="covariate 'AGE' is not a column"):
        nlme.Population.from_dataframe(base(), covariates=["AGE"])
    cols = base()
    del cols["DV"]
    with pytest.raises(ValueError, match="column DV"):
        nlme.Population.from_dataframe(cols)


def test_from_dataframe_accepts_pandas():
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(THEOPP, na_values=["."])
    pop = nlme.Population.from_dataframe(df, covariates=["WT"])
    ref = nlme.Population.from_csv(THEOPP, covariates=["WT"])
    np.testing.assert_array_equal(np.asarray(pop.subjects.dv), np.asarray(ref.subjects.dv))
