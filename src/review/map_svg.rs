//! The relationship map as a picture (SPEC 9 v2): our active members in a column on the left,
//! the customer's active stakeholders on the right, one line per pair of the map view drawn by
//! its strength level, stakeholders filled by attitude (supportive, neutral, opposed), key
//! stakeholders starred, single points of contact and uncovered key stakeholders badged, and a
//! legend. Rows are ordered by the barycentre heuristic (each side sorted by the mean row of its
//! partners, a few sweeps) so that lines cross as little as they can.

use super::Review;
use maud::{html, Markup};
use std::collections::HashMap;

const WIDTH: f64 = 820.0;
const ROW: f64 = 46.0;
const TOP: f64 = 40.0;
const NODE_W: f64 = 230.0;
const NODE_H: f64 = 36.0;
const LEFT_X: f64 = 20.0;
const RIGHT_X: f64 = WIDTH - 20.0 - NODE_W;
const SWEEPS: usize = 4;

/// Stroke width and dash pattern of a strength level.
fn stroke(level: &str) -> (f64, &'static str) {
    match level {
        "strong" => (5.0, ""),
        "working" => (3.0, ""),
        "weak" => (1.5, "6 4"),
        _ => (1.0, "2 4"),
    }
}

/// Orders both columns to keep lines from crossing: starting from `left` and `right` as given,
/// each sweep sorts one side by the mean row of its partners (weighted by strength + 1; a node
/// without partners keeps its row), then the other.
pub fn order(
    left: &mut [String],
    right: &mut [String],
    edges: &[(String, String, u32)],
) -> (Vec<String>, Vec<String>) {
    fn sweep(moving: &mut [String], fixed: &[String], edges: &[(&str, &str, f64)]) {
        let at: HashMap<&str, usize> = fixed
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let mut keyed: Vec<(f64, usize, String)> = moving
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (sum, weight) = edges
                    .iter()
                    .filter(|(a, _, _)| a == id)
                    .filter_map(|(_, b, w)| at.get(b).map(|&j| (j as f64 * w, *w)))
                    .fold((0.0, 0.0), |(s, n), (x, w)| (s + x, n + w));
                let key = if weight > 0.0 { sum / weight } else { i as f64 };
                (key, i, id.clone())
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (slot, (_, _, id)) in moving.iter_mut().zip(keyed) {
            *slot = id;
        }
    }
    let forward: Vec<(&str, &str, f64)> = edges
        .iter()
        .map(|(a, b, s)| (a.as_str(), b.as_str(), f64::from(*s) + 1.0))
        .collect();
    let backward: Vec<(&str, &str, f64)> = forward.iter().map(|&(a, b, w)| (b, a, w)).collect();
    for _ in 0..SWEEPS {
        sweep(left, right, &forward);
        sweep(right, left, &backward);
    }
    (left.to_vec(), right.to_vec())
}

/// How many pairs of lines cross, for rows given by the two orders.
pub fn crossings(left: &[String], right: &[String], edges: &[(String, String, u32)]) -> usize {
    let row = |v: &[String], id: &str| v.iter().position(|x| x == id);
    let lines: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|(a, b, _)| Some((row(left, a)?, row(right, b)?)))
        .collect();
    let mut n = 0;
    for (i, a) in lines.iter().enumerate() {
        for b in &lines[i + 1..] {
            if (a.0 < b.0 && a.1 > b.1) || (a.0 > b.0 && a.1 < b.1) {
                n += 1;
            }
        }
    }
    n
}

