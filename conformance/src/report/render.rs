//! Rendering of a [`Report`] as Markdown (`REPORT.md`) and as one self-contained HTML page (inline
//! style, no script, no external asset). Every text from a corpus or an implementation is escaped
//! for its target: case ids and outcomes are data, never markup.

use std::fmt::Write;

use super::{Counts, Report, SuiteReport};
use crate::case::Verdict;

/// Escapes text for a Markdown table cell: CommonMark backslash escapes for the characters that
/// make emphasis, links, code or cell breaks, entities for `&`, and no line breaks.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The result cell: the verdict, and the expectation's reason when the case is listed.
fn result_text(v: &Verdict) -> String {
    match v {
        Verdict::OtherFailure { reason, listed } => {
            format!("{}: listed as failing with {listed}: {reason}", v.label())
        }
        _ => match v.reason() {
            Some(r) => format!("{}: {r}", v.label()),
            None => v.label().to_owned(),
        },
    }
}

fn counts_text(c: &Counts) -> String {
    format!(
        "{} passed, {} expected failures, {} failed, {} unexpected passes",
        c.passed, c.expected_failures, c.failed, c.unexpected_passes
    )
}

fn suite_status(s: &SuiteReport) -> &'static str {
    if s.is_success() {
        "PASS"
    } else {
        "FAIL"
    }
}

fn problems(s: &SuiteReport) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(e) = &s.error {
        v.push(format!("The suite could not run: {e}"));
    }
    for e in &s.stale {
        v.push(format!(
            "Stale expectation: case {} is listed ({}) but was not run.",
            e.case, e.reason
        ));
    }
    v
}

/// `REPORT.md`: title, commit and date, a summary of all suites, then one table per suite with
/// a summary row.
pub fn render_markdown(r: &Report) -> String {
    let md = escape_markdown;
    let mut o = String::new();
    let t = r.totals();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(o, "# eidas-bridge conformance report\n");
    let _ = writeln!(o, "- Commit: `{}`", r.commit.replace('`', ""));
    let _ = writeln!(o, "- Date: {} (UTC)", md(&r.date));
    let _ = writeln!(o, "- Validation time given to the suites: {}", md(&r.at));
    let _ = writeln!(
        o,
        "- Result: **{}** ({} cases: {})\n",
        if r.is_success() { "PASS" } else { "FAIL" },
        t.cases,
        counts_text(&t)
    );
    let _ = writeln!(o, "Expected failures are listed, each with its reason, in `conformance/expectations.toml`; a listed case that passes is an unexpected pass and fails the run.\n");
    let _ = writeln!(o, "## Summary\n");
    let _ = writeln!(
        o,
        "| Suite | Cases | Passed | Expected failures | Failed | Unexpected passes | Result |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---|");
    for s in &r.suites {
        let c = s.counts();
        let _ = writeln!(
            o,
            "| [{}](#{}) | {} | {} | {} | {} | {} | {} |",
            md(&s.name),
            anchor(&s.name),
            c.cases,
            c.passed,
            c.expected_failures,
            c.failed,
            c.unexpected_passes,
            suite_status(s)
        );
    }
    let _ = writeln!(
        o,
        "| **All suites** | **{}** | **{}** | **{}** | **{}** | **{}** | **{}** |\n",
        t.cases,
        t.passed,
        t.expected_failures,
        t.failed,
        t.unexpected_passes,
        if r.is_success() { "PASS" } else { "FAIL" }
    );
    for e in &r.unknown_suite {
        let _ = writeln!(
            o,
            "- Expectation for unknown suite {}: case {}\n",
            md(&e.suite),
            md(&e.case)
        );
    }
    for s in &r.suites {
        let _ = writeln!(o, "<a id=\"{}\"></a>\n", anchor(&s.name));
        let _ = writeln!(o, "## {}: {}\n", md(&s.name), md(&s.title));
        for p in problems(s) {
            let _ = writeln!(o, "- **{}**\n", md(&p));
        }
        let _ = writeln!(o, "| Case | Expected | Actual | Result |");
        let _ = writeln!(o, "|---|---|---|---|");
        for cv in &s.cases {
            let c = &cv.case;
            let case = match &c.note {
                Some(n) => format!("{} ({})", md(&c.id), md(n)),
                None => md(&c.id),
            };
            let _ = writeln!(
                o,
                "| {case} | {} | {} | {} |",
                md(&c.expected),
                md(&c.actual),
                md(&result_text(&cv.verdict))
            );
        }
        let c = s.counts();
        let _ = writeln!(
            o,
            "| **Summary: {} cases** | | | **{}: {}** |\n",
            c.cases,
            suite_status(s),
            counts_text(&c)
        );
    }
    o
}

