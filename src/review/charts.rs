//! The small SVG charts of the review and the portfolio: the stage history over time (declared
//! and inferred as two step lines), value promised against delivered per promise (a bar per
//! promise, filled by the delivered share), and the portfolio's attractiveness × business
//! strength quadrant chart with every account placed by its scores and coloured by map status.
//! Each draws figures it is given; none computes one.

use crate::view::stage::{Stage, StageChange};
use crate::view::value::PromiseLine;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;

/// Rows of the stage chart, top to bottom.
const STAGE_ROWS: [Stage; 6] = [
    Stage::Integrated,
    Stage::Interdependent,
    Stage::Cooperative,
    Stage::Basic,
    Stage::Exploratory,
    Stage::Disintegrating,
];

/// The stage history as two step lines from the first change to the as-of time.
pub fn stage_history(history: &[StageChange], as_of: DateTime<Utc>) -> Markup {
    const W: f64 = 820.0;
    const LEFT: f64 = 120.0;
    const RIGHT: f64 = 20.0;
    const ROW: f64 = 24.0;
    const TOP: f64 = 14.0;
    let h = TOP + ROW * STAGE_ROWS.len() as f64 + 40.0;
    let Some(start) = history.iter().map(|c| c.at).min() else {
        return html! { p.empty { "No stage recorded yet." } };
    };
    let span = (as_of - start).num_seconds().max(1) as f64;
    let x =
        |t: DateTime<Utc>| LEFT + (W - LEFT - RIGHT) * ((t - start).num_seconds() as f64 / span);
    let y = |stage: &str| {
        STAGE_ROWS
            .iter()
            .position(|s| s.name() == stage)
            .map(|i| TOP + ROW * i as f64 + ROW / 2.0)
    };
    let path = |source: &str| {
        let mut d = String::new();
        let mut last: Option<f64> = None;
        for c in history
            .iter()
            .filter(|c| c.source == source && c.at <= as_of)
        {
            let Some(cy) = y(&c.stage) else { continue };
            let cx = x(c.at);
            match last {
                None => d.push_str(&format!("M{cx:.1},{cy:.1}")),
                Some(_) => d.push_str(&format!(" H{cx:.1} V{cy:.1}")),
            }
            last = Some(cy);
        }
        if last.is_some() {
            d.push_str(&format!(" H{:.1}", x(as_of)));
        }
        d
    };
    html! {
        svg.chart.stage-chart xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (W) " " (h)} width=(W) height=(h) aria-label="Stage history" {
            @for (i, s) in STAGE_ROWS.iter().enumerate() {
                @let cy = TOP + ROW * i as f64 + ROW / 2.0;
                line.grid x1=(LEFT) y1=(cy) x2=(W - RIGHT) y2=(cy) {}
                text.axis x=(LEFT - 8.0) y=(cy + 4.0) text-anchor="end" { (s.name()) }
            }
            @let base = TOP + ROW * STAGE_ROWS.len() as f64 + 14.0;
            text.axis x=(LEFT) y=(base) { (start.format("%Y-%m-%d")) }
            text.axis x=(W - RIGHT) y=(base) text-anchor="end" { (as_of.format("%Y-%m-%d")) }
            path.series.declared d=(path("declared")) fill="none" stroke-width="3" {}
            path.series.inferred d=(path("inferred")) fill="none" stroke-width="2" stroke-dasharray="6 3" {}
            line.series.declared x1=(LEFT) y1=(base + 16.0) x2=(LEFT + 30.0) y2=(base + 16.0) stroke-width="3" {}
            text.axis x=(LEFT + 36.0) y=(base + 20.0) { "declared" }
            line.series.inferred x1=(LEFT + 130.0) y1=(base + 16.0) x2=(LEFT + 160.0) y2=(base + 16.0) stroke-width="2" stroke-dasharray="6 3" {}
            text.axis x=(LEFT + 166.0) y=(base + 20.0) { "inferred" }
        }
    }
}

