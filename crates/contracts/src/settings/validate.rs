//! Validation of the settings document: every problem names its field and the allowed values.

use std::fmt;

use super::Settings;

/// One problem with a settings document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    /// Dotted path of the field, e.g. `failed_logins.threshold` or `trusted_ips[2]`; empty for
    /// the document as a whole.
    pub field: String,
    pub message: String,
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

/// A settings document that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError {
    pub problems: Vec<SettingsProblem>,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        write!(f, "invalid settings: {}", texts.join("; "))
    }
}

impl SettingsError {
    pub(crate) fn single(field: &str, message: impl Into<String>) -> Self {
        SettingsError { problems: vec![SettingsProblem { field: field.to_string(), message: message.into() }] }
    }

    /// Turns a serde error at `path` into a problem that names the field.
    pub(crate) fn from_serde(path: String, error: &serde_json::Error) -> Self {
        let path = if path == "." { String::new() } else { path };
        let text = error.to_string();
        // serde_json appends " at line L column C"; keep it, it helps in files.
        let message =
            if text.starts_with("unknown field") { format!("{text} (unknown keys are not allowed)") } else { text };
        SettingsError::single(&path, message)
    }
}

/// Collects problems while walking the document.
struct Check {
    problems: Vec<SettingsProblem>,
}

impl Check {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(SettingsProblem { field: field.into(), message: message.into() });
    }

    fn range_u32(&mut self, field: &str, value: u32, min: u32, max: u32) {
        if value < min || value > max {
            self.fail(field, format!("must be between {min} and {max} (got {value})"));
        }
    }

    fn range_f64(&mut self, field: &str, value: f64, min: f64, max: f64) {
        if !value.is_finite() || value < min || value > max {
            self.fail(field, format!("must be between {min} and {max} (got {value})"));
        }
    }

    fn non_blank_list(&mut self, field: &str, values: &[String], what: &str) {
        for (i, value) in values.iter().enumerate() {
            if value.trim().is_empty() {
                self.fail(format!("{field}[{i}]"), format!("must be a non-empty {what}"));
            } else if value.chars().any(char::is_control) {
                self.fail(format!("{field}[{i}]"), format!("'{}' contains control characters", value.escape_debug()));
            }
        }
    }
}

impl Settings {
    /// Checks every value; returns all problems at once.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut c = Check { problems: Vec::new() };

        let wh = &self.working_hours;
        if wh.start == wh.end {
            c.fail("working_hours", "start and end must differ (end before start means hours that run past midnight)");
        }
        if wh.days.is_empty() {
            c.fail("working_hours.days", "list at least one working day (Mon … Sun)");
        }
        for (i, day) in wh.days.iter().enumerate() {
            if wh.days[..i].contains(day) {
                c.fail(format!("working_hours.days[{i}]"), format!("{day} is listed twice"));
            }
        }

        c.range_u32("failed_logins.threshold", self.failed_logins.threshold, 2, 10_000);
        c.range_u32("failed_logins.window_minutes", self.failed_logins.window_minutes, 1, 1_440);
        c.range_u32("password_spray.distinct_users", self.password_spray.distinct_users, 2, 10_000);
        c.range_u32("password_spray.window_minutes", self.password_spray.window_minutes, 1, 1_440);
        c.range_u32("mfa_fatigue.threshold", self.mfa_fatigue.threshold, 1, 1_000);
        c.range_u32("mfa_fatigue.window_minutes", self.mfa_fatigue.window_minutes, 1, 1_440);

        for (i, code) in self.high_risk_countries.iter().enumerate() {
            if code.len() != 2 || !code.chars().all(|ch| ch.is_ascii_uppercase()) {
                c.fail(
                    format!("high_risk_countries[{i}]"),
                    format!(
                        "'{}' is not a two-letter ISO 3166 country code in capitals, e.g. \"KP\"",
                        code.escape_debug()
                    ),
                );
            }
        }

        c.range_f64("impossible_travel.max_speed_kmh", self.impossible_travel.max_speed_kmh, 100.0, 20_000.0);
        c.range_f64("impossible_travel.min_distance_km", self.impossible_travel.min_distance_km, 0.0, 20_000.0);
        c.range_u32("new_country.learning_days", self.new_country.learning_days, 0, 365);
        c.range_u32("new_country.forget_days", self.new_country.forget_days, 1, 3_650);

        c.non_blank_list("admin_users", &self.admin_users, "user principal name or object id");
        c.non_blank_list("break_glass_users", &self.break_glass_users, "user principal name or object id");
        c.non_blank_list("legacy_auth.client_apps", &self.legacy_auth.client_apps, "client app name");
        c.non_blank_list("legacy_auth.user_agent_markers", &self.legacy_auth.user_agent_markers, "user agent text");
        c.non_blank_list("sensitive_activities", &self.sensitive_activities, "activity name");
        for (rule, rule_settings) in self.rules.iter() {
            c.non_blank_list(
                &format!("rules.{rule}.exempt_users"),
                &rule_settings.exempt_users,
                "user principal name or object id",
            );
        }

        c.range_u32("realert_minutes", self.realert_minutes, 1, 10_080);
        c.range_u32("allowed_lateness_minutes", self.allowed_lateness_minutes, 0, 1_440);

