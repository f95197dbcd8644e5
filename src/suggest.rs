//! "Did you mean …?": the closest known name to a mistyped one, for the messages that name an
//! unknown event type, field, view or account (SPEC 7 v2, people). Closeness is strsim's
//! Damerau-Levenshtein distance: at most a third of the name's length, and at most 3.

/// The known name closest to `given`, if one is close enough to be what was meant.
pub fn closest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .filter(|k| *k != given)
        .map(|k| (strsim::damerau_levenshtein(given, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// `"; did you mean X?"`, or nothing when no known name is close.
pub fn hint<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(given, known)
        .map(|k| format!("; did you mean {k}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_typos_are_suggested_and_far_ones_are_not() {
        let types = ["interaction_logged", "stakeholder_added", "value_delivered"];
        assert_eq!(
            closest("interaction_loged", types),
            Some("interaction_logged")
        );
        assert_eq!(
            closest("stakeholder_aded", types),
            Some("stakeholder_added")
        );
        assert_eq!(closest("value_delievred", types), Some("value_delivered"));
        assert_eq!(closest("something_else", types), None);
        assert_eq!(
            hint("covrage", ["coverage", "stage"]),
            "; did you mean coverage?"
        );
        assert_eq!(hint("xyz", ["coverage", "stage"]), "");
    }
}
