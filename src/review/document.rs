//! `kamlog report`'s file: the review as one self-contained, printable HTML document — the
//! stylesheet inline, the pictures inline SVG, no script and nothing loaded from elsewhere.

use super::{html, Review, STYLE};
use maud::{html, PreEscaped, DOCTYPE};

/// The report of a review as an HTML document.
pub fn document(r: &Review) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content={"kamlog " (env!("CARGO_PKG_VERSION"))};
                title { "Account review: " (r.title()) " — kamlog" }
                style { (PreEscaped(STYLE)) }
            }
            body.report {
                main { (html::sections(r)) }
                footer {
                    "kamlog report of " (r.account_id) " as of " (crate::view::time_str(r.sel.as_of))
                    @if let Some(k) = r.sel.known_at { ", known at " (crate::view::time_str(k)) }
                    "; every figure is the views' at that selection."
                }
            }
        }
    }
    .into_string()
}