        let col = &self.collector;
        c.range_u32("collector.poll_interval_seconds", col.poll_interval_seconds, 10, 3_600);
        c.range_u32("collector.overlap_minutes", col.overlap_minutes, 0, 1_440);
        c.range_u32("collector.backfill_days", col.backfill_days, 0, 30);
        c.range_u32("collector.directory_roles_sync_minutes", col.directory_roles_sync_minutes, 1, 1_440);
        c.range_u32("collector.late_sweep_interval_minutes", col.late_sweep_interval_minutes, 0, 1_440);
        c.range_u32("collector.late_sweep_hours", col.late_sweep_hours, 1, 168);
        if col.late_sweep_interval_minutes > 0
            && u64::from(col.late_sweep_hours) * 60 <= u64::from(col.overlap_minutes)
            && (1..=168).contains(&col.late_sweep_hours)
        {
            c.fail(
                "collector.late_sweep_hours",
                format!(
                    "must reach further back than collector.overlap_minutes ({} minutes), or the sweep re-reads \
                     nothing new; set late_sweep_interval_minutes to 0 to switch it off",
                    col.overlap_minutes
                ),
            );
        }

        let n = &self.notifications;
        for (i, key) in n.group_by.iter().enumerate() {
            if !["tenant", "rule", "severity", "user"].contains(&key.as_str()) {
                c.fail(
                    format!("notifications.group_by[{i}]"),
                    format!("'{}' cannot group alerts; use tenant, rule, severity or user", key.escape_debug()),
                );
            }
        }
        c.range_u32("notifications.group_wait_seconds", n.group_wait_seconds, 0, 3_600);
        c.range_u32("notifications.group_interval_seconds", n.group_interval_seconds, 1, 86_400);
        c.range_u32("notifications.repeat_interval_seconds", n.repeat_interval_seconds, 60, 7 * 86_400);
        c.range_u32("notifications.mail_rate_per_minute", n.mail_rate_per_minute, 1, 1_000);
        c.range_u32("notifications.max_attempts", n.max_attempts, 1, 100);
        c.range_u32("notifications.webhook_rate_per_minute", n.webhook_rate_per_minute, 1, 1_000);
        c.range_u32("notifications.retry_initial_seconds", n.retry_initial_seconds, 1, 3_600);
        c.range_u32("notifications.retry_max_seconds", n.retry_max_seconds, 1, 86_400);
        if n.retry_max_seconds < n.retry_initial_seconds {
            c.fail(
                "notifications.retry_max_seconds",
                format!(
                    "must be at least notifications.retry_initial_seconds ({}) (got {})",
                    n.retry_initial_seconds, n.retry_max_seconds
                ),
            );
        }
        c.range_u32("notifications.resolve_timeout_seconds", n.resolve_timeout_seconds, 60, 30 * 86_400);
        c.range_u32("notifications.max_alerts_per_message", n.max_alerts_per_message, 1, 1_000);
        if n.subject_prefix.chars().count() > 60 {
            c.fail("notifications.subject_prefix", "must be at most 60 characters");
        } else if n.subject_prefix.chars().any(char::is_control) {
            c.fail(
                "notifications.subject_prefix",
                format!("'{}' contains control characters", n.subject_prefix.escape_debug()),
            );
        }
        if let Some(url) = &n.ui_base_url
            && !is_http_url(url)
        {
            c.fail("notifications.ui_base_url", format!("'{}' is not an http:// or https:// URL", url.escape_debug()));
        }
        if let Some(from) = &n.mail_from
            && !is_mail_address(from)
        {
            c.fail("notifications.mail_from", format!("'{}' is not a mail address", from.escape_debug()));
        }
        for (i, receiver) in n.receivers.iter().enumerate() {
            let at = format!("notifications.receivers[{i}]");
            if receiver.name.trim().is_empty() {
                c.fail(format!("{at}.name"), "every receiver needs a name");
            } else if n.receivers[..i].iter().any(|r| r.name == receiver.name) {
                c.fail(format!("{at}.name"), format!("'{}' is used by another receiver", receiver.name.escape_debug()));
            }
            if receiver.email.is_empty() && receiver.webhooks.is_empty() {
                c.fail(&at, "give at least one email address or webhook");
            }
            for (j, address) in receiver.email.iter().enumerate() {
                if !is_mail_address(address) {
                    c.fail(format!("{at}.email[{j}]"), format!("'{}' is not a mail address", address.escape_debug()));
                }
            }
            for (j, hook) in receiver.webhooks.iter().enumerate() {
                if !is_http_url(&hook.url) {
                    c.fail(
                        format!("{at}.webhooks[{j}].url"),
                        format!("'{}' is not an http:// or https:// URL", hook.url.escape_debug()),
                    );
                }
                if let Some(name) = &hook.secret_env {
                    if hook.kind != super::WebhookKind::Generic {
                        c.fail(
                            format!("{at}.webhooks[{j}].secret_env"),
                            "only generic webhooks are signed; remove secret_env or use kind \"generic\"",
                        );
                    } else if !is_env_name(name) {
                        c.fail(
                            format!("{at}.webhooks[{j}].secret_env"),
                            format!(
                                "'{}' is not an environment variable name (letters, digits and '_', not starting with a digit)",
                                name.escape_debug()
                            ),
                        );
                    }
                }
            }
        }

        if c.problems.is_empty() { Ok(()) } else { Err(SettingsError { problems: c.problems }) }
    }
}

fn is_env_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && !text.starts_with(|ch: char| ch.is_ascii_digit())
        && text.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn is_http_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && text.len() > "https://".len()
        && !text.chars().any(|ch| ch.is_whitespace() || ch.is_control())
}

/// A plain `local@domain` address; no display names, no whitespace or control characters (those
/// could inject mail headers).
fn is_mail_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|ch| ch.is_whitespace() || ch.is_control() || "<>,;\"()[]\\".contains(ch))
}
