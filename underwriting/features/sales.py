"""Features of the sales series and business inflows: scale, growth, volatility and seasonality,
refunds and chargebacks, and unusual recent activity.

Growth and spike ratios compare daily rates (invariant to an even scaling of sales); a window the
history does not cover gives NaN.
"""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import div, masked_median
from underwriting.features.chunk import PANEL_DAYS, Chunk
from underwriting.features.flows import Flows

END = PANEL_DAYS  # one past the panels' last column (the day before as_of): [END - 90:] = the last 90 days


def sales_features(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    _scale(chunk, flows, f)
    _sales_change(chunk, flows, f)
    _weekly(chunk, flows, f)
    _monthly(chunk, flows, f)
    _daily_volatility(chunk, flows, f)
    _weekday_pattern(chunk, flows, f)
    _refunds(chunk, flows, f)
    _spikes(chunk, flows, f)


def _rate_change(recent, recent_days, base, base_days, min_base):
    """Relative change of the daily rate of `recent` against `base` (NaN under min_base base days)."""
    ok = base_days >= min_base
    return np.where(ok, div(recent / recent_days, base / np.maximum(base_days, 1.0)) - 1.0, np.nan)


def _scale(chunk: Chunk, flows: Flows, f) -> None:
    hist, win = flows.history_days, chunk.win
    f["revenue_90d"] = np.where(hist >= 90, flows.revenue_90d, np.nan)
    f["card_sales_90d"] = np.where((hist >= 90) & flows.has_sale, win(flows.cum_card_sales, 90), np.nan)
    inflow_count = chunk.cum(chunk.panel(flows.revenue_rows, chunk.dcount))
    f["inflow_transactions_90d"] = np.where(flows.ok30, win(inflow_count, 90) * 90.0 / chunk.avail(90), np.nan)


def _sales_change(chunk: Chunk, flows: Flows, f) -> None:
    hist, win, cum = flows.history_days, chunk.win, flows.cum_sales
    sales30, sales90 = win(cum, 30), win(cum, 90)
    f["sales_change_30d"] = _rate_change(sales30, 30.0, win(cum, 90, 30), np.clip(hist - 30, 0, 90), 45)
    f["sales_change_90d"] = _rate_change(sales90, 90.0, win(cum, 90, 90), np.clip(hist - 90, 0, 90), 60)
    f["sales_change_180d"] = _rate_change(win(cum, 180), 180.0, win(cum, 180, 180), np.clip(hist - 180, 0, 180),
                                          120)
    f["sales_change_yoy_90d"] = np.where(hist >= 455, div(sales90, win(cum, 90, 365)) - 1.0, np.nan)
    f["season_ahead_last_year"] = _season_ahead(chunk, cum, hist)
    f["sales_90d_vs_12m"] = np.where(hist >= 180, div(sales90 / 90.0, win(cum, 365) / chunk.avail(365)) - 1.0,
                                     np.nan)
    f["sales_dip_vs_last_year"] = np.where(
        hist >= 730, div(div(sales30, win(cum, 30, 365)), div(win(cum, 365), win(cum, 365, 365))) - 1.0, np.nan)


def _season_ahead(chunk: Chunk, cum: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """Last year's daily sales over the months the loan will run against last year's 90 days before
    them: what the season did a year ago after this point. A seasonal business borrowing at its peak
    repays in the lull; one borrowing before its season repays from it."""
    span = np.clip(30 * chunk.term.astype(np.int64), 30, 365)
    start = END - 365
    ahead = np.take_along_axis(cum, (start + span)[:, None], axis=1)[:, 0] - cum[:, start]
    before = chunk.win(cum, 90, 365)
    return np.where(hist >= 455, div(ahead / span, before / 90.0) - 1.0, np.nan)


def _weekly(chunk: Chunk, flows: Flows, f) -> None:
    """Trend and variation of weekly sales over the last 26 weeks (weeks inside the history)."""
    weeks = flows.sales[:, END - 26 * 7:].reshape(chunk.n, 26, 7).sum(axis=2)
    week_seen = chunk.seen[:, END - 26 * 7::7]  # the first day of each week seen: the whole week is
    nweeks = week_seen.sum(axis=1)
    week_no = np.where(week_seen, np.arange(26, dtype=np.float64)[None, :], 0.0)
    week_no_mean = div(week_no.sum(axis=1), nweeks)
    week_no_centred = np.where(week_seen, week_no - week_no_mean[:, None], 0.0)
    week_mean = div(np.where(week_seen, weeks, 0.0).sum(axis=1), nweeks)
    slope = div((week_no_centred * np.where(week_seen, weeks, 0.0)).sum(axis=1),
                (week_no_centred * week_no_centred).sum(axis=1))
    f["sales_trend_26w"] = np.where(nweeks >= 8, div(slope * 52.0, week_mean), np.nan)
    week_sd = np.sqrt(div((np.where(week_seen, weeks - week_mean[:, None], 0.0) ** 2).sum(axis=1), nweeks))
    f["weekly_sales_cv_26w"] = np.where(nweeks >= 8, div(week_sd, week_mean), np.nan)


def _monthly(chunk: Chunk, flows: Flows, f) -> None:
    """Sales of the last 12 30-day months: against the peak, declines, variation, the worst month."""
    hist, seen, nmonths = flows.history_days, flows.month_seen, flows.months_seen
    monthly = chunk.months(flows.sales, 12)
    peak = np.where(seen, monthly, -np.inf).max(axis=1)
    f["sales_vs_peak_12m"] = np.where(nmonths >= 3, div(monthly[:, -1], peak) - 1.0, np.nan)
    declined = (monthly[:, -6:] < monthly[:, -7:-1]) & seen[:, -7:-1]
    pairs = seen[:, -7:-1].sum(axis=1)
    f["declining_months_share_6m"] = np.where(pairs >= 3, div(declined.sum(axis=1), pairs), np.nan)
    f["monthly_sales_cv_12m"] = np.where(hist >= 360, div(monthly.std(axis=1), monthly.mean(axis=1)), np.nan)
    f["worst_month_to_average_12m"] = np.where(hist >= 360, div(monthly[:, -6:].min(axis=1), monthly.mean(axis=1)),
                                               np.nan)


def _daily_volatility(chunk: Chunk, flows: Flows, f) -> None:
    """Variation of daily sales over the days of the last 90 inside the history (at least 30)."""
    daily = flows.sales[:, END - 90:]
    seen = chunk.seen[:, END - 90:]
    ndays = seen.sum(axis=1)
    mean = div(np.where(seen, daily, 0.0).sum(axis=1), ndays)
    sd = np.sqrt(div((np.where(seen, daily - mean[:, None], 0.0) ** 2).sum(axis=1), ndays))
    f["daily_sales_cv_90d"] = np.where(ndays >= 30, div(sd, mean), np.nan)
    positive = daily > 0
    logs = np.log(np.where(positive, daily, 1.0))
    npos = positive.sum(axis=1)
    log_mean = div((logs * positive).sum(axis=1), npos)
    log_var = div(((logs - log_mean[:, None]) ** 2 * positive).sum(axis=1), npos - 1)
    f["log_daily_sales_sd_90d"] = np.where(npos >= 20, np.sqrt(log_var), np.nan)


def _weekday_pattern(chunk: Chunk, flows: Flows, f) -> None:
    """The weekly pattern of the last 91 days (13 weeks): noise around it, weekend and quietest day."""
    n = chunk.n
    days = flows.sales[:, END - 91:].reshape(n, 13, 7)
    # Noise after the weekly pattern: log sales minus the mean log of the same weekday.
    positive = days > 0
    logs = np.log(np.where(positive, days, 1.0))
    count_wd = positive.sum(axis=1)
    mean_wd = div((logs * positive).sum(axis=1), count_wd)
    resid = np.where(positive, logs - np.nan_to_num(mean_wd)[:, None, :], 0.0)
    dof = positive.sum(axis=(1, 2)) - (count_wd > 0).sum(axis=1)
    f["sales_noise_91d"] = np.where(dof >= 15, np.sqrt(div((resid ** 2).sum(axis=(1, 2)), dof)), np.nan)
    seen_wd = chunk.seen[:, END - 91:].reshape(n, 13, 7).sum(axis=1)  # seen days per position in the 7-day cycle
    mean_sales_wd = div(days.sum(axis=1), seen_wd)  # mean sales per weekday position
    weekday0 = (chunk.panel_start + (END - 91) + 3) % 7  # weekday (Mon=0) of the first of those 91 days
    weekday = (weekday0[:, None] + np.arange(7)[None, :]) % 7
    total = mean_sales_wd.sum(axis=1)
    ok = seen_wd.min(axis=1) >= 4
    f["weekend_sales_share_90d"] = np.where(ok, div((mean_sales_wd * (weekday >= 5)).sum(axis=1), total), np.nan)
    f["quietest_weekday_share_91d"] = np.where(ok, div(mean_sales_wd.min(axis=1) * 7.0, total), np.nan)


def _refunds(chunk: Chunk, flows: Flows, f) -> None:
    """Refunds and chargebacks: rates against card sales (NaN for sources without itemised sales)."""
    hist, win = flows.history_days, chunk.win
    cum_sales, cum_refunds, cum_cb_count = flows.cum_card_sales, flows.cum_refunds, flows.cum_chargeback_count
    sales90, sales180, sales365 = win(cum_sales, 90), win(cum_sales, 180), win(cum_sales, 365)
    ok = flows.itemised_sales & flows.ok30
    f["refund_rate_90d"] = np.where(ok, div(win(cum_refunds, 90), sales90), np.nan)
    f["refund_rate_365d"] = np.where(ok, div(win(cum_refunds, 365), sales365), np.nan)
    older_rate = div(win(cum_refunds, 275, 90), win(cum_sales, 275, 90))
    f["refund_rate_change"] = np.where(ok & (hist >= 150), div(f["refund_rate_90d"], older_rate) - 1.0, np.nan)
    f["chargebacks_per_10k_sales_365d"] = np.where(ok, div(win(cum_cb_count, 365) * 1e4, sales365), np.nan)
    f["chargeback_rate_180d"] = np.where(ok, div(win(flows.cum_chargebacks, 180), sales180), np.nan)
    f["chargebacks_90d"] = np.where(ok, win(cum_cb_count, 90) * 90.0 / chunk.avail(90), np.nan)
    f["largest_refund_day_to_daily_sales_90d"] = np.where(
        ok, div(flows.refunds[:, END - 90:].max(axis=1), sales90 / chunk.avail(90)), np.nan)


def _spikes(chunk: Chunk, flows: Flows, f) -> None:
    """Unusual recent activity: scale-invariant ratios of daily rates (NaN without 30+ baseline days)."""
    hist, win, cum = flows.history_days, chunk.win, flows.cum_sales
    f["sales_spike_14d"] = _rate_change(win(cum, 14), 14.0, win(cum, 90, 14), np.clip(hist - 14, 0, 90), 30) + 1.0
    f["sales_spike_35d"] = _rate_change(win(cum, 35), 35.0, win(cum, 90, 35), np.clip(hist - 35, 0, 90), 30) + 1.0
    other = chunk.cum(flows.revenue - flows.card_sales)
    f["other_inflow_spike_30d"] = np.where(
        flows.has_sale,
        _rate_change(win(other, 30), 30.0, win(other, 90, 30), np.clip(hist - 30, 0, 90), 45) + 1.0, np.nan)
    before = flows.sales[:, END - 120:END - 30]
    positive = before > 0
    median = masked_median(before, positive)
    f["max_day_to_median_30d"] = np.where(positive.sum(axis=1) >= 20,
                                          div(flows.sales[:, END - 30:].max(axis=1), median), np.nan)