/// The map picture of a review.
pub fn svg(r: &Review) -> Markup {
    let map = &r.map.map;
    let members_cov = &r.coverage.coverage.members;
    let mut left: Vec<String> = members_cov.iter().map(|m| m.member_id.clone()).collect();
    for p in &map.pairs {
        if !left.contains(&p.member_id) {
            left.push(p.member_id.clone());
        }
    }
    // Key stakeholders first, then by influence: the heuristic's starting order.
    let mut stakeholders: Vec<_> = map.stakeholders.iter().collect();
    stakeholders.sort_by(|a, b| {
        b.key
            .cmp(&a.key)
            .then(b.influence.cmp(&a.influence))
            .then(a.stakeholder_id.cmp(&b.stakeholder_id))
    });
    let mut right: Vec<String> = stakeholders
        .iter()
        .map(|s| s.stakeholder_id.clone())
        .collect();
    let edges: Vec<(String, String, u32)> = map
        .pairs
        .iter()
        .map(|p| (p.member_id.clone(), p.stakeholder_id.clone(), p.strength))
        .collect();
    let (left, right) = order(&mut left, &mut right, &edges);
    let rows = left.len().max(right.len()).max(1);
    let legend_y = TOP + rows as f64 * ROW + 16.0;
    let height = legend_y + 96.0;
    let y_of = |v: &[String], id: &str| {
        v.iter()
            .position(|x| x == id)
            .map(|i| TOP + i as f64 * ROW + NODE_H / 2.0)
    };
    let coverage_of: HashMap<&str, (&str, usize)> = r
        .coverage
        .coverage
        .key_stakeholders
        .iter()
        .map(|k| (k.stakeholder_id.as_str(), (k.risk, k.coverage)))
        .collect();
    let sole: HashMap<&str, usize> = members_cov
        .iter()
        .map(|m| (m.member_id.as_str(), m.sole_links.len()))
        .collect();
    let by_id: HashMap<&str, &crate::view::map::MapStakeholder> = map
        .stakeholders
        .iter()
        .map(|s| (s.stakeholder_id.as_str(), s))
        .collect();
    html! {
        svg.map xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (WIDTH) " " (height)} width=(WIDTH) height=(height)
            aria-label={"Relationship map of " (r.title())} {
            text.colhead x=(LEFT_X) y="20" { "Our team" }
            text.colhead x=(RIGHT_X) y="20" { (r.title()) "'s stakeholders" }
            @for p in &map.pairs {
                @if let (Some(y1), Some(y2)) = (y_of(&left, &p.member_id), y_of(&right, &p.stakeholder_id)) {
                    @let (w, dash) = stroke(p.level);
                    line class={"pair level-" (p.level)}
                        data-member=(p.member_id) data-stakeholder=(p.stakeholder_id)
                        data-strength=(p.strength)
                        x1=(LEFT_X + NODE_W) y1=(y1) x2=(RIGHT_X) y2=(y2)
                        stroke-width=(w) stroke-dasharray=(dash) {
                        title {
                            (r.member_name(&p.member_id)) " — " (r.stakeholder_name(&p.stakeholder_id))
                            ": strength " (p.strength) " (" (p.level) ")"
                            @if let Some(d) = p.days_since_contact { ", last met " (d) " days ago" }
                        }
                    }
                }
            }
            @for (i, id) in left.iter().enumerate() {
                @let y = TOP + i as f64 * ROW;
                @let sole_n = sole.get(id.as_str()).copied().unwrap_or(0);
                g class={"node member" @if sole_n > 0 { " spoc" }} data-id=(id) {
                    rect x=(LEFT_X) y=(y) width=(NODE_W) height=(NODE_H) rx="6" {}
                    text x=(LEFT_X + 10.0) y=(y + 15.0) { (r.member_name(id)) }
                    text.sub x=(LEFT_X + 10.0) y=(y + 29.0) {
                        (id)
                        @if sole_n > 0 { " · sole contact of " (sole_n) }
                    }
                    @if sole_n > 0 {
                        circle.badge cx=(LEFT_X + NODE_W - 12.0) cy=(y + NODE_H / 2.0) r="9" {}
                        text.badge x=(LEFT_X + NODE_W - 12.0) y=(y + NODE_H / 2.0 + 4.0) text-anchor="middle" { "!" }
                    }
                }
            }
            @for (i, id) in right.iter().enumerate() {
                @let y = TOP + i as f64 * ROW;
                @if let Some(s) = by_id.get(id.as_str()) {
                    @let attitude = if s.supportive { "supportive" } else if s.opposed { "opposed" } else { "neutral" };
                    @let risk = coverage_of.get(id.as_str()).map(|(r, _)| *r);
                    g class={"node stakeholder " (attitude) @if s.key { " key" } @if risk == Some("single") { " spoc" } @if risk == Some("uncovered") { " uncovered" }}
                        data-id=(id) data-attitude=(s.attitude) data-best-strength=(s.best_strength) {
                        rect x=(RIGHT_X) y=(y) width=(NODE_W) height=(NODE_H) rx="6" {}
                        text x=(RIGHT_X + 10.0) y=(y + 15.0) {
                            @if s.key { "★ " }
                            (crate::personal::reveal::name_for_people(s.name.as_deref(), s.erased))
                        }
                        text.sub x=(RIGHT_X + 10.0) y=(y + 29.0) {
                            (s.title.as_deref().unwrap_or(&s.function))
                            @if !s.dmu_roles.is_empty() { " · " (s.dmu_roles.join(", ")) }
                        }
                        @match risk {
                            Some("single") => {
                                circle.badge cx=(RIGHT_X + NODE_W - 12.0) cy=(y + NODE_H / 2.0) r="9" {}
                                text.badge x=(RIGHT_X + NODE_W - 12.0) y=(y + NODE_H / 2.0 + 4.0) text-anchor="middle" { "1" }
                            }
                            Some("uncovered") => {
                                circle.badge.zero cx=(RIGHT_X + NODE_W - 12.0) cy=(y + NODE_H / 2.0) r="9" {}
                                text.badge x=(RIGHT_X + NODE_W - 12.0) y=(y + NODE_H / 2.0 + 4.0) text-anchor="middle" { "0" }
                            }
                            _ => {}
                        }
                    }
                }
            }
            (legend(legend_y))
        }
    }
}

