//! Every scenario under `replays/` replays into a fresh store and matches its hand-derived
//! expected files; and the comparison itself reports differences.

use kamlog::view::Policy;
use serde_json::json;
use std::path::Path;

#[test]
fn every_replay_scenario_matches_its_expectations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("replays");
    let mut scenarios = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.join("scenario.json").exists() {
            continue;
        }
        let expected = std::fs::read_dir(dir.join("expected"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(expected > 0, "{} has no expected files", dir.display());
        let diffs = kamlog::cli::replay_scenario(&dir, &Policy::default()).unwrap();
        assert!(diffs.is_empty(), "{}:\n{}", dir.display(), diffs.join("\n"));
        scenarios += 1;
    }
    assert!(scenarios >= 6, "only {scenarios} scenarios");
}

#[test]
fn comparison_reports_each_difference_and_compares_decimals_as_numbers() {
    let mut out = Vec::new();
    kamlog::cli::compare_json(
        "$",
        &json!({"a": "1.50", "b": [1, 2], "c": "2024-01-01T00:00:00Z", "d": "x"}),
        &json!({"a": "1.5", "b": [1, 3, 4], "c": "2024-01-01T00:00:00.000000Z", "e": true}),
        &mut out,
    );
    assert_eq!(
        out,
        vec![
            "$.b[1]: expected 2, got 3",
            "$.b: expected 2 items, got 3",
            "$.b[2]: not expected, got 4",
            "$.d: expected \"x\", missing",
            "$.e: not expected, got true",
        ]
    );
}
