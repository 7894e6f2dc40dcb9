"""NONMEM-style event tables -> a padded, vmappable population.

One row per event: ID, TIME, AMT, DV, EVID (0 observation, 1 dose, 2 other), CMT, RATE, SS, II, ADDL, MDV, DVID
and covariate columns. Column names are matched case-insensitively; the optional ones take NONMEM's defaults.
Every check runs on the host before anything is compiled and names the offending row (1-based, counting data
rows, the header excluded) and column.

The subjects are padded to the largest number of observations and doses, so one subject is one slice of the
arrays in `Subjects` and a whole population goes through `jax.vmap`. Padded observations carry ``mask = 0``;
padded doses carry ``amt = 0`` (they add nothing) and a time after the last event.

Time-varying covariates: a covariate may change within a subject (and may be missing on later rows: the last
value is carried forward, LOCF). ``cov_time``/``cov_table`` hold each subject's change points; the value at time t
is that of the last change at or before t, so a new value applies from its own record's time on
(`covariates_at`). ``covariates`` keeps the baseline (first-row) values. This is rxode2/nlmixr2's default
(``covsInterpolation = "locf"``); NONMEM instead advances the system to a record with that record's PK values
(next observation carried backward), so a change takes effect from the previous record's time there.

Censored observations (Beal's M3): a CENS column (1: below the limit, -1: above it; DV holds the limit, as in
nlmixr2 and Monolix) or a BLQ column (1: below the limit, read from an LLOQ column, the ``lloq`` argument or DV).
They stay in the data with ``cens = ±1`` and contribute log P(censored) to the likelihood (`approx`);
``blq="M1"`` drops them instead.
"""
import csv
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

_STANDARD = ("ID", "TIME", "AMT", "DV", "EVID", "CMT", "RATE", "SS", "II", "ADDL", "MDV", "DVID", "BLQ", "CENS",
             "LLOQ")
_MISSING = {"", ".", "na", "nan", "NA", "NaN"}


class Subjects(NamedTuple):
    """Padded per-subject arrays (leading axis: subject). ``obs_*`` have shape (N, M), ``dose_*`` (N, D).

    ``obs_time``, ``dv``: the observation times and dependent values (N, M); ``obs_mask``: 1.0 for a real
    observation with a DV, 0.0 for padding; ``dvid``: which output of ``observe`` each observation is (int,
    0-based); ``cens``: 0 observed, 1 below the limit given in DV (BLQ), −1 above it (Beal's M3).
    ``dose_time``, ``dose_amt``: dose times and amounts (N, D); ``dose_rate``: 0 for a bolus, else the
    zero-order infusion rate (amount / time); ``dose_cmt``: the dosed compartment (int, 0-based); ``dose_ss``:
    1.0 for a steady-state dose (SS=1); ``dose_ii``: the interdose interval of a steady-state dose.
    ``covariates``: name -> (N,) baseline value (the subject's first row); ``cov_time``: (N, K) times at which
    some covariate takes a new value (K = 1: none changes); ``cov_table``: name -> (N, K) values from each of
    those times on (last value carried forward)."""
    obs_time: jnp.ndarray
    dv: jnp.ndarray
    obs_mask: jnp.ndarray     # 1.0 for a real observation with a DV, else 0.0
    dvid: jnp.ndarray         # int: which output of `observe` an observation is (0-based)
    dose_time: jnp.ndarray
    dose_amt: jnp.ndarray
    dose_rate: jnp.ndarray    # 0 for a bolus, else the zero-order rate (amount / time)
    dose_cmt: jnp.ndarray     # int, 0-based compartment
    dose_ss: jnp.ndarray      # 1.0 for a steady-state dose (SS=1)
    dose_ii: jnp.ndarray      # interdose interval of a steady-state dose
    covariates: dict          # name -> (N,) baseline value (first row of the subject)
    cens: jnp.ndarray         # (N, M): 0 observed, 1 below the limit in DV (BLQ), -1 above it (M3)
    cov_time: jnp.ndarray     # (N, K): times at which some covariate takes a new value (K = 1: none changes)
    cov_table: dict           # name -> (N, K): the values from each of those times on (last value carried forward)


