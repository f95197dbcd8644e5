//! The sections of the account review as HTML (maud: every interpolated string is escaped, so a
//! name like `<script>…` is shown as text), shared by `kamlog report` and the web's account
//! page. Figures that tests and the browser read carry stable ids and `data-` attributes
//! (`#map-status`, `#coverage-ratio`, `data-id` on the map's nodes).

use super::{charts, map_svg, Review};
use crate::command::human_time;
use crate::view::dec_str;
use maud::{html, Markup};

/// Every section, in SPEC 9's order.
pub fn sections(r: &Review) -> Markup {
    html! {
        (header(r))
        (map(r))
        (coverage(r))
        (stage(r))
        (value(r))
        (contracts(r))
        (alerts(r))
        (economics(r))
        (changes(r))
    }
}

/// A dash for a missing figure.
fn or_dash(v: Option<impl std::fmt::Display>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "—".into())
}

/// The account's header: tier, quadrant, declared and inferred stage, map status.
pub fn header(r: &Review) -> Markup {
    let c = &r.classification;
    let s = &r.stage;
    html! {
        section #header {
            h1 { (r.title()) " " span.id { "(" (r.account_id) ")" } }
            p.selection {
                "As of " time #as-of datetime=(crate::view::time_str(r.sel.as_of)) { (human_time(r.sel.as_of)) }
                @if let Some(k) = r.sel.known_at {
                    ", as known at " time #known-at datetime=(crate::view::time_str(k)) { (human_time(k)) }
                }
            }
            dl.facts {
                dt { "Tier" } dd #tier { (or_dash(c.tier.as_deref())) }
                dt { "Quadrant" } dd #quadrant { (or_dash(c.quadrant)) }
                dt { "Attractiveness / business strength" }
                dd { (or_dash(c.attractiveness)) " / " (or_dash(c.business_strength)) }
                dt { "Declared stage" } dd #declared-stage { (or_dash(s.declared.as_ref().map(|d| d.stage.as_str()))) }
                dt { "Inferred stage" } dd #inferred-stage { (s.inferred.stage.name()) }
                @if s.divergence { dt { "" } dd.risk { "declared and inferred stage diverge" } }
                dt { "Map status" }
                dd { span #map-status class={"status map-" (r.map.map.status)} data-status=(r.map.map.status) { (r.map.map.status) } }
            }
        }
    }
}

/// The relationship map: the picture, the gaps that keep it from green, the required roles.
pub fn map(r: &Review) -> Markup {
    let m = &r.map.map;
    html! {
        section #map {
            h2 { "Relationship map" }
            (map_svg::svg(r))
            @if m.gaps.is_empty() {
                p { "No gaps: the map is green." }
            } @else {
                p { "Gaps: " span #map-gaps { (m.gaps.join(", ")) } }
            }
            table {
                thead { tr { th { "Role" } th { "Held by" } th { "Engaged" } } }
                tbody {
                    @for role in &m.required_roles {
                        tr {
                            td { (role.role.replace('_', " ")) }
                            td { (names(&role.holders, |id| r.stakeholder_name(id))) }
                            td { (names(&role.engaged, |id| r.stakeholder_name(id))) }
                        }
                    }
                    tr {
                        td { "executive sponsor (ours)" }
                        td colspan="2" { (names(&m.exec_sponsors, |id| r.member_name(id))) }
                    }
                }
            }
        }
    }
}

fn names(ids: &[String], name: impl Fn(&str) -> String) -> String {
    if ids.is_empty() {
        "—".into()
    } else {
        ids.iter().map(|id| name(id)).collect::<Vec<_>>().join(", ")
    }
}