/// Value promised against delivered: one bar per promise, the track standing for what was
/// promised and the fill for the delivered share (capped at the track; the figures are written
/// beside it).
pub fn value_bars(promises: &[PromiseLine]) -> Markup {
    const W: f64 = 820.0;
    const LABEL: f64 = 250.0;
    const BAR: f64 = 330.0;
    const ROW: f64 = 28.0;
    if promises.is_empty() {
        return html! { p.empty { "No value promised yet." } };
    }
    let h = ROW * promises.len() as f64 + 8.0;
    html! {
        svg.chart.value-chart xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (W) " " (h)} width=(W) height=(h) aria-label="Value promised against delivered" {
            @for (i, p) in promises.iter().enumerate() {
                @let y = 4.0 + ROW * i as f64;
                @let share = if p.promised.is_zero() { 1.0 } else {
                    (p.delivered / p.promised).to_f64().unwrap_or(0.0).clamp(0.0, 1.0)
                };
                text.axis x="0" y=(y + 15.0) { (p.promise_id) " · " (p.metric) }
                rect.track x=(LABEL) y=(y) width=(BAR) height="18" rx="3" {}
                rect class={"fill status-" (p.status)} x=(LABEL) y=(y) width=(format!("{:.1}", BAR * share)) height="18" rx="3" {}
                text.axis x=(LABEL + BAR + 10.0) y=(y + 14.0) {
                    (crate::view::dec_str(p.delivered)) " of " (crate::view::dec_str(p.promised)) " " (p.unit) " · " (p.status)
                }
            }
        }
    }
}

/// One account on the quadrant chart.
pub struct Placed<'a> {
    pub account_id: &'a str,
    pub label: &'a str,
    pub attractiveness: i64,
    pub business_strength: i64,
    pub map_status: &'a str,
    /// Where a click on the dot goes (`None`: not a link).
    pub href: Option<String>,
}

/// The attractiveness × business strength chart (SPEC 1, 4.4): business strength across,
/// attractiveness up, the quadrants split at 50.
pub fn quadrant(accounts: &[Placed]) -> Markup {
    const S: f64 = 440.0;
    const M: f64 = 44.0;
    let inner = S - 2.0 * M;
    let px = |v: i64| M + inner * (v.clamp(0, 100) as f64 / 100.0);
    let py = |v: i64| S - M - inner * (v.clamp(0, 100) as f64 / 100.0);
    html! {
        svg.chart.quadrant-chart xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (S) " " (S)} width=(S) height=(S)
            aria-label="Portfolio: attractiveness against business strength" {
            rect.plot x=(M) y=(M) width=(inner) height=(inner) {}
            line.grid x1=(px(50)) y1=(M) x2=(px(50)) y2=(S - M) {}
            line.grid x1=(M) y1=(py(50)) x2=(S - M) y2=(py(50)) {}
            text.quad x=(px(25)) y=(py(95)) text-anchor="middle" { "star" }
            text.quad x=(px(75)) y=(py(95)) text-anchor="middle" { "strategic" }
            text.quad x=(px(25)) y=(py(3)) text-anchor="middle" { "streamline" }
            text.quad x=(px(75)) y=(py(3)) text-anchor="middle" { "status" }
            text.axis x=(S / 2.0) y=(S - 10.0) text-anchor="middle" { "business strength →" }
            text.axis x="14" y=(S / 2.0) text-anchor="middle" transform={"rotate(-90 14 " (S / 2.0) ")"} { "attractiveness →" }
            @for (a, label_y) in accounts.iter().zip(label_rows(accounts, px, py)) {
                @let (cx, cy) = (px(a.business_strength), py(a.attractiveness));
                @let dot = html! {
                    circle class={"dot map-" (a.map_status)} cx=(cx) cy=(cy) r="8" {
                        title { (a.label) ": attractiveness " (a.attractiveness) ", business strength " (a.business_strength) ", map " (a.map_status) }
                    }
                    text.dot-label x=(cx + 11.0) y=(label_y) { (a.label) }
                };
                g.account data-account=(a.account_id) {
                    @match &a.href {
                        Some(href) => { a href=(href) { (dot) } }
                        None => { (dot) }
                    }
                }
            }
        }
    }
}

/// The baseline of each account's label: beside its dot, moved down a line while it would
/// overlap a label already placed (accounts with equal scores share a dot's place).
fn label_rows(accounts: &[Placed], px: impl Fn(i64) -> f64, py: impl Fn(i64) -> f64) -> Vec<f64> {
    let mut placed: Vec<(f64, f64)> = Vec::new();
    for a in accounts {
        let x = px(a.business_strength);
        let mut y = py(a.attractiveness) + 4.0;
        while placed
            .iter()
            .any(|&(px, py)| (px - x).abs() < 90.0 && (py - y).abs() < 13.0)
        {
            y += 14.0;
        }
        placed.push((x, y));
    }
    placed.into_iter().map(|(_, y)| y).collect()
}
