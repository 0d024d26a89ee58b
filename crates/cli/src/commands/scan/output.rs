//! Printing alerts (stdout) and the summary (stderr).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono_tz::Tz;
use comfy_table::{ContentArrangement, Table, presets};
use m365mon_contracts::{AlertEvent, RuleId, Severity};
use m365mon_rules::Stats;
use owo_colors::OwoColorize;

use crate::commands::text::printable;

/// One alert event per line, nothing else.
pub(crate) fn jsonl(alerts: &[AlertEvent]) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for alert in alerts {
        serde_json::to_writer(&mut out, alert).context("cannot write to standard output")?;
        out.write_all(b"\n").context("cannot write to standard output")?;
    }
    out.flush().context("cannot write to standard output")
}

fn severity_label(severity: Severity) -> String {
    let text = severity.as_str().to_uppercase();
    match severity {
        Severity::Critical => text.on_red().white().bold().to_string(),
        Severity::High => text.red().bold().to_string(),
        Severity::Medium => text.yellow().bold().to_string(),
        Severity::Low => text.cyan().to_string(),
    }
}

/// Alerts grouped by severity (most severe first) and rule, one table per group.
pub(crate) fn table(alerts: &[AlertEvent], tz: Tz) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(anstream::stdout());
    if alerts.is_empty() {
        writeln!(out, "No alerts.")?;
        return Ok(());
    }
    let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, RuleId), Vec<&AlertEvent>> = BTreeMap::new();
    for alert in alerts {
        groups.entry((std::cmp::Reverse(alert.severity), alert.rule)).or_default().push(alert);
    }
    let width = terminal_width();
    for ((std::cmp::Reverse(severity), rule), group) in groups {
        writeln!(
            out,
            "\n{} {} {}",
            severity_label(severity),
            rule.as_str().bold(),
            format!("({})", if group.len() == 1 { "1 alert".to_string() } else { format!("{} alerts", group.len()) })
                .dimmed()
        )?;
        let mut table = Table::new();
        table.load_preset(presets::UTF8_HORIZONTAL_ONLY);
        table.set_content_arrangement(ContentArrangement::Dynamic);
        if let Some(width) = width {
            table.set_width(width);
        }
        table.set_header(vec!["When", "Who / where", "Count", "What"]);
        for alert in group {
            let first = alert.first_seen.with_timezone(&tz);
            let last = alert.last_seen.with_timezone(&tz);
            let when = if first == last {
                first.format("%Y-%m-%d %H:%M %Z").to_string()
            } else if first.date_naive() == last.date_naive() {
                format!("{}–{}", first.format("%Y-%m-%d %H:%M"), last.format("%H:%M %Z"))
            } else {
                format!("{} –\n{}", first.format("%Y-%m-%d %H:%M"), last.format("%Y-%m-%d %H:%M %Z"))
            };
            // User, address and title come from the records: attacker-controlled text.
            let who = match (&alert.user, &alert.ip) {
                (Some(user), Some(ip)) => format!("{}\n{}", printable(user, 200), printable(ip, 60)),
                (Some(user), None) => printable(user, 200),
                (None, Some(ip)) => printable(ip, 60),
                (None, None) => String::new(),
            };
            table.add_row(vec![when, who, alert.count.to_string(), printable(&alert.title, 400)]);
        }
        writeln!(out, "{table}")?;
    }
    writeln!(out, "\n{}", "Each alert's evidence: --format jsonl (field `details`).".dimmed())?;
    out.flush()?;
    Ok(())
}

/// The terminal's width when it reports a usable one, else `COLUMNS`, else 120 (pipes, files,
/// terminals that report no size).
fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal()
        && let Some(width) = Table::new().width()
        && width >= 60
    {
        return None;
    }
    Some(std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w| *w >= 60).unwrap_or(120))
}

pub(crate) struct Summary<'a> {
    pub files: usize,
    pub unreadable_files: u64,
    pub unreadable_records: u64,
    pub stats: &'a Stats,
    pub alerts: &'a [AlertEvent],
    pub learning_users: usize,
    pub learning_days: u32,
    pub elapsed: Duration,
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Records read, skipped, alerts by rule: on stderr, so stdout stays clean for `jsonl`.
pub(crate) fn summary(s: &Summary<'_>) -> anyhow::Result<()> {
    let mut err = anstream::stderr();
    let st = s.stats;
    let seconds = s.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { (st.records as f64 / seconds) as u64 } else { 0 };
    writeln!(
        err,
        "{} {} records from {} ({} sign-ins, {} audits) in {seconds:.2} s ({} records/s).",
        "Scanned".bold(),
        thousands(st.records),
        if s.files == 1 { "1 input".to_string() } else { format!("{} inputs", s.files) },
        thousands(st.sign_ins),
        thousands(st.audits),
        thousands(rate)
    )?;
    let skipped = s.unreadable_records + st.unusable;
    if skipped > 0 || s.unreadable_files > 0 {
        writeln!(
            err,
            "{} {} unreadable records and {} unreadable inputs were skipped (see the warnings above).",
            "Incomplete:".yellow().bold(),
            thousands(skipped),
            s.unreadable_files
        )?;
    }
    let mut by_rule: BTreeMap<RuleId, u64> = BTreeMap::new();
    for alert in s.alerts {
        *by_rule.entry(alert.rule).or_insert(0) += 1;
    }
    if by_rule.is_empty() {
        writeln!(err, "No alerts.")?;
    } else {
        let list: Vec<String> = by_rule.iter().map(|(rule, n)| format!("{rule} {n}")).collect();
        writeln!(err, "{} {}: {}.", thousands(s.alerts.len() as u64).bold(), "alerts".bold(), list.join(", "))?;
    }
    if s.learning_users > 0 {
        writeln!(
            err,
            "new_country: {} users had less than {} days of history in the input and were still learning.",
            thousands(s.learning_users as u64),
            s.learning_days
        )?;
    }
    Ok(())
}