/// Coverage and succession (SPEC 4.1).
pub fn coverage(r: &Review) -> Markup {
    let c = &r.coverage.coverage;
    html! {
        section #coverage {
            h2 { "Coverage and succession" }
            p {
                "Coverage ratio " strong #coverage-ratio { (dec_str(c.coverage_ratio)) }
                @if c.bow_tie { " · " span.risk #bow-tie { "bow tie: one member holds every key relationship" } }
            }
            table {
                thead { tr { th { "Key stakeholder" } th { "Covered by" } th.num { "Coverage" } th { "Risk" } } }
                tbody {
                    @for k in &c.key_stakeholders {
                        tr data-id=(k.stakeholder_id) {
                            td { (crate::personal::reveal::name_for_people(k.name.as_deref(), k.erased)) }
                            td { (names(&k.covered_by, |id| r.member_name(id))) }
                            td.num { (k.coverage) }
                            td class={"risk-" (k.risk)} { (k.risk) }
                        }
                    }
                }
            }
            table {
                thead { tr { th { "Member" } th { "Sole contact of" } th { "Successor" } } }
                tbody {
                    @for m in &c.members {
                        tr data-id=(m.member_id) {
                            td { (crate::personal::reveal::name_for_people(m.name.as_deref(), m.erased)) }
                            td { (names(&m.sole_links, |id| r.stakeholder_name(id))) }
                            td {
                                @match &m.successor {
                                    Some(s) => { (r.member_name(s)) @if !m.successor_ready { " (not yet linked to the sole contacts)" } }
                                    None => { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The stage history over time and the evidence of the inferred stage.
pub fn stage(r: &Review) -> Markup {
    let e = &r.stage.inferred.evidence;
    html! {
        section #stage {
            h2 { "Stage history" }
            (charts::stage_history(&r.stage.history, r.sel.as_of))
            p.evidence {
                (e.customer_functions) " customer and " (e.supplier_functions) " supplier functions in contact; "
                (e.links) " links; " (e.objectives_agreed) " objectives agreed, " (e.objectives_achieved) " achieved; "
                "joint plan " (if e.plan { "agreed" } else { "none" }) "."
            }
        }
    }
}

/// Value promised against delivered, per promise and in total.
pub fn value(r: &Review) -> Markup {
    html! {
        section #value {
            h2 { "Value promised and delivered" }
            (charts::value_bars(&r.value.promises))
            @if !r.value.totals.is_empty() {
                table {
                    thead { tr { th { "Unit" } th { "Beneficiary" } th.num { "Promised" } th.num { "Due" } th.num { "Delivered" } th.num { "Realization" } } }
                    tbody {
                        @for t in &r.value.totals {
                            tr {
                                td { (t.unit) } td { (t.beneficiary) }
                                td.num { (dec_str(t.promised)) } td.num { (dec_str(t.due)) } td.num { (dec_str(t.delivered)) }
                                td.num { (or_dash(t.realization.map(dec_str))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Contracts and renewals (SPEC 4.8).
pub fn contracts(r: &Review) -> Markup {
    let v = &r.contracts;
    html! {
        section #contracts {
            h2 { "Contracts and renewals" }
            @if v.contracts.is_empty() {
                p.empty { "No contracts." }
            } @else {
                table {
                    thead { tr { th { "Contract" } th.num { "Annual value" } th { "Renewal date" } th.num { "Days to renewal" } th { "Status" } } }
                    tbody {
                        @for c in &v.contracts {
                            tr data-id=(c.contract_id) {
                                td { (c.title.as_deref().unwrap_or(&c.contract_id)) }
                                td.num { (dec_str(c.annual_value)) " " (c.currency) }
                                td { (c.renewal_date) }
                                td.num { (or_dash(c.days_to_renewal)) }
                                td class={"contract-" (c.status)} { (c.status) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Open alerts, most severe first.
pub fn alerts(r: &Review) -> Markup {
    html! {
        section #alerts {
            h2 { "Open alerts" }
            @if r.alerts.is_empty() {
                p.empty { "No open alerts." }
            } @else {
                table {
                    thead { tr { th { "Severity" } th { "Alert" } th { "Subject" } th { "Raised" } th { "Detail" } } }
                    tbody {
                        @for a in &r.alerts {
                            tr class={"severity-" (a.severity.name())} {
                                td { (a.severity.name()) }
                                td { (a.kind.name()) }
                                td { (crate::command::alerts::subject(&a.subject, &a.detail)) }
                                td { (human_time(a.raised_at)) }
                                td { (crate::command::alerts::detail(&a.detail, &r.names)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Economics and ROI per currency.
pub fn economics(r: &Review) -> Markup {
    html! {
        section #economics {
            h2 { "Economics and ROI" }
            @if r.economics.currencies.is_empty() {
                p.empty { "No revenue or investment recorded." }
            } @else {
                table {
                    thead { tr { th { "Currency" } th.num { "Revenue" } th.num { "Gross margin" } th.num { "Investment" } th.num { "ROI" } } }
                    tbody {
                        @for c in &r.economics.currencies {
                            tr {
                                td { (c.currency) }
                                td.num { (dec_str(c.revenue)) } td.num { (dec_str(c.gross_margin)) }
                                td.num { (dec_str(c.investment)) } td.num { (or_dash(c.roi.map(dec_str))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What changed since `since`, from the audit timeline.
pub fn changes(r: &Review) -> Markup {
    html! {
        section #changes {
            h2 { "What changed since " (human_time(r.since)) }
            (timeline_table(&r.changes.entries))
        }
    }
}

/// Audit timeline entries as a table (the report's changes and the web's log page).
pub fn timeline_table(entries: &[crate::query::timeline::LogEntry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p.empty { "Nothing changed." }
        } @else {
            table.timeline {
                thead { tr { th { "Occurred" } th.num { "Pos" } th { "Event" } th { "What changed" } } }
                tbody {
                    @for x in entries {
                        tr class=[x.event.as_ref().filter(|e| e.retracted_by.is_some()).map(|_| "retracted")] {
                            td { (human_time(x.at)) }
                            td.num { (or_dash(x.position)) }
                            td {
                                @match &x.event {
                                    Some(e) => {
                                        code { (e.type_name) }
                                        @if e.late { " " span.tag { "late" } }
                                        @if let Some(by) = &e.retracted_by { " " span.tag { "retracted by " (by) } }
                                        br;
                                        (e.summary)
                                    }
                                    None => { em { "time passed" } }
                                }
                            }
                            td { (x.changes.join("; ")) }
                        }
                    }
                }
            }
        }
    }
}
