//! What a sign-in's `status.errorCode` means for detection.
//!
//! "Failure" means a credential failure. Interrupts are normal steps of a sign-in (MFA required,
//! "keep me signed in", sign-in frequency, no SSO session …) and never count as failures: counting
//! them is the most common source of false brute-force alerts (research/detections.md §3a, and
//! Sentinel's own tuning history). Codes that say the password was right but something else
//! blocked the sign-in (Conditional Access, device compliance, app assignment) are not credential
//! failures either. Unknown codes are "other": not counted, so new Microsoft codes never flood us.

use serde::{Deserialize, Serialize};

/// The detection meaning of a sign-in result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `errorCode` 0.
    Success,
    /// A normal step of an interactive sign-in (MFA required, KMSI, token lifetime …).
    Interrupt,
    /// Wrong, missing, expired or locked credentials; counted by `failed_logins` and `password_spray`.
    CredentialFailure,
    /// 500121: strong authentication failed (MFA denied, not answered, fraud reported, wrong code).
    MfaFailure,
    /// 50057: the account is disabled.
    AccountDisabled,
    /// Any other error (Conditional Access blocks, app errors, unknown codes).
    OtherFailure,
    /// No status at all.
    Unknown,
}

/// Interrupt codes: the sign-in is in progress or asks for another step.
pub const INTERRUPT_CODES: &[i64] = &[
    16000, // account selection required
    16001, // account selection in progress
    50058, // no SSO session (silent sign-in)
    50072, // MFA enrolment required
    50074, // strong authentication required
    50076, // MFA required (CA, location, per-user)
    50079, // MFA registration required
    50097, // device authentication required
    50125, // password reset / registration interrupt
    50140, // "keep me signed in" interrupt
    50155, // device authentication failed (interrupt for device flow)
    50158, // external security challenge not yet satisfied
    50199, // user confirmation required (CmsiInterrupt)
    70043, // sign-in frequency: token expired by Conditional Access
    70044, // sign-in frequency: session expired by Conditional Access
];

/// Credential failures: the user (or an attacker) presented a wrong, unknown, expired or locked
/// credential.
pub const CREDENTIAL_FAILURE_CODES: &[i64] = &[
    50034, // user account not found (enumeration, spraying made-up names)
    50053, // locked by Smart Lockout, or IP blocked for malicious activity
    50055, // password expired
    50056, // invalid or null password
    50064, // credential authentication error
    50126, // invalid user name or password
    50144, // on-premises password expired
];

/// Strong authentication failed: MFA denied, not answered, fraud reported, wrong code.
pub const MFA_FAILURE_CODE: i64 = 500121;

/// The account is disabled.
pub const ACCOUNT_DISABLED_CODE: i64 = 50057;

/// Smart Lockout.
pub const LOCKOUT_CODE: i64 = 50053;

/// Classifies an `errorCode`.
pub fn classify(error_code: Option<i64>) -> Outcome {
    match error_code {
        None => Outcome::Unknown,
        Some(0) => Outcome::Success,
        Some(MFA_FAILURE_CODE) => Outcome::MfaFailure,
        Some(ACCOUNT_DISABLED_CODE) => Outcome::AccountDisabled,
        Some(code) if CREDENTIAL_FAILURE_CODES.contains(&code) => Outcome::CredentialFailure,
        Some(code) if INTERRUPT_CODES.contains(&code) => Outcome::Interrupt,
        Some(_) => Outcome::OtherFailure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_interrupts_are_never_failures() {
        // Design §3 lists these; none may count as a failure.
        for code in [50074, 50076, 50079, 50072, 50125, 50140, 50097, 50158, 50058, 70043, 70044, 16000, 16001] {
            assert_eq!(classify(Some(code)), Outcome::Interrupt, "{code}");
        }
    }

    #[test]
    fn credential_failures_lockouts_mfa_and_disabled() {
        assert_eq!(classify(Some(50126)), Outcome::CredentialFailure);
        assert_eq!(classify(Some(50053)), Outcome::CredentialFailure);
        assert_eq!(classify(Some(500121)), Outcome::MfaFailure);
        assert_eq!(classify(Some(50057)), Outcome::AccountDisabled);
        assert_eq!(classify(Some(53003)), Outcome::OtherFailure);
        assert_eq!(classify(Some(0)), Outcome::Success);
        assert_eq!(classify(None), Outcome::Unknown);
    }
}