/// The key to the picture.
fn legend(y: f64) -> Markup {
    let levels = ["strong", "working", "weak", "none"];
    html! {
        g.legend {
            @for (i, level) in levels.iter().enumerate() {
                @let x = 20.0 + i as f64 * 120.0;
                @let (w, dash) = stroke(level);
                line class={"pair level-" (level)} x1=(x) y1=(y) x2=(x + 40.0) y2=(y)
                    stroke-width=(w) stroke-dasharray=(dash) {}
                text x=(x + 48.0) y=(y + 4.0) { (level) }
            }
            @for (i, (class, label)) in [("supportive", "supportive"), ("neutral", "neutral"), ("opposed", "opposed")].iter().enumerate() {
                @let x = 20.0 + i as f64 * 120.0;
                g class={"node stakeholder " (class)} {
                    rect x=(x) y=(y + 22.0) width="36" height="18" rx="4" {}
                }
                text x=(x + 44.0) y=(y + 35.0) { (label) }
            }
            text x="380" y=(y + 35.0) { "★ key stakeholder" }
            circle.badge cx="29" cy=(y + 62.0) r="9" {}
            text.badge x="29" y=(y + 66.0) text-anchor="middle" { "1" }
            text x="44" y=(y + 66.0) { "single point of contact (one member covers a key stakeholder)" }
            circle.badge.zero cx="529" cy=(y + 62.0) r="9" {}
            text.badge x="529" y=(y + 66.0) text-anchor="middle" { "0" }
            text x="544" y=(y + 66.0) { "uncovered key stakeholder" }
            circle.badge cx="29" cy=(y + 86.0) r="9" {}
            text.badge x="29" y=(y + 90.0) text-anchor="middle" { "!" }
            text x="44" y=(y + 90.0) { "member who is a key stakeholder's only contact" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_barycentre_order_untangles_a_crossed_map() {
        // m1–s3, m2–s2, m3–s1 drawn in id order cross three times; reversed, not at all.
        let edges = vec![
            ("m1".to_string(), "s3".to_string(), 50),
            ("m2".to_string(), "s2".to_string(), 50),
            ("m3".to_string(), "s1".to_string(), 50),
        ];
        let (mut l, mut r) = (ids(&["m1", "m2", "m3"]), ids(&["s1", "s2", "s3"]));
        assert_eq!(crossings(&l, &r, &edges), 3);
        let (l, r) = order(&mut l, &mut r, &edges);
        assert_eq!(crossings(&l, &r, &edges), 0);
    }

    #[test]
    fn a_node_without_partners_keeps_its_row_and_every_node_stays() {
        let edges = vec![("m2".to_string(), "s1".to_string(), 10)];
        let (mut l, mut r) = (ids(&["m1", "m2"]), ids(&["s1", "s2"]));
        let (l2, r2) = order(&mut l, &mut r, &edges);
        let mut sorted = l2.clone();
        sorted.sort();
        assert_eq!(sorted, ids(&["m1", "m2"]));
        assert_eq!(r2.len(), 2);
        assert_eq!(crossings(&l2, &r2, &edges), 0);
    }
}