class Population:
    """Subjects of an NLME data set. ``pop.subjects`` holds the padded arrays (a pytree, vmappable over its leading
    axis); ``pop.ids``, ``pop.n_obs`` and ``pop.covariate_names`` describe them.

    Usually built by `Population.from_csv` / `Population.from_dataframe`; the constructor takes ``subjects``
    (`Subjects`), ``ids`` (one identifier per subject), ``covariate_names`` (the names of ``subjects.covariates``),
    ``n_obs`` (the number of observations of each subject) and ``rows`` (for each subject, the data rows of its
    observations, used in error messages and tables; None when not known)."""

    def __init__(self, subjects, ids, covariate_names, n_obs, rows=None):
        self.subjects = subjects
        self.ids = list(ids)
        self.covariate_names = tuple(covariate_names)
        self.n_obs = np.asarray(n_obs)
        self._rows = rows   # for each subject, the data rows of its observations (for error messages/tables)

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        return (f"Population({len(self)} subjects, {int(self.n_obs.sum())} observations, "
                f"covariates {list(self.covariate_names)})")

    @property
    def total_obs(self):
        return int(self.n_obs.sum())

    @property
    def n_censored(self):
        s = self.subjects
        return int(np.sum((np.asarray(s.obs_mask) > 0) & (np.asarray(s.cens) != 0)))

    def with_dv(self, dv):
        """The same population with the observations replaced by ``dv`` (shape (N, M); e.g. simulated), none of
        them censored (`censor` marks new ones). Returns a new `Population`."""
        dv = jnp.asarray(dv, float)
        if dv.shape != self.subjects.dv.shape:
            raise ValueError(f"with_dv: dv must have shape {self.subjects.dv.shape}; got {dv.shape}")
        s = self.subjects
        return Population(s._replace(dv=jnp.where(s.obs_mask > 0, dv, 0.0), cens=jnp.zeros_like(s.cens)), self.ids,
                          self.covariate_names, self.n_obs, self._rows)

    def censor(self, lloq):
        """Observations below ``lloq`` (a number, or (N, M) limits) become censored: DV = lloq, CENS = 1 (M3).
        Returns a new `Population`."""
        s = self.subjects
        lloq = jnp.broadcast_to(jnp.asarray(lloq, float), s.dv.shape)
        below = (s.obs_mask > 0) & (s.dv < lloq)
        return Population(s._replace(dv=jnp.where(below, lloq, s.dv), cens=jnp.where(below, 1.0, s.cens)),
                          self.ids, self.covariate_names, self.n_obs, self._rows)

    def drop_censored(self):
        """The same population without its censored observations (Beal's M1: they are masked out).
        Returns a new `Population`; ValueError when a subject would have no observation left."""
        s = self.subjects
        keep = (s.obs_mask > 0) & (s.cens == 0)
        n_obs = np.asarray(keep).sum(axis=1)
        if np.any(n_obs == 0):
            bad = [self.ids[i] for i in np.flatnonzero(n_obs == 0)]
            raise ValueError(f"drop_censored: subject(s) {bad} would have no observations left")
        return Population(s._replace(obs_mask=keep.astype(s.obs_mask.dtype), cens=jnp.zeros_like(s.cens)),
                          self.ids, self.covariate_names, n_obs, self._rows)

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_csv(cls, path, covariates=(), *, default_dose_cmt=1, dose_scale=None, lloq=None, blq="M3"):
        """Read a NONMEM-style CSV (header row; ``.`` or empty = missing). See `from_dataframe`."""
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise ValueError(f"from_csv: {path} is empty") from None
            rows = [r for r in reader if any(c.strip() for c in r)]
        for i, r in enumerate(rows):
            if len(r) != len(header):
                raise ValueError(f"from_csv: row {i + 1} has {len(r)} fields; the header has {len(header)}")
        columns = {h: [r[j].strip() for r in rows] for j, h in enumerate(header)}
        return cls.from_dataframe(columns, covariates, default_dose_cmt=default_dose_cmt, dose_scale=dose_scale,
                                  lloq=lloq, blq=blq)

    @classmethod
    def from_dataframe(cls, df, covariates=(), *, default_dose_cmt=1, dose_scale=None, lloq=None, blq="M3"):
        """Build from a pandas DataFrame or a dict of columns.

        ``covariates``: column names carried per subject (baseline: the subject's first row; a covariate must
        not be missing on that row; a covariate that changes within a subject is time-varying, with missing values
        on later rows carried forward). ``default_dose_cmt``: compartment of doses when there is no CMT column
        (NONMEM's ADVAN2/4 default: 1, the depot). ``dose_scale``: a covariate name that multiplies AMT (and
        RATE), e.g. ``"WT"`` when AMT is a weight-adjusted dose in mg/kg but the model wants mg.
        Censoring: a CENS column (1 below / -1 above the limit given in DV) or a BLQ column (1 = below the limit
        of quantification, read from an LLOQ column, else ``lloq``, else DV). ``blq="M3"`` keeps censored
        observations for the M3 likelihood; ``"M1"`` drops them.
        """
        if blq not in ("M3", "M1"):
            raise ValueError(f"from_dataframe: blq must be 'M3' (censored likelihood) or 'M1' (drop censored "
                             f"observations); got {blq!r}")
        if lloq is not None and not (np.isscalar(lloq) and np.isfinite(float(lloq))):
            raise ValueError(f"from_dataframe: lloq must be a finite number; got {lloq!r}")
        names = list(df.columns) if hasattr(df, "columns") else list(df.keys())
        upper = {}
        for n in names:
            key = str(n).strip().upper()
            if key in upper and key in _STANDARD:
                raise ValueError(f"from_dataframe: columns {upper[key]!r} and {n!r} both name {key}")
            upper.setdefault(key, n)
        for need in ("ID", "TIME"):
            if need not in upper:
                raise ValueError(f"from_dataframe: the data need a column {need}; got columns {names}")
        if "DV" not in upper:
            raise ValueError(f"from_dataframe: the data need a column DV; got columns {names}")
        if "AMT" not in upper:
            raise ValueError(f"from_dataframe: the data need a column AMT; got columns {names}")
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        for c in covariates:
            if c not in names:
                raise ValueError(f"from_dataframe: covariate {c!r} is not a column; columns are {names}")
        if dose_scale is not None and dose_scale not in covariates:
            covariates.append(dose_scale)
        column = lambda key: [_text(v) for v in df[upper[key]]] if key in upper else None
        n_rows = len(column("ID"))

        def numeric(key, *, missing=None, integer=False, required=False, col_name=None):
            raw = column(key) if col_name is None else [_text(v) for v in df[col_name]]
            label = key if col_name is None else col_name
            if raw is None:
                return None
            out = np.empty(n_rows)
            for i, s in enumerate(raw):
                if s in _MISSING:
                    if missing is None:
                        if required:
                            raise ValueError(f"from_dataframe: row {i + 1}, column {label}: a value is required; "
                                             f"got {s!r}")
                        out[i] = np.nan
                    else:
                        out[i] = missing
                    continue
                try:
                    out[i] = float(s)
                except ValueError:
                    raise ValueError(f"from_dataframe: row {i + 1}, column {label}: expected a number"
                                     f"{' or .' if not required else ''}; got {s!r}") from None
                if not np.isfinite(out[i]):
                    raise ValueError(f"from_dataframe: row {i + 1}, column {label}: expected a finite number; "
                                     f"got {s!r}")
                if integer and out[i] != round(out[i]):
                    raise ValueError(f"from_dataframe: row {i + 1}, column {label}: expected an integer; got {s!r}")
            return out

        ids_raw = column("ID")
        for i, s in enumerate(ids_raw):
            if s in _MISSING:
                raise ValueError(f"from_dataframe: row {i + 1}, column ID: a subject id is required; got {s!r}")
        time = numeric("TIME", required=True)
        amt = numeric("AMT", missing=0.0)
        dv = numeric("DV")
        evid = numeric("EVID", integer=True, missing=None)
        if evid is None:
            evid = np.where(amt > 0, 1.0, 0.0)
        elif np.isnan(evid).any():
            raise ValueError(f"from_dataframe: row {int(np.argmax(np.isnan(evid))) + 1}, column EVID: a value "
                             "is required")
        cmt = numeric("CMT", integer=True)
        rate = numeric("RATE", missing=0.0)
        ss = numeric("SS", integer=True, missing=0.0)
        ii = numeric("II", missing=0.0)
        addl = numeric("ADDL", integer=True, missing=0.0)
        mdv = numeric("MDV", integer=True, missing=None)
        dvid = numeric("DVID", integer=True, missing=1.0)
        if "BLQ" in upper and "CENS" in upper:
            raise ValueError("from_dataframe: the data have both a BLQ and a CENS column; keep one")
        cens = numeric("CENS", integer=True, missing=0.0)
        blq_col = numeric("BLQ", integer=True, missing=0.0)
        lloq_col = numeric("LLOQ")
        covs = {c: numeric(None, col_name=c) for c in covariates}

        rate = np.zeros(n_rows) if rate is None else rate
        ss = np.zeros(n_rows) if ss is None else ss
        ii = np.zeros(n_rows) if ii is None else ii
        addl = np.zeros(n_rows) if addl is None else addl
        dvid = np.ones(n_rows) if dvid is None else dvid
        for i in range(n_rows):
            e = evid[i]
            where = f"from_dataframe: row {i + 1}"
            if e not in (0, 1, 2):
                raise ValueError(f"{where}, column EVID: expected 0 (observation), 1 (dose) or 2 (other); got "
                                 f"{e:g} (resets, EVID 3/4, are not supported yet)")
            if e == 1:
                if cmt is not None and np.isnan(cmt[i]):
                    raise ValueError(f"{where}, column CMT: a dose needs a compartment; got a missing value")
                if cmt is not None and cmt[i] < 1:
                    raise ValueError(f"{where}, column CMT: a dose compartment must be ≥ 1; got {cmt[i]:g}")
                if amt[i] < 0:
                    raise ValueError(f"{where}, column AMT: a dose amount must be ≥ 0; got {amt[i]:g}")
                if rate[i] < 0:
                    raise ValueError(f"{where}, column RATE: expected ≥ 0 (modelled rate/duration, RATE = -1/-2, "
                                     f"is not supported yet); got {rate[i]:g}")
                if ss[i] not in (0, 1):
                    raise ValueError(f"{where}, column SS: expected 0 or 1 (SS=2 is not supported yet); got "
                                     f"{ss[i]:g}")
                if (ss[i] == 1 or addl[i] > 0) and not ii[i] > 0:
                    raise ValueError(f"{where}, column II: SS=1 or ADDL>0 needs an interdose interval II > 0; "
                                     f"got {ii[i]:g}")
                if addl[i] < 0:
                    raise ValueError(f"{where}, column ADDL: expected ≥ 0; got {addl[i]:g}")
                if rate[i] > 0 and ss[i] == 1 and amt[i] / rate[i] > ii[i]:
                    raise ValueError(f"{where}: a steady-state infusion must end within its interval; duration "
                                     f"AMT/RATE = {amt[i] / rate[i]:g} > II = {ii[i]:g}")
            if e == 0:
                is_missing = np.isnan(dv[i]) or (mdv is not None and mdv[i] == 1)
                if dvid[i] < 1:
                    raise ValueError(f"{where}, column DVID: expected an integer ≥ 1; got {dvid[i]:g}")
                if cens is not None and cens[i] not in (-1, 0, 1):
                    raise ValueError(f"{where}, column CENS: expected 0, 1 (below the limit in DV) or -1 (above "
                                     f"it); got {cens[i]:g}")
                if blq_col is not None and blq_col[i] not in (0, 1):
                    raise ValueError(f"{where}, column BLQ: expected 0 or 1; got {blq_col[i]:g}")
                if blq_col is not None and blq_col[i] == 1 and not (mdv is not None and mdv[i] == 1):
                    limit = lloq_col[i] if lloq_col is not None and not np.isnan(lloq_col[i]) else lloq
                    if limit is None:
                        limit = dv[i]
                    if limit is None or np.isnan(limit):
                        raise ValueError(f"{where}, column BLQ: a censored observation needs its limit (an LLOQ "
                                         "column, the lloq argument or DV); none is given")
                    dv[i] = limit
                    is_missing = False
                if cens is not None and cens[i] != 0 and np.isnan(dv[i]) and not (mdv is not None and mdv[i] == 1):
                    raise ValueError(f"{where}, column DV: a censored observation (CENS = {cens[i]:g}) needs its "
                                     "limit in DV; got a missing value")
                if is_missing and mdv is not None and mdv[i] == 0:
                    raise ValueError(f"{where}, column DV: MDV = 0 says the observation is present, but DV is "
                                     "missing")

        # group rows by subject (IDs may be any strings; order of first appearance), contiguous blocks only
        order, blocks = [], {}
        for i, s in enumerate(ids_raw):
            if s not in blocks:
                order.append(s)
                blocks[s] = []
            elif blocks[s][-1] != i - 1:
                raise ValueError(f"from_dataframe: row {i + 1}, column ID: subject {s!r} appears again after "
                                 "other subjects; its rows must be contiguous")
            blocks[s].append(i)
        for s in order:
            rows = blocks[s]
            for a, b in zip(rows[:-1], rows[1:]):
                if time[b] < time[a]:
                    raise ValueError(f"from_dataframe: row {b + 1}, column TIME: times must not decrease within "
                                     f"a subject (subject {s!r}: {time[a]:g} on row {a + 1}, then {time[b]:g})")
            for c, values in covs.items():
                if np.isnan(values[rows[0]]):
                    raise ValueError(f"from_dataframe: row {rows[0] + 1}, column {c}: the covariate is missing on "
                                     f"the first row of subject {s!r}")

        censored = np.zeros(n_rows) if cens is None else cens.copy()
        if blq_col is not None:
            censored = blq_col.copy()
        filled = {}       # covariates with missing values carried forward within each subject (LOCF)
        for c, values in covs.items():
            filled[c] = values.copy()
            for s in order:
                for a, b in zip(blocks[s][:-1], blocks[s][1:]):
                    if np.isnan(filled[c][b]):
                        filled[c][b] = filled[c][a]
        dcmt = (np.full(n_rows, float(default_dose_cmt)) if cmt is None else cmt)
        obs_lists, dose_lists = [], []
        for s in order:
            rows = blocks[s]
            obs, doses = [], []
            for i in rows:
                scale = filled[dose_scale][i] if dose_scale is not None else 1.0   # the weight on the dose's row
                if evid[i] == 1:
                    n_rep = int(addl[i]) + 1
                    for k in range(n_rep):
                        # ADDL repeats are ordinary doses; only the record itself carries SS
                        doses.append((time[i] + k * ii[i], amt[i] * scale, rate[i] * scale, int(dcmt[i]) - 1,
                                      ss[i] if k == 0 else 0.0, ii[i]))
                elif evid[i] == 0 and not np.isnan(dv[i]) and not (mdv is not None and mdv[i] == 1):
                    if censored[i] != 0 and blq == "M1":
                        continue
                    obs.append((time[i], dv[i], int(dvid[i]) - 1, i, censored[i]))
            obs_lists.append(obs)
            dose_lists.append(sorted(doses, key=lambda d: d[0]))
        n_obs = np.array([len(o) for o in obs_lists])
        for s, o in zip(order, obs_lists):
            if not o:
                raise ValueError(f"from_dataframe: subject {s!r} has no observations (rows "
                                 f"{blocks[s][0] + 1}–{blocks[s][-1] + 1})")
        M = int(n_obs.max())
        D = max(1, max(len(d) for d in dose_lists))
        N = len(order)
        obs_time = np.zeros((N, M)); dvs = np.zeros((N, M)); mask = np.zeros((N, M)); dvids = np.zeros((N, M), int)
        cns = np.zeros((N, M))
        dt = np.zeros((N, D)); da = np.zeros((N, D)); dr = np.zeros((N, D)); dc = np.zeros((N, D), int)
        dss = np.zeros((N, D)); dii = np.zeros((N, D))
        obs_rows = []
        for n, (o, d) in enumerate(zip(obs_lists, dose_lists)):
            t_last = max([x[0] for x in o] + [x[0] for x in d])
            for m in range(M):
                if m < len(o):
                    obs_time[n, m], dvs[n, m], dvids[n, m], _, cns[n, m] = o[m]
                    mask[n, m] = 1.0
                else:
                    obs_time[n, m] = t_last     # padding: repeats the last time, masked out
            obs_rows.append([x[3] for x in o])
            for j in range(D):
                if j < len(d):
                    dt[n, j], da[n, j], dr[n, j], dc[n, j], dss[n, j], dii[n, j] = d[j]
                else:
                    dt[n, j] = t_last + 1.0     # padding: an empty dose after everything
        cov_arrays = {c: jnp.asarray([covs[c][blocks[s][0]] for s in order]) for c in covs}
        changes = [[(time[i], {c: filled[c][i] for c in covs}) for k, i in enumerate(blocks[s])
                    if k == 0 or any(filled[c][i] != filled[c][blocks[s][k - 1]] for c in covs)] for s in order]
        changes = [[ch for j, ch in enumerate(sub) if j + 1 == len(sub) or sub[j + 1][0] > ch[0]] for sub in changes]
        K = max(len(ch) for ch in changes)
        cov_time = np.zeros((N, K))
        cov_table = {c: np.zeros((N, K)) for c in covs}
        for n, sub in enumerate(changes):
            t_last = max(obs_time[n].max(), dt[n].max())
            for k in range(K):
                t_k, values = sub[min(k, len(sub) - 1)]
                cov_time[n, k] = t_k if k < len(sub) else t_last + 1.0     # padding: the last values, later
                for c in covs:
                    cov_table[c][n, k] = values[c]
        subjects = Subjects(jnp.asarray(obs_time), jnp.asarray(dvs), jnp.asarray(mask), jnp.asarray(dvids),
                            jnp.asarray(dt), jnp.asarray(da), jnp.asarray(dr), jnp.asarray(dc), jnp.asarray(dss),
                            jnp.asarray(dii), cov_arrays, jnp.asarray(cns), jnp.asarray(cov_time),
                            {c: jnp.asarray(v) for c, v in cov_table.items()})
        return cls(subjects, order, list(covs), n_obs, obs_rows)

    @property
    def time_varying(self):
        """Whether some covariate changes within a subject."""
        return self.subjects.cov_time.shape[-1] > 1


def covariates_at(subject, t):
    """The covariates of one subject at time ``t`` (a scalar): the last change at or before t (LOCF)."""
    k = jnp.clip(jnp.sum(subject.cov_time <= t) - 1, 0, subject.cov_time.shape[-1] - 1)
    return {c: v[k] for c, v in subject.cov_table.items()}


def _text(v):
    if v is None:
        return ""
    if isinstance(v, float) and np.isnan(v):
        return ""
    return str(v).strip()