/// An anchor name made of the suite name's ASCII alphanumerics and dashes.
fn anchor(name: &str) -> String {
    let a: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("suite-{a}")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin-bottom:2em}th,td{border:1px solid #ccc;padding:.25em .5em;\
text-align:left;vertical-align:top}th{background:#f2f2f2}td.n{text-align:right}\
tr.pass td.r{color:#176317}tr.xfail td.r{color:#8a6100}tr.fail td.r{color:#b00020;font-weight:bold}\
tr.sum td{font-weight:bold;background:#fafafa}.note{color:#666;font-size:.9em}code{font-size:.9em}";

fn row_class(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::ExpectedFailure(_) => "xfail",
        _ => "fail",
    }
}

/// The HTML page: the same content as [`render_markdown`], self-contained.
pub fn render_html(r: &Report) -> String {
    let h = escape_html;
    let t = r.totals();
    let overall = if r.is_success() { "PASS" } else { "FAIL" };
    let mut o = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>eidas-bridge conformance report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>eidas-bridge conformance report</h1>\n<ul>\n<li>Commit: <code>{}</code></li>\n\
         <li>Date: {} (UTC)</li>\n<li>Validation time given to the suites: {}</li>\n\
         <li>Result: <strong>{overall}</strong> ({} cases: {})</li>\n</ul>\n\
         <p>Expected failures are listed, each with its reason, in \
         <code>conformance/expectations.toml</code>; a listed case that passes is an unexpected \
         pass and fails the run.</p>\n<h2>Summary</h2>\n<table>\n<tr><th>Suite</th><th>Cases</th>\
         <th>Passed</th><th>Expected failures</th><th>Failed</th><th>Unexpected passes</th>\
         <th>Result</th></tr>\n",
        h(&r.commit),
        h(&r.date),
        h(&r.at),
        t.cases,
        counts_text(&t)
    );
    for s in &r.suites {
        let c = s.counts();
        let class = if s.is_success() { "pass" } else { "fail" };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td><a href=\"#{}\">{}</a></td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"r\">{}</td></tr>",
            anchor(&s.name),
            h(&s.name),
            c.cases,
            c.passed,
            c.expected_failures,
            c.failed,
            c.unexpected_passes,
            suite_status(s)
        );
    }
    let _ = writeln!(
        o,
        "<tr class=\"sum\"><td>All suites</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{overall}</td></tr>\n</table>",
        t.cases, t.passed, t.expected_failures, t.failed, t.unexpected_passes
    );
    for e in &r.unknown_suite {
        let _ = writeln!(
            o,
            "<p><strong>Expectation for unknown suite {}: case {}</strong></p>",
            h(&e.suite),
            h(&e.case)
        );
    }
    for s in &r.suites {
        let _ = writeln!(
            o,
            "<h2 id=\"{}\">{}: {}</h2>",
            anchor(&s.name),
            h(&s.name),
            h(&s.title)
        );
        for p in problems(s) {
            let _ = writeln!(o, "<p><strong>{}</strong></p>", h(&p));
        }
        let _ = writeln!(
            o,
            "<table>\n<tr><th>Case</th><th>Expected</th><th>Actual</th><th>Result</th></tr>"
        );
        for cv in &s.cases {
            let c = &cv.case;
            let note = c
                .note
                .as_ref()
                .map(|n| format!("<br><span class=\"note\">{}</span>", h(n)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "<tr class=\"{}\"><td>{}{note}</td><td>{}</td><td>{}</td><td class=\"r\">{}</td></tr>",
                row_class(&cv.verdict),
                h(&c.id),
                h(&c.expected),
                h(&c.actual),
                h(&result_text(&cv.verdict))
            );
        }
        let c = s.counts();
        let _ = writeln!(
            o,
            "<tr class=\"sum\"><td>Summary: {} cases</td><td></td><td></td><td>{}: {}</td></tr>\n</table>",
            c.cases,
            suite_status(s),
            counts_text(&c)
        );
    }
    o.push_str("</body>\n</html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_cells() {
        assert_eq!(escape_markdown("a|b"), "a\\|b");
        assert_eq!(escape_markdown("<x>&_y_"), "\\<x\\>&amp;\\_y\\_");
        assert_eq!(escape_markdown("l1\nl2"), "l1 l2");
    }

    #[test]
    fn html_escapes_all_five() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn anchors_are_plain() {
        assert_eq!(anchor("a<b>"), "suite-a-b-");
    }
}
