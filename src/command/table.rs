//! Tables for people (SPEC 7 v2): aligned columns that fit 100 columns, long text wrapped at
//! word boundaries, details on the lines below their row.

/// The width tables are made to fit (SPEC 7 v2: tables for people fit 100 columns).
pub(crate) const TABLE_WIDTH: usize = 100;

/// Renders rows as aligned columns, fitting [`TABLE_WIDTH`]: the last column, when too wide,
/// wraps at word boundaries onto continuation lines aligned under it.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let indent: usize = widths[..widths.len() - 1].iter().map(|w| w + 2).sum();
    let room = TABLE_WIDTH.saturating_sub(indent).max(24);
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                for (k, part) in wrap(c, room).iter().enumerate() {
                    if k > 0 {
                        out = out.trim_end().to_string() + "\n" + &" ".repeat(indent);
                    }
                    out.push_str(part);
                }
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

/// Splits text into lines of at most `width` characters at spaces (a longer word, or a
/// parenthesis, stays whole).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    // Words are split at spaces outside parentheses and not before one, so "m-eva (Eva Lind)"
    // stays together.
    let mut words = Vec::new();
    let (mut word, mut depth) = (String::new(), 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c == ' ' && depth == 0 && chars.peek() != Some(&'(') {
            words.push(std::mem::take(&mut word));
        } else {
            word.push(c);
        }
    }
    words.push(word);
    let mut lines = vec![String::new()];
    for word in words {
        let last = lines.last_mut().expect("one line at least");
        let len = last.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(word);
        } else {
            if len > 0 {
                last.push(' ');
            }
            last.push_str(&word);
        }
    }
    lines
}

/// A table with each row's details (paragraphs) on the lines below it, indented under the
/// second column and wrapped to fit.
pub(crate) fn with_details(headers: &[&str], rows: Vec<(Vec<String>, Vec<String>)>) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|(r, _)| r.clone()).collect();
    let table = table(headers, &cells);
    let indent = headers[0].chars().count().max(
        cells
            .iter()
            .map(|r| r[0].chars().count())
            .max()
            .unwrap_or(0),
    ) + 2;
    let mut lines = table.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or(""));
    for ((_, d), line) in rows.iter().zip(lines) {
        out += line;
        out += "\n";
        for paragraph in d.iter().filter(|p| !p.is_empty()) {
            for part in wrap(paragraph, TABLE_WIDTH - indent) {
                out += &format!("{}{part}\n", " ".repeat(indent));
            }
        }
    }
    out
}
