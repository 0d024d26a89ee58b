//! Directory-role members, synced into the KV bucket `<ns>_directory_roles` for the detector's
//! `admin_sign_in` rule.
//!
//! Every `directory_roles_sync_minutes` the collector lists the tenant's activated directory roles
//! (`GET /v1.0/directoryRoles`) and each role's members (`GET /v1.0/directoryRoles/{id}/members`),
//! and writes one document per tenant under the key `<tenant>`:
//!
//! ```json
//! { "version": 1, "tenant": "72f988bf-…", "synced_at": "2026-11-26T09:41:02Z",
//!   "roles": [ { "id": "…", "role_template_id": "62e90394-69f5-4237-9190-012177145e10",
//!                "display_name": "Global Administrator", "member_ids": ["…"] } ],
//!   "members": [ { "id": "…", "type": "user", "user_principal_name": "admin@contoso.com",
//!                  "display_name": "Ada Admin", "roles": ["Global Administrator"],
//!                  "role_template_ids": ["62e90394-69f5-4237-9190-012177145e10"] } ] }
//! ```
//!
//! `members` is the flat list to look sign-ins up in: by `id` (the sign-in's `userId`) or by
//! `user_principal_name` (compare case-insensitively). `type` is `user`, `servicePrincipal`,
//! `group` (a role-assignable group; its members are not expanded) or another Graph type name.
//! Members are sorted by id and roles by display name, so an unchanged directory writes an
//! identical document (apart from `synced_at`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use m365mon_contracts::Settings;
use m365mon_graph::GraphError;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::status::{ErrorReport, LogState};
use crate::tenant::TenantContext;

/// The status name of the sync.
pub const STATUS_NAME: &str = "directory_roles";

/// The document stored per tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryRoles {
    pub version: u32,
    pub tenant: String,
    pub synced_at: DateTime<Utc>,
    pub roles: Vec<Role>,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub role_template_id: Option<String>,
    pub display_name: Option<String>,
    pub member_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    #[serde(rename = "type")]
    pub member_type: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub role_template_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphRole {
    id: String,
    role_template_id: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphMember {
    id: String,
    #[serde(rename = "@odata.type")]
    odata_type: Option<String>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
}

/// Lists the roles and their members.
pub async fn fetch(ctx: &TenantContext) -> Result<DirectoryRoles, GraphError> {
    let mut roles = Vec::new();
    let mut pages = ctx.graph.pages("/v1.0/directoryRoles?$select=id,displayName,roleTemplateId");
    while let Some(page) = pages.next_page().await? {
        for raw in page.records() {
            match serde_json::from_slice::<GraphRole>(&raw) {
                Ok(role) => roles.push(role),
                Err(e) => tracing::warn!(tenant = %ctx.tenant, error = %e, "skipping an unreadable directory role"),
            }
        }
    }
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut out_roles = Vec::with_capacity(roles.len());
    for role in roles {
        if role.id.is_empty() || role.id.contains(['/', '?', '#']) {
            tracing::warn!(tenant = %ctx.tenant, id = %role.id, "skipping a directory role with an unusable id");
            continue;
        }
        let mut member_ids = Vec::new();
        let mut pages = ctx
            .graph
            .pages(format!("/v1.0/directoryRoles/{}/members?$select=id,userPrincipalName,displayName", role.id));
        while let Some(page) = pages.next_page().await? {
            for raw in page.records() {
                let Ok(member) = serde_json::from_slice::<GraphMember>(&raw) else {
                    tracing::warn!(tenant = %ctx.tenant, role = ?role.display_name, "skipping an unreadable role member");
                    continue;
                };
                member_ids.push(member.id.clone());
                let entry = members.entry(member.id.clone()).or_insert_with(|| Member {
                    id: member.id.clone(),
                    member_type: member
                        .odata_type
                        .as_deref()
                        .map(|t| t.trim_start_matches("#microsoft.graph.").to_string())
                        .unwrap_or_else(|| "unknown".to_string()),
                    user_principal_name: member.user_principal_name.clone(),
                    display_name: member.display_name.clone(),
                    roles: Vec::new(),
                    role_template_ids: Vec::new(),
                });
                if let Some(name) = &role.display_name {
                    entry.roles.push(name.clone());
                }
                if let Some(template) = &role.role_template_id {
                    entry.role_template_ids.push(template.clone());
                }
            }
        }
        member_ids.sort();
        member_ids.dedup();
        out_roles.push(Role {
            id: role.id,
            role_template_id: role.role_template_id,
            display_name: role.display_name,
            member_ids,
        });
    }
    out_roles.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
    let mut members: Vec<Member> = members.into_values().collect();
    for m in &mut members {
        m.roles.sort();
        m.roles.dedup();
        m.role_template_ids.sort();
        m.role_template_ids.dedup();
    }
    Ok(DirectoryRoles { version: 1, tenant: ctx.tenant.clone(), synced_at: Utc::now(), roles: out_roles, members })
}

/// Syncs until shutdown.
pub async fn run(
    ctx: Arc<TenantContext>,
    store: kv::Store,
    mut settings: watch::Receiver<Arc<Settings>>,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        let minutes = settings.borrow_and_update().collector.directory_roles_sync_minutes.max(1);
        let interval = Duration::from_secs(u64::from(minutes) * 60);
        let attempt = async {
            let roles = fetch(&ctx).await.map_err(|e| (ErrorReport::from_graph(&e, failures + 1), e.is_retryable()))?;
            let body = serde_json::to_vec(&roles).expect("plain document serialises");
            store
                .put(ctx.tenant.as_str(), Bytes::from(body))
                .await
                .map_err(|e| (ErrorReport::other("bus", true, e.to_string(), failures + 1), true))?;
            Ok::<_, (ErrorReport, bool)>(roles)
        };
        let result = tokio::select! {
            result = attempt => result,
            _ = shutdown.cancelled() => break,
        };
        let wait = match result {
            Ok(roles) => {
                failures = 0;
                tracing::info!(tenant = %ctx.tenant, roles = roles.roles.len(), members = roles.members.len(), "directory roles synced");
                metrics::gauge!("m365mon_collector_directory_role_members", "tenant" => ctx.tenant.clone())
                    .set(roles.members.len() as f64);
                ctx.status.update(&ctx.tenant, STATUS_NAME, |s| {
                    s.state = LogState::Polling;
                    s.last_success = Some(roles.synced_at);
                    s.last_error = None;
                });
                interval
            }
            Err((report, retryable)) => {
                failures += 1;
                tracing::warn!(tenant = %ctx.tenant, error = %report.message, "directory role sync failed");
                ctx.status.update(&ctx.tenant, STATUS_NAME, |s| {
                    s.state = LogState::Error;
                    s.last_error = Some(report);
                });
                if retryable { Duration::from_secs(60).min(interval) } else { interval.max(Duration::from_secs(300)) }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => break,
            changed = settings.changed() => if changed.is_err() { break },
        }
    }
    ctx.status.update(&ctx.tenant, STATUS_NAME, |s| s.state = LogState::Stopped);
}
