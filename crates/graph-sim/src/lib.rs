//! graph-sim: a local stand-in for the Microsoft identity platform and Microsoft Graph, faithful
//! enough that m365-monitor's collector and notifier can be tested (and demonstrated) without a
//! Microsoft 365 tenant.
//!
//! One HTTPS port serves the v2.0 token endpoint (client credentials with a secret or a
//! certificate assertion), Graph (`auditLogs/signIns` v1.0 and beta, `auditLogs/directoryAudits`,
//! `directoryRoles`, `users/{id}/sendMail`) and a control API under `/_sim/`. A second port
//! (optional) is an SMTP server that captures mail. Tenants, their users and their background
//! traffic are deterministic from a seed; attack scenarios add the records detection rules exist
//! for; faults (throttling, 5xx, resets, latency, duplicates, late changes, stale skip tokens)
//! switch on by profile or one by one.
//!
//! In tests:
//!
//! ```no_run
//! use m365mon_graph_sim::{GraphSim, SimConfig, FaultConfig, FaultProfile, ScenarioRequest};
//!
//! let sim = GraphSim::start(SimConfig { faults: FaultConfig::profile(FaultProfile::Harsh), ..SimConfig::default() })?;
//! let tenant = &sim.tenants()[0];
//! let (client_id, secret) = (&tenant.apps[0].client_id, &tenant.apps[0].client_secret);
//! // authority host and Graph: sim.base_url(); trust sim.ca_pem().
//! let spray = sim.inject(&ScenarioRequest::named("password_spray"))?;
//! // ... run the code under test, then compare with spray.sign_in_ids and sim.ledger(0) ...
//! sim.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate's README lists the control API, the fault profiles and what the simulator does not
//! model.

pub mod auth;
pub mod control;
pub mod data;
pub mod faults;
pub mod graph;
pub mod mail;
pub mod odata;
pub mod paging;
pub mod records;
pub mod replay;
pub mod rng;
pub mod roles;
pub mod scenarios;
pub mod server;
pub mod sim;
pub mod smtp;
pub mod store;
pub mod time;
pub mod tls;
pub mod traffic;
pub mod world;

pub use control::LedgerRecord;
pub use faults::{FaultConfig, FaultProfile, Latency};
pub use mail::{CapturedMail, MailTransport};
pub use records::{LogKind, SignInKind};
pub use scenarios::{InjectedScenario, ScenarioRecord, ScenarioRequest};
pub use sim::{AppInfo, GraphSim, SimConfig, SmtpInfo, StartError, StartupInfo, TenantInfo};
pub use smtp::RefusalStage;
